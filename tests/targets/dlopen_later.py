"""A service that loads a shared library late, as a first import of a C extension does.  Python 3.

    python dlopen_later.py [RECORDS]

Builds RECORDS records (400,000 by default: a py-heap --largest runs a second or more), prints "ready",
then "tick N records=R blocks=B" every half second (B: sys.getallocatedblocks()).  SIGUSR1 makes the main thread dlopen libbz2 (ctypes is
imported at the start: its own libraries are loaded already) and print "dlopened"."""
import ctypes
import signal
import sys
import time

records = [{"id": i, "name": "record %d" % i} for i in range(int(sys.argv[1]) if sys.argv[1:] else 400000)]
wanted = []
signal.signal(signal.SIGUSR1, lambda *_: wanted.append(1))
print("ready", flush=True)
n = 0
while True:
    time.sleep(0.5)
    n += 1
    if wanted:
        del wanted[:]
        ctypes.CDLL("libbz2.so.1.0")
        print("dlopened", flush=True)
    print("tick %d records=%d blocks=%d" % (n, len(records), sys.getallocatedblocks()), flush=True)
