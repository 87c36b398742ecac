"""A service for the --watch tests (issue 17 #9): tracing left on by a gdb that died.

A worker thread allocates steadily, as a service handling requests does: dicts and
lists that die young, now and then a batch of them in a reference cycle (so the
cyclic collector runs a few times a second), and a small cache of bytearrays that
grows and is reset.  The target has a gc callback of its own, which must keep
being called for every phase.  It prints "ready", then every 0.2 s

    tick N t=T tracing=on|off record=D|none switches=K callbacks=C own=S/P gcs=G

t: time.monotonic(); tracing: _tracemalloc.is_tracing(); record: the deadline
gdb-memleak recorded in sys._gdb_memleak_tracing (none without it); switches:
gdb-memleak's callbacks in gc.callbacks; callbacks: len(gc.callbacks); own: the
"start" and "stop" calls of the target's own callback; gcs: collections so far.
With WATCH_OWN_TRACING=1, the target traces its own allocations from the start.
With WATCH_COLLECTOR=1, a third thread collects nonstop and the GIL changes hands at
every chance (sys.setswitchinterval(1e-6)): a collection, and so gdb-memleak's switch,
may run between any two lines of a payload.  With WATCH_NO_GC=1, automatic collections are
off from the start: the switch is never called by a collection.
"""

import _tracemalloc
import gc
import os
import sys
import threading
import time

if os.environ.get("WATCH_OWN_TRACING"):
    _tracemalloc.start(5)
if os.environ.get("WATCH_NO_GC"):
    gc.disable()

OWN = {"start": 0, "stop": 0}


def own_callback(phase, info):
    OWN[phase] += 1


gc.callbacks.append(own_callback)
CACHE = []


def work():
    rounds = 0
    while True:
        batch = [{"i": i, "l": [i]} for i in range(200)]
        rounds += 1
        if rounds % 10 == 0:
            batch.append(batch)  # cyclic garbage: only the collector frees it
        CACHE.append(bytearray(512))
        if len(CACHE) > 20000:
            del CACHE[:]
        del batch
        time.sleep(0.005)


def heartbeat():
    ticks = 0
    while True:
        time.sleep(0.2)
        ticks += 1
        record = getattr(sys, "_gdb_memleak_tracing", None)
        switches = [cb for cb in gc.callbacks if getattr(cb, "__name__", "") == "_gdb_memleak_watch_switch"]
        print("tick %d t=%.3f tracing=%s record=%s switches=%d callbacks=%d own=%d/%d gcs=%d" % (
            ticks, time.monotonic(), "on" if _tracemalloc.is_tracing() else "off",
            "%.3f" % record["deadline"] if isinstance(record, dict) else "none", len(switches), len(gc.callbacks),
            OWN["start"], OWN["stop"], sum(s["collections"] for s in gc.get_stats())), flush=True)


def collector():
    while True:
        gc.collect(0)


threading.Thread(target=work, daemon=True).start()
if os.environ.get("WATCH_COLLECTOR"):
    sys.setswitchinterval(1e-6)
    threading.Thread(target=collector, daemon=True).start()
threading.Thread(target=heartbeat, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
