"""A global list of 20,000 tuples that a thread makes anew every 10 ms, dropping the last one: what a
walk of the heap still holds of an old list is let go of meanwhile, not cyclic garbage.  The target
makes no cyclic garbage of its own.  Python 3."""
import sys
import threading
import time

ITEMS = []


def rebind():
    global ITEMS
    while True:
        ITEMS = [(i, "v%d" % i) for i in range(20000)]
        time.sleep(0.01)


threading.Thread(target=rebind, daemon=True).start()
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    time.sleep(1)
