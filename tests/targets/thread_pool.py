"""A pool of 40 threads all waiting at the same line, and one more elsewhere (issue 17 #11:
many threads, the same few places).  Prints "ready", then "tick N" every half second.
Python 2.7 and 3.x.
"""

import sys
import threading
import time

POOL = 40
started = threading.Semaphore(0)
never = threading.Event()


def idle():
    started.release()
    never.wait()  # the pool waits here


def other():
    started.release()
    while True:
        time.sleep(0.05)  # the odd one out


for i in range(POOL):
    t = threading.Thread(target=idle, name="pool-%d" % i)
    t.daemon = True
    t.start()
t = threading.Thread(target=other, name="other")
t.daemon = True
t.start()
for _ in range(POOL + 1):
    started.acquire()
print("ready")
sys.stdout.flush()
ticks = 0
while True:
    time.sleep(0.5)
    ticks += 1
    print("tick %d" % ticks)
    sys.stdout.flush()
