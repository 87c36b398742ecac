"""A service whose cache of parsed requests grows: the blocks are allocated inside the
standard library's json decoder, called from handle() (issue 14: a library line on top,
the application's line nowhere).  Prints "ready", then "tick N" every half second.  Python 3.
"""

import json
import sys
import time

CACHE = []
BODY = json.dumps({"user": "someone", "items": list(range(20)), "tags": ["a", "b", "c"]})


def handle(body):
    CACHE.append(json.loads(body))  # the application's line


print("ready")
sys.stdout.flush()
ticks = 0
last = time.monotonic()
while True:
    handle(BODY)
    time.sleep(0.0005)
    if time.monotonic() - last >= 0.5:
        last = time.monotonic()
        ticks += 1
        print("tick %d" % ticks)
        sys.stdout.flush()
