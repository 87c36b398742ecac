"""Both of the seed's cases in one process, for Python 2.7 and 3.x alike.

    python seed_cases.py MEGABYTES PAIRS

Case 2: a module-level str, `_pure_string`, grows to MEGABYTES MB and keeps
growing.  Case 1: PAIRS pairs of ObjectA <-> ObjectB, each pair a reference
cycle whose objects define __del__.  On Python 2.7 this is the seed's own
shape: the collector is on and gc.collect() runs, and such cycles are
uncollectable there, so they end in gc.garbage.  On Python 3 (PEP 442) they
would be collected, so the collector is switched off instead, as in the port
examples/seed_cycles.py.

Prints "ready" once both are set up, then a heartbeat line
("tick N LENGTH" and the gc settings) every half second; the main loop runs
Python, so safe points come on every version (on 2.7 an idle main thread is
not woken).
"""

import gc
import sys
import time

PY2 = sys.version_info[0] == 2
_pure_string = ""
CHUNK = "qwertyuioplkmsjafdkhjkhsdfajkjsalkdfjslkfjklsasl" * 20


class ObjectA(object):
    def __del__(self):
        pass


class ObjectB(object):
    def __del__(self):
        pass


def main():
    obj_a = ObjectA()
    obj_b = ObjectB()
    # The cycle: each holds the other.
    obj_a.__attr = obj_b
    obj_b.__attr = obj_a


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def gc_state():
    """The collector's settings, so a watcher can see that nothing changed them."""
    return "gc=%s debug=%d threshold=%s garbage=%d callbacks=%d" % (
        "on" if gc.isenabled() else "off", gc.get_debug(), ",".join(map(str, gc.get_threshold())),
        len(gc.garbage), len(getattr(gc, "callbacks", ())))


if __name__ == "__main__":
    megabytes = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    pairs = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    if PY2:
        gc.enable()
    else:
        gc.disable()
    for _ in range(pairs):
        main()
    if PY2:
        gc.collect()  # the pairs are uncollectable: they move to gc.garbage
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
