"""Big objects inside subclasses of list, tuple and dict, whose own methods count their calls.
Python 3.

BIGL, a list subclass holding a 5 MB bytearray at [2]; DD, a defaultdict subclass whose "k"
holds a list with a 4 MB bytearray; TT, a tuple subclass holding a 3 MB bytearray at [1].
Their __iter__, __getitem__ and items() are the target's code: py-heap must name the paths
without calling them.  Prints "ready", then "tick N ran=R" every half second, R being the calls
of those methods so far.
"""

import collections
import sys
import time

RAN = [0]


class L(list):
    def __iter__(self):
        RAN[0] += 1
        return list.__iter__(self)

    def __getitem__(self, i):
        RAN[0] += 1
        return list.__getitem__(self, i)


class D(collections.defaultdict):
    def items(self):
        RAN[0] += 1
        return collections.defaultdict.items(self)

    def __iter__(self):
        RAN[0] += 1
        return collections.defaultdict.__iter__(self)


class T(tuple):
    def __iter__(self):
        RAN[0] += 1
        return tuple.__iter__(self)


BIGL = L([1, 2, bytearray(5 << 20)])
DD = D(list)
DD["k"].append(bytearray(4 << 20))
TT = T((0, bytearray(3 << 20)))

sys.stdout.write("ready\n")
sys.stdout.flush()
ticks = 0
while True:
    time.sleep(0.5)
    ticks += 1
    sys.stdout.write("tick %d ran=%d\n" % (ticks, RAN[0]))
    sys.stdout.flush()
