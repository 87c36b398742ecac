"""Cyclic garbage with data hanging off it, and a class that only its instances keep.  Python 3.

    python data_garbage.py [N]

With the collector off, makes N of each, dropped at once:
  - a pair of Holder objects holding each other, each holding a list of 10 dicts of a str and
    a Spot (a slotted instance holding two ints): data no cycle passes through, which py-cycles
    keeps out of its maps while it looks for what is unreachable, and must still count with
    the garbage;
  - a class made at run time whose attribute `items` lists 3 of its instances (class <->
    instances, through a list that holds only instances);
and keeps 5 instances of a class made at run time that nothing else holds (reachable only
through those instances: never garbage).  Then a forked child turns on gc.DEBUG_SAVEALL and
collects, and the parent prints what that found: "unreachable U" (the number of objects),
then "ready", then "tick N" every half second.
"""

import gc
import os
import sys
import time

gc.disable()


class Holder(object):
    pass


class Spot(object):
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y


def pair():
    a = Holder()
    b = Holder()
    a.peer = b
    b.peer = a
    a.rows = [{"name": "row-%d" % i, "at": Spot(i, -i)} for i in range(10)]
    b.rows = [{"name": "row-%d" % i, "at": Spot(i, -i)} for i in range(10)]


def registry():
    kind = type("Registry", (object,), {})
    kind.items = [kind() for _ in range(3)]


def kept_by_instances():
    kind = type("KeptByInstances", (object,), {})
    return [kind() for _ in range(5)]


def unreachable_now():
    """What a full collection would find unreachable, counted in a forked child."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        gc.set_debug(gc.DEBUG_SAVEALL)
        os.write(w, str(gc.collect()).encode())
        os._exit(0)
    os.close(w)
    found = int(os.read(r, 64))
    os.close(r)
    os.waitpid(pid, 0)
    return found


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    for _ in range(count):
        pair()
        registry()
    LIVE = kept_by_instances()
    sys.stdout.write("unreachable %d\n" % unreachable_now())
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    ticks = 0
    while True:
        time.sleep(0.5)
        ticks += 1
        sys.stdout.write("tick %d live=%d\n" % (ticks, len(LIVE)))
        sys.stdout.flush()
