"""A service that traces its own allocations with tracemalloc (started before any gdb),
keeps some data, and prints "tick N tracing=BOOL" every half second.  Python 3.4+.
"""

import sys
import time
import tracemalloc

tracemalloc.start(4)
records = [{"id": i, "name": "record %d" % i} for i in range(20000)]
print("ready")
sys.stdout.flush()
ticks = 0
while True:
    time.sleep(0.5)
    ticks += 1
    print("tick %d tracing=%s" % (ticks, tracemalloc.is_tracing()))
    sys.stdout.flush()
