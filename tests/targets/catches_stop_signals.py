"""A target that catches both SIGURG and SIGWINCH (the signals gdb-memleak stops threads with),
counting them.  Python 3.  Prints "ready", then "tick N caught=C" every half second."""

import signal
import sys
import time

CAUGHT = [0]
DATA = [{"n": i} for i in range(20000)]


def count(signum, frame):
    CAUGHT[0] += 1


signal.signal(signal.SIGURG, count)
signal.signal(signal.SIGWINCH, count)
sys.stdout.write("ready\n")
sys.stdout.flush()
ticks = 0
while True:
    time.sleep(0.5)
    ticks += 1
    sys.stdout.write("tick %d caught=%d\n" % (ticks, CAUGHT[0]))
    sys.stdout.flush()
