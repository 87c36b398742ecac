"""A service that switched its collector off, with two kinds of cycles piling up.  Python 3.

    python gc_off_closures.py [PAIRS]

PAIRS pairs of Node objects holding each other, PAIRS closures that refer to
themselves (a function whose cell holds the function) and PAIRS closures whose cell holds a
dict that holds the function (a ring of four), made with the collector off, so they stay.
With GC_RARE=1 the collector is on, with a threshold it never reaches: they stay all the same,
and py-cycles --graph may import objgraph (docs/safety.md row 8f).  Prints "ready", then "tick N modules=M keys=K gc=off" every half second: M is
len(sys.modules), K a checksum of its sorted keys (a tool must leave both as they were).
"""

import gc
import os
import sys
import time
import zlib

if os.environ.get("GC_RARE") == "1":
    gc.set_threshold(1 << 30)
else:
    gc.disable()


class Node(object):
    pass


def pair():
    a = Node()
    b = Node()
    a.peer = b
    b.peer = a


def closure():
    def again():
        return again
    return again


def boxed():
    box = {}

    def get():
        return box
    box["get"] = get
    return get


def modules():
    names = sorted(k for k in list(sys.modules) if isinstance(k, str))
    return "modules=%d keys=%08x" % (len(names), zlib.crc32(" ".join(names).encode()))


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    for _ in range(count):
        pair()
        closure()
        boxed()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    ticks = 0
    while True:
        time.sleep(0.5)
        ticks += 1
        sys.stdout.write("tick %d %s gc=%s\n" % (ticks, modules(), "on" if gc.isenabled() else "off"))
        sys.stdout.flush()
