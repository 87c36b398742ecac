"""A small steady target for environment tests: a growing module-level list,
optionally a second libpython loaded with ctypes (argv[1]), and a heartbeat that
says whether guppy or objgraph were ever imported into it.  With HEARTBEAT_CYCLES=1
in the environment, 100 self-referencing lists stay as cyclic garbage (gc off).  With
CATCH_SIGURG=1, a SIGURG handler that says when it runs."""

import os
import sys
import time

if os.environ.get("HEARTBEAT_CYCLES"):
    import gc

    # Cyclic garbage that stays (the collector is off), for py-cycles to find and draw.
    gc.disable()
    for _ in range(100):
        _ring = []
        _ring.append(_ring)
    del _ring

if os.environ.get("CATCH_SIGURG"):
    import signal

    # A handler gdb-memleak must never trigger: it then stops threads with SIGWINCH.
    signal.signal(signal.SIGURG, lambda signum, frame: print("SIGURG handled", flush=True))

if len(sys.argv) > 1 and sys.argv[1]:
    import ctypes

    # A second copy of the CPython runtime in the process, never initialised.
    _second_runtime = ctypes.CDLL(sys.argv[1])

_kept = []
print("ready", flush=True)
ticks = 0
last = time.time()
while True:
    _kept.append("%d %s" % (ticks, "x" * 100))  # a new str each time
    if len(_kept) > 20000:
        del _kept[:10000]
    time.sleep(0.001)
    if time.time() - last >= 0.5:
        ticks += 1
        last = time.time()
        print("tick %d guppy=%s objgraph=%s" % (ticks, "guppy" in sys.modules, "objgraph" in sys.modules), flush=True)
