"""Cyclic garbage with finalizers, made all the time by one worker thread; the main thread only sleeps.

    python young_cycles.py [nogc]

gc's first threshold is 50, so a collection is due after any 50 new containers.  Every
collection (a gc callback) and every finalizer records the thread it ran in: the worker, or
any other.  The main thread's loop makes no container, so it never starts a collection of its
own; nor does anything but the worker.  A collection or a finalizer run anywhere else ran
because of someone else's code: a payload's.  Every 0.3 s the worker prints
"tick N collections=C finalizers=F other_collections=OC other_finalizers=OF gc=BOOL guards=G alive=A modules=M",
G being gdb-memleak's fork guards left in threading._dangling, A those alive anywhere, M the
module objects alive that are not such guards, then " gc_modules=K": the module objects named gc.

With "nogc" the target never imports gc, as most services never do (gunicorn's and uvicorn's
workers, the standard library's servers): its thresholds stay the interpreter's, no callback
counts collections (collections=0), and gc=, alive=, modules= and gc_modules= are read through the
gc module only once something else imported it (gc=unknown, and 0s before).
"""

import sys
import threading
import time
import types

NO_GC = sys.argv[1:] == ["nogc"]
if not NO_GC:
    import gc
try:
    from thread import get_ident  # Python 2.7
except ImportError:
    from threading import get_ident

WORKER = []
counts = {"collections": 0, "finalizers": 0, "other_collections": 0, "other_finalizers": 0}


def where():
    return "" if get_ident() in WORKER else "other_"


def on_collection(phase, info):
    if phase == "start":
        counts[where() + "collections"] += 1


class Node(object):
    def __init__(self):
        self.other = None

    def __del__(self):
        counts[where() + "finalizers"] += 1


def work():
    WORKER.append(get_ident())
    n, last = 0, time.time()
    while True:
        for _ in range(20):
            a, b = Node(), Node()
            a.other, b.other = b, a  # a cycle: only a collection frees it
        time.sleep(0.002)
        if time.time() - last >= 0.3:
            n, last = n + 1, time.time()
            guards = [t for t in list(threading._dangling) if getattr(t, "__name__", "") == "gdb-memleak fork guard"]
            collector = sys.modules.get("gc")
            modules = [o for o in collector.get_objects() if type(o) is types.ModuleType] if collector else []
            alive = [o for o in modules if o.__name__ == "gdb-memleak fork guard"]
            gc_modules = [o for o in modules if o.__name__ == "gc"]
            print("tick %d collections=%d finalizers=%d other_collections=%d other_finalizers=%d gc=%s guards=%d alive=%d modules=%d"
                  " gc_modules=%d" % (
                      n, counts["collections"], counts["finalizers"], counts["other_collections"],
                      counts["other_finalizers"], collector.isenabled() if collector else "unknown", len(guards), len(alive),
                      len(modules) - len(alive), len(gc_modules)))
            del gc_modules[:]
            del alive[:], modules[:]
            sys.stdout.flush()


if not NO_GC:
    gc.callbacks.append(on_collection)
    gc.set_threshold(50, 5, 5)
worker = threading.Thread(target=work)
worker.daemon = True
worker.start()
print("ready")
sys.stdout.flush()
while True:
    time.sleep(0.5)
