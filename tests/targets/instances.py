"""Instances in the shapes CPython 3.11-3.13 keep their attributes in, with a heartbeat.  Python 3.

5000 `A` (two attributes, no __dict__ made: the values alone), 3000 `B` (one attribute, its
__dict__ made), 1000 `C` (a dict subclass).  Prints "ready", then "tick K" every half second.
"""

import time


class A:
    def __init__(self, i):
        self.a = i * 1000003
        self.b = "name-%d" % i


class B:
    pass


class C(dict):
    pass


objs = [A(i) for i in range(5000)]
bs = []
for i in range(3000):
    b = B()
    b.x = i * 1000003
    b.__dict__  # noqa: B018  (made, and kept by the instance)
    bs.append(b)
cs = [C(k=i) for i in range(1000)]
print("ready", flush=True)
ticks = 0
while True:
    time.sleep(0.5)
    ticks += 1
    print("tick %d" % ticks, flush=True)
