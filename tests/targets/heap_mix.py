"""The benchmark's mix (benchmarks/heap_target.py: N records of a dict, a str, an int and a slotted
Point holding two ints; four 4 MB strs), kept by a module global, with a heartbeat.  Python 3.

    python heap_mix.py N

Prints "ready" once built, then "tick K" every half second.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks"))
import heap_target  # noqa: E402

DATA = heap_target.build(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
print("ready", flush=True)
ticks = 0
while True:
    time.sleep(0.5)
    ticks += 1
    print("tick %d" % ticks, flush=True)
