"""Two Python threads, neither made by `threading`: the worker comes from `_thread` (`thread` on
2.7), and this script never imports threading (pyenv's site may), so no threading.Thread gives
the worker's native thread id, nor, without threading, the main thread's; py-memtop's fallback
must still place both."""
import sys
import time

try:
    import _thread
except ImportError:  # Python 2.7
    import thread as _thread


def worker():
    while True:
        time.sleep(0.5)  # the worker waits here


_thread.start_new_thread(worker, ())
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    time.sleep(0.5)  # the main thread waits here
