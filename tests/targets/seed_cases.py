"""Both of the seed's cases in one process, for Python 2.7 and 3.x alike.

    python seed_cases.py MEGABYTES PAIRS

Case 2: seed_string's module-level str, `_pure_string`, grows to MEGABYTES MB and keeps
growing.  Case 1: PAIRS pairs of ObjectA <-> ObjectB from examples/seed_cycles.py,
each pair a reference cycle whose objects define __del__: on 2.7 the collector
is on and they end in gc.garbage (the seed's shape); on 3.x the collector is off
(with GC_RARE=1: on, with a threshold it never reaches, so py-cycles --graph may
import objgraph, docs/safety.md row 8f).

Prints "ready" once both are set up, then a heartbeat line ("tick N LENGTH"
and the gc settings) every half second; the main loop runs Python, so safe
points come on every version (on 2.7 an idle main thread is not woken).
"""

import gc
import os
import sys

sys.path.insert(0, os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")))
import seed_string  # noqa: E402
from seed_cycles import PY2, leak, say  # noqa: E402

if __name__ == "__main__":
    megabytes = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    pairs = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    if PY2:
        gc.enable()
    elif os.environ.get("GC_RARE") == "1":
        gc.set_threshold(1 << 30)
    else:
        gc.disable()
    leak(pairs)
    seed_string.grow_to(megabytes)
    say("ready")
    # SEED_HOLD=1: the str stops growing, for tests that compare two readings taken a second apart
    seed_string.keep_growing("" if os.environ.get("SEED_HOLD") == "1" else seed_string.CHUNK)
