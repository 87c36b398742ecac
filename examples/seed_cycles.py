"""The seed's case 1 ported to Python 3: pairs of objects in reference cycles pile up.

On Python 3 (PEP 442) cycles whose objects define __del__ are collected, so
the leak here is the collector being switched off, as services sometimes do
for latency.  Prints "ready" once PAIRS pairs exist, then keeps leaking slowly
and prints a heartbeat line ("tick N" and the gc settings) every half second.
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
    """The collector's settings, so a watcher can see that nothing changed them."""
    return "gc=%s debug=%d threshold=%s garbage=%d callbacks=%d" % (
        "on" if gc.isenabled() else "off", gc.get_debug(), ",".join(map(str, gc.get_threshold())),
        len(gc.garbage), len(gc.callbacks))

if __name__ == "__main__":
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    gc.disable()
    for _ in range(pairs):
        main()
    print("ready", flush=True)
    ticks = 0
    last = time.time()
    while True:
        main()
        time.sleep(0.0001)
        if time.time() - last >= 0.5:
            ticks += 1
            last = time.time()
            print("tick %d %s" % (ticks, gc_state()), flush=True)
