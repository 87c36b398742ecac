"""A main thread in signal.pause(), the only thread: no safe point ever comes.  Python 3.

Builds some data, prints "checked CRC" (a checksum of it) and "ready", then pauses forever;
each SIGUSR1 prints "checked CRC" again, so a test can see the data did not change.
"""

import signal
import zlib

DATA = {"key-%d" % i: ["v" * (i % 50), i * 1000003] for i in range(20000)}


def check(signum, frame):
    print("checked %08x" % zlib.crc32(repr(sorted(DATA.items())).encode()), flush=True)


signal.signal(signal.SIGUSR1, check)
check(0, None)
print("ready", flush=True)
while True:
    signal.pause()
