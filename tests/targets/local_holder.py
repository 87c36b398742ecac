"""A thread whose running function's plain local is the only owner of a 3 MB bytearray, beside a
5 MB str that a module global holds and a local shares.  Python 2.7 and 3.x."""
import sys
import threading
import time

_pure = "x" * (5 * 1024 * 1024)


def worker():
    blob = bytearray(3 * 1024 * 1024)
    shared = _pure
    while True:
        time.sleep(0.2)
    return blob, shared


thread = threading.Thread(target=worker)
thread.daemon = True
thread.start()
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    time.sleep(0.5)
