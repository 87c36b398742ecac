"""Execs a new program 1 s after a tracer attaches, from a second thread; the main thread waits in a
foreign C call (ctypes pause), so a command waits for a safe point when the exec comes.  3.x."""
import ctypes
import os
import sys
import threading

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


threading.Thread(target=exec_once_traced).start()
sys.stdout.write("ready\n")
sys.stdout.flush()
libc.pause()
