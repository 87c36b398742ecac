"""The main thread sleeps in a foreign C call (ctypes libc.sleep, which does not retry when a
signal interrupts it) and prints how many seconds were left.  With FOREIGN_CALL=read it reads a
pipe with ctypes libc.read instead (no retry either) until a child process writes 5 bytes to it
after SECONDS, and prints what read returned and its errno.  With `waiter`, another thread
waits in time.sleep (a CPython wait).  With `masked-worker`, another thread blocks every signal
gdb-memleak stops threads with, as uWSGI's worker threads do, and runs Python without pause:
the only thread that enters CPython's functions.  Python 3."""
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time


def masked_worker():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGURG, signal.SIGWINCH})
    print("masked", flush=True)
    while True:
        "".join([str(i) for i in range(1000)])  # frees objects: enters PyObject_Free all the time


libc = ctypes.CDLL(None, use_errno=True)
if sys.argv[2:] == ["waiter"]:
    threading.Thread(target=lambda: [time.sleep(0.1) for _ in iter(int, 1)], daemon=True).start()
if sys.argv[2:] == ["masked-worker"]:
    threading.Thread(target=masked_worker, daemon=True).start()
    time.sleep(0.2)
if os.environ.get("FOREIGN_CALL") == "read":
    writer = subprocess.Popen(["/bin/sh", "-c", "sleep %d; printf hello" % int(sys.argv[1])], stdout=subprocess.PIPE)
    print("ready", flush=True)
    started = time.monotonic()
    got = libc.read(writer.stdout.fileno(), ctypes.create_string_buffer(5), 5)
    print("read %d errno %d after %.1f s" % (got, ctypes.get_errno(), time.monotonic() - started), flush=True)
    writer.wait()
else:
    print("ready", flush=True)
    started = time.monotonic()
    left = libc.sleep(int(sys.argv[1]))
    print("left %d after %.1f s" % (left, time.monotonic() - started), flush=True)
time.sleep(60)
