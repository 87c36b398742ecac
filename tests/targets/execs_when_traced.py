"""Execs a new program 1 s after a tracer attaches, from a second thread; the main thread waits in a
foreign C call (ctypes pause), so a command waits for a safe point when the exec comes.  With
EXEC_WHEN_FILE=PATH, it execs once PATH exists instead, its main thread in time.sleep (a safe point)
and 300,000 dicts to walk: the exec can come while a payload runs.  3.x."""
import ctypes
import os
import sys
import threading
import time

libc = ctypes.CDLL(None)
NEW_PROGRAM = "import sys, time; sys.stdout.write('new program %d\\n' % (6 * 7)); sys.stdout.flush(); time.sleep(600)"


def traced():
    with open("/proc/self/status") as status:
        return any(line.startswith("TracerPid:") and line.split()[1] != "0" for line in status)


def exec_once_traced():
    while not traced():
        libc.usleep(20000)  # foreign waits: no safe point here
    libc.sleep(1)
    os.execv(sys.executable, [sys.executable, "-c", NEW_PROGRAM])


def exec_once_the_file_is_there(path):
    while not os.path.exists(path):
        libc.usleep(5000)
    os.execv(sys.executable, [sys.executable, "-c", NEW_PROGRAM])


if os.environ.get("EXEC_WHEN_FILE"):
    BALLAST = [{"k": [i]} for i in range(300000)]
    threading.Thread(target=exec_once_the_file_is_there, args=(os.environ["EXEC_WHEN_FILE"],)).start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        time.sleep(0.1)
threading.Thread(target=exec_once_traced).start()
sys.stdout.write("ready\n")
sys.stdout.flush()
libc.pause()
