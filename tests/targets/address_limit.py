"""A service under an address-space limit of its own.  Python 3.

    address_limit.py ROOM_MB [churn]

Builds its data, then sets its soft RLIMIT_AS to VmSize + ROOM_MB (with LIMIT=data in the
environment: RLIMIT_DATA to VmData + ROOM_MB).  With "churn", a thread started before the
limit (its glibc arena already made) allocates and frees 25 MB every 50 ms, as in the
user's trial of 2026-12-05, and counts the MemoryErrors it gets.  Prints "ready", then
"tick N ok=B errors=E modules=M" every half second: B whether its data checks out, E the
churn thread's MemoryErrors, M len(sys.modules) (a refused command leaves all three as they were).
"""

import os
import re
import resource
import sys
import threading
import time

ERRORS = [0]
GO = threading.Event()


def status(key):
    with open("/proc/self/status") as f:
        return int(re.search(r"^%s:\s+(\d+) kB" % key, f.read(), re.M).group(1)) * 1024


def churn():
    bytearray(1 << 16)  # its arena, before the limit
    GO.wait()
    while True:
        try:
            block = bytearray(25 << 20)
            del block
        except MemoryError:
            ERRORS[0] += 1
        time.sleep(0.05)


if __name__ == "__main__":
    room = int(sys.argv[1]) << 20
    records = [{"id": i, "name": "record %d" % i, "tags": ["a", "b"]} for i in range(20000)]
    if "churn" in sys.argv[2:]:
        threading.Thread(target=churn, daemon=True).start()
        time.sleep(0.2)
    data = os.environ.get("LIMIT") == "data"
    which, used = (resource.RLIMIT_DATA, "VmData") if data else (resource.RLIMIT_AS, "VmSize")
    resource.setrlimit(which, (status(used) + room, resource.getrlimit(which)[1]))
    GO.set()
    print("ready", flush=True)
    ticks = 0
    while True:
        time.sleep(0.5)
        ticks += 1
        ok = len(records) == 20000 and records[-1]["name"] == "record 19999"
        print("tick %d ok=%s errors=%d modules=%d" % (ticks, ok, ERRORS[0], len(sys.modules)), flush=True)
