"""A target for the container tests: run by another distribution's interpreter, in its root.

It holds 20000 bytearrays of 1000 bytes in a module-level list (the largest kind
on its heap by far) and 50 pairs of objects in reference cycles that stay (the
collector is off), prints "ready", then a heartbeat line every half second.
With GC_RARE=1 the collector is on, with a threshold it never reaches: the pairs stay
all the same, and py-cycles --graph may import objgraph (docs/safety.md row 8f).  With the
argument `busy`, the main thread computes between its ticks instead of sleeping."""

import gc
import os
import sys
import time


class Pair:
    pass


held = [bytearray(1000) for _ in range(20000)]
gc.disable()
for _ in range(50):
    a, b = Pair(), Pair()
    a.other, b.other = b, a
del a, b
if os.environ.get("GC_RARE") == "1":
    gc.set_threshold(1 << 30)
    gc.enable()
print("ready", flush=True)
ticks = 0
busy = sys.argv[1:] == ["busy"]
while True:
    if busy:  # the main thread runs Python all the time, and never waits: no thread does
        until = time.monotonic() + 0.5
        while time.monotonic() < until:
            str(sum(range(100)))
    else:
        time.sleep(0.5)  # the main thread waits here
    ticks += 1
    print("tick %d python=%d.%d held=%d" % (ticks, sys.version_info[0], sys.version_info[1], len(held)), flush=True)
