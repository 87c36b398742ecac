"""The main thread sleeps in a foreign C call (ctypes libc.sleep, which does not retry when a
signal interrupts it) and prints how many seconds were left.  With `waiter`, another thread
waits in time.sleep (a CPython wait).  With `masked-worker`, another thread blocks every signal
gdb-memleak stops threads with, as uWSGI's worker threads do, and runs Python without pause:
the only thread that enters CPython's functions.  Python 3."""
import ctypes
import signal
import sys
import threading
import time


def masked_worker():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGURG, signal.SIGWINCH})
    print("masked", flush=True)
    while True:
        "".join([str(i) for i in range(1000)])  # frees objects: enters PyObject_Free all the time


libc = ctypes.CDLL(None)
if sys.argv[2:] == ["waiter"]:
    threading.Thread(target=lambda: [time.sleep(0.1) for _ in iter(int, 1)], daemon=True).start()
if sys.argv[2:] == ["masked-worker"]:
    threading.Thread(target=masked_worker, daemon=True).start()
    time.sleep(0.2)
print("ready", flush=True)
started = time.monotonic()
left = libc.sleep(int(sys.argv[1]))
print("left %d after %.1f s" % (left, time.monotonic() - started), flush=True)
time.sleep(60)
