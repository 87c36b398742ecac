"""A service with named worker threads, "ingest" and "flusher" (issue 12), and a
third whose name is markup with a control character (for the escaping).

Prints "thread TID NAME" for each worker (TID: its OS thread id), "ready",
then a heartbeat ("tick N") every half second.  Python 2.7 and 3.x.
"""

import sys
import threading
import time

started = []
lock = threading.Lock()


def tid():
    if hasattr(threading, "get_native_id"):
        return threading.get_native_id()
    import ctypes  # Python < 3.8: the gettid system call (186 on x86-64)
    return ctypes.CDLL(None).syscall(186)


def work(name, pause):
    with lock:
        started.append((name, tid()))
    while True:
        time.sleep(pause)


NAMES = ("ingest", "flusher", '<b>"x"</b>&\x1b[2J')
for name, pause in zip(NAMES, (0.05, 0.2, 0.3)):
    t = threading.Thread(target=work, args=(name, pause), name=name)
    t.daemon = True
    if name == "flusher":
        vars(t)  # 3.11+: a real __dict__ for this one, inline values for the other
    t.start()
while True:
    with lock:
        if len(started) == len(NAMES):
            break
    time.sleep(0.01)
for name, native in started:
    print("thread %d %s" % (native, name))
print("ready")
sys.stdout.flush()
ticks = 0
while True:
    time.sleep(0.5)
    ticks += 1
    print("tick %d" % ticks)
    sys.stdout.flush()
