"""A target whose audit hook refuses the audit events named in argv[1] (comma-separated),
then a heartbeat.  Prints "ready", then "tick N" every 0.2 s.  Python 3.8+.
"""

import sys
import time

REFUSED = set(sys.argv[1].split(","))


def hook(event, args):
    if event in REFUSED:
        raise RuntimeError("this service refuses %s" % event)


sys.addaudithook(hook)
print("ready")
sys.stdout.flush()
ticks = 0
while True:
    time.sleep(0.2)
    ticks += 1
    print("tick %d" % ticks)
    sys.stdout.flush()
