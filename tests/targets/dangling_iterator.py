# A thread iterating threading._dangling nonstop, giving the GIL away at each item (as test
# helpers that look for stray threads do), and counting the "Set changed size during iteration"
# errors it gets.  Three idle threads keep the set from being empty.  Each tick: the errors,
# the passes made, and the set's size (gdb-memleak's fork guard goes in and out of it).
import sys
import threading
import time

errors = [0]
passes = [0]
stop = threading.Event()
for _ in range(3):
    threading.Thread(target=stop.wait, daemon=True).start()


def iterate():
    while True:
        try:
            for _thread in threading._dangling:
                time.sleep(0)
        except RuntimeError:
            errors[0] += 1
        passes[0] += 1


threading.Thread(target=iterate, daemon=True).start()
print("ready")
sys.stdout.flush()
n = 0
while True:
    n += 1
    time.sleep(0.2)
    print("tick %d errors=%d passes=%d dangling=%d" % (n, errors[0], passes[0], len(threading._dangling.data)))
    sys.stdout.flush()
