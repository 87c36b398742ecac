"""A target whose audit hook refuses the audit events named in argv[1] (comma-separated),
then a heartbeat.  Prints "ready", then "tick N" every 0.2 s.  Python 3.8+.
With argv[2] "off-main", only in threads other than the main thread; with SIGTERM_EXIT=1,
SIGTERM prints "terminating" and exits with status 7.
"""

import os
import signal
import sys
import threading
import time

REFUSED = set(sys.argv[1].split(","))
OFF_MAIN = sys.argv[2:] == ["off-main"]
MAIN = threading.main_thread()


def hook(event, args):
    if event in REFUSED and not (OFF_MAIN and threading.current_thread() is MAIN):
        raise RuntimeError("this service refuses %s" % event)


def terminate(signum, frame):
    print("terminating", flush=True)
    sys.exit(7)


if os.environ.get("SIGTERM_EXIT"):
    signal.signal(signal.SIGTERM, terminate)
sys.addaudithook(hook)
print("ready")
sys.stdout.flush()
ticks = 0
while True:
    time.sleep(0.2)
    ticks += 1
    print("tick %d" % ticks)
    sys.stdout.flush()
