"""One thread, running Python without pause: no thread waits anywhere, so a command's safe point
is a pending call, queued from that thread.  Every half second it prints "tick N ok=BOOL", ok
saying that its records still match their checksum.  Python 2.7 and 3."""
import sys
import time
import zlib


class Record(object):
    def __init__(self, i):
        self.name = "record-%d" % i
        self.values = [i, i * 2, i * 3]


RECORDS = [Record(i) for i in range(20000)]


def checksum(records):
    return zlib.crc32(repr([(r.name, r.values) for r in records]).encode())


EXPECTED = checksum(RECORDS)
print("ready")
sys.stdout.flush()
ticks = 0
last = time.time()
n = 0
while True:
    d = {"k": Record(n)}  # attributes, dicts and frees: the eval loop and the allocator
    n = (n + len(d["k"].values)) % 1000003
    if time.time() - last >= 0.5:
        last = time.time()
        ticks += 1
        print("tick %d ok=%s" % (ticks, checksum(RECORDS) == EXPECTED))
        sys.stdout.flush()
