"""The seed's case 1 in its original shape, for Python 2.7.

    python2.7 seed_cycles_py2.py PAIRS

The collector is on.  Each call of main() makes a pair of ObjectA <-> ObjectB
holding each other, and both classes define __del__: on Python 2.7 the
collector cannot tell which finalizer to run first, so it leaves such cycles
alone and appends them to gc.garbage ("uncollectable").  gc.collect() runs
after every batch, as in the seed, so the pairs pile up in gc.garbage.

Prints "ready" once PAIRS pairs are in gc.garbage, then keeps leaking slowly
and prints a heartbeat line ("tick N" and the gc settings) every half second.
(Runs on Python 3 too, where the pairs are collected and nothing leaks.)
"""

import gc
import sys
import time


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
    return "gc=%s debug=%d threshold=%s garbage=%d callbacks=%d" % (
        "on" if gc.isenabled() else "off", gc.get_debug(), ",".join(map(str, gc.get_threshold())),
        len(gc.garbage), len(getattr(gc, "callbacks", ())))


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    gc.enable()
    for _ in range(pairs):
        main()
    gc.collect()
    say("ready")
    ticks = 0
    last = time.time()
    while True:
        for _ in range(10):
            main()
        gc.collect()
        time.sleep(0.01)
        if time.time() - last >= 0.5:
            ticks += 1
            last = time.time()
            say("tick %d %s" % (ticks, gc_state()))
