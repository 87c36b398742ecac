"""The seed's case 1: pairs of objects in reference cycles pile up.  Python 2.7 and 3.x.

    python seed_cycles.py [PAIRS]

Each call of main() makes an ObjectA and an ObjectB holding each other; both
classes define __del__.  On Python 2.7 this is the seed's own shape: the
collector is on, gc.collect() runs after every batch, and it cannot tell which
finalizer to run first, so the pairs are uncollectable and pile up in
gc.garbage.  On Python 3 (PEP 442) such cycles are collected, so the leak here
is the collector being switched off, as services sometimes do for latency.

Prints "ready" once PAIRS pairs exist, then keeps leaking slowly and prints a
heartbeat line ("tick N" and the gc settings) every half second.
"""

import gc
import os
import sys
import time

PY2 = sys.version_info[0] == 2


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


def gc_state():
    """The collector's settings, so a watcher can see that nothing changed them."""
    return "gc=%s debug=%d threshold=%s garbage=%d callbacks=%d" % (
        "on" if gc.isenabled() else "off", gc.get_debug(), ",".join(map(str, gc.get_threshold())),
        len(gc.garbage), len(getattr(gc, "callbacks", ())))


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def leak(pairs):
    """PAIRS more pairs; on 2.7 a collection moves them into gc.garbage, as in the seed."""
    for _ in range(pairs):
        main()
    if PY2:
        gc.collect()


if __name__ == "__main__":
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    if PY2:
        gc.enable()
    elif os.environ.get("GC_RARE") == "1":  # the tests: on, with a threshold it never reaches
        gc.set_threshold(1 << 30)
    else:
        gc.disable()
    leak(pairs)
    say("ready")
    ticks = 0
    last = time.time()
    while True:
        leak(10 if PY2 else 1)
        time.sleep(0.01 if PY2 else 0.0001)
        if time.time() - last >= 0.5:
            ticks += 1
            last = time.time()
            say("tick %d %s" % (ticks, gc_state()))
