"""A service whose worker thread keeps adding entries to a module-level cache: the leak.

Prints "ready", then every half second "tick N entries=E tracing=on|off", where
tracing says whether CPython's allocation tracing is on (it must be off again
after py-memtop --watch).  Each entry is a 4 KiB bytearray, so the growing kind
is unmistakable.
"""

import _tracemalloc
import threading
import time

CACHE = {}


def add_entries():
    i = 0
    while True:
        for _ in range(20):
            CACHE["key-%d" % i] = bytearray(4096)
            i += 1
        time.sleep(0.02)


def heartbeat():
    ticks = 0
    while True:
        time.sleep(0.5)
        ticks += 1
        print("tick %d entries=%d tracing=%s" % (ticks, len(CACHE), "on" if _tracemalloc.is_tracing() else "off"), flush=True)


threading.Thread(target=add_entries, daemon=True).start()
threading.Thread(target=heartbeat, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
