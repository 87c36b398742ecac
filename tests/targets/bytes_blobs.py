"""BLOBS: 5,000 distinct bytes objects of about 1 KB each (5 MB), the heap's largest kind; SUBCLASSED:
1,000 of a subclass of bytes, of about 2 KB each.  Python 2.7 and 3.
Prints "ready", then sleeps.
"""

import sys
import time

BLOBS = [b"\0" * 1000 + str(i).encode("ascii") for i in range(5000)]


class Blob(bytes):
    pass


SUBCLASSED = [Blob(b"\1" * 2000 + str(i).encode("ascii")) for i in range(1000)]
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    time.sleep(60)
