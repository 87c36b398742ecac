"""A pool of 40 threads all waiting at the same line, and one more elsewhere (issue 17 #11:
many threads, the same few places); on Python 3, four more at the pool's line whose names
are stored in each of str's layouts (latin-1, UCS-2, UCS-4) or run over 200 characters, one
of them with a real __dict__.  Prints "extras [NAMES as JSON]", "ready", then "tick N" every
half second.  Python 2.7 and 3.x.
"""

import json
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
EXTRAS = [] if sys.version_info[0] == 2 else ["caf\xe9", "\u5de5\u4f5c", "smile-\U0001f600", "long-" + "x" * 300]
for name in EXTRAS:
    t = threading.Thread(target=idle, name=name)
    t.daemon = True
    if name == "caf\xe9":
        vars(t)  # 3.11+: a real __dict__ for this one, inline values for the others
    t.start()
t = threading.Thread(target=other, name="other")
t.daemon = True
t.start()
for _ in range(POOL + len(EXTRAS) + 1):
    started.acquire()
print("extras %s" % json.dumps(EXTRAS))
print("ready")
sys.stdout.flush()
ticks = 0
while True:
    time.sleep(0.5)
    ticks += 1
    print("tick %d" % ticks)
    sys.stdout.flush()
