"""The main thread sleeps in a foreign C call (ctypes libc.sleep, which does not retry when a
signal interrupts it) and prints how many seconds were left; with `waiter`, another thread
waits in time.sleep (a CPython wait).  Python 3."""
import ctypes
import sys
import threading
import time

libc = ctypes.CDLL(None)
if sys.argv[2:] == ["waiter"]:
    threading.Thread(target=lambda: [time.sleep(0.1) for _ in iter(int, 1)], daemon=True).start()
print("ready", flush=True)
started = time.monotonic()
left = libc.sleep(int(sys.argv[1]))
print("left %d after %.1f s" % (left, time.monotonic() - started), flush=True)
time.sleep(60)
