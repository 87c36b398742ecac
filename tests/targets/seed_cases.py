"""Both of the seed's cases in one process, for Python 2.7 and 3.x alike.

    python seed_cases.py MEGABYTES PAIRS

Case 2: a module-level str, `_pure_string`, grows to MEGABYTES MB and keeps
growing.  Case 1: PAIRS pairs of ObjectA <-> ObjectB from examples/seed_cycles.py,
each pair a reference cycle whose objects define __del__: on 2.7 the collector
is on and they end in gc.garbage (the seed's shape); on 3.x the collector is off.

Prints "ready" once both are set up, then a heartbeat line ("tick N LENGTH"
and the gc settings) every half second; the main loop runs Python, so safe
points come on every version (on 2.7 an idle main thread is not woken).
"""

import gc
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples"))
from seed_cycles import PY2, gc_state, leak, say  # noqa: E402
from seed_string import CHUNK  # noqa: E402

_pure_string = ""

if __name__ == "__main__":
    megabytes = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    pairs = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    if PY2:
        gc.enable()
    else:
        gc.disable()
    leak(pairs)
    while len(_pure_string) < megabytes * 1e6:
        _pure_string += CHUNK * 100
    say("ready")
    ticks = 0
    last = time.time()
    while True:
        _pure_string += CHUNK
        time.sleep(0.001)
        if time.time() - last >= 0.5:
            ticks += 1
            last = time.time()
            say("tick %d %d %s" % (ticks, len(_pure_string), gc_state()))
