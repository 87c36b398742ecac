"""A main thread that waits in short system calls while an interval timer's handler runs every 10 ms.

    python timer_signals.py sleep|lock|select

Each wait is interrupted by SIGALRM again and again; CPython retries it (PEP 475) after running
the handler.  Every 25 waits: "tick N alarms=A".  A wait that raises or aborts ends the process.
"""

import os
import select
import signal
import sys
import threading
import time

KIND = sys.argv[1]
alarms = [0]


def on_alarm(signum, frame):
    alarms[0] += 1


signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
held = threading.Lock()
held.acquire()
r, w = os.pipe()
print("ready")
sys.stdout.flush()
n = 0
while True:
    if KIND == "sleep":
        time.sleep(0.02)
    elif KIND == "lock":
        held.acquire(timeout=0.02)
    else:
        select.select([r], [], [], 0.02)
    n += 1
    if n % 25 == 0:
        print("tick %d alarms=%d" % (n // 25, alarms[0]))
        sys.stdout.flush()
