"""threading first imported by a thread that _thread started, not by the main thread.  On 3.13+
threading's _MainThread then holds the main thread's ident but the importer's native id.  The
importer starts two named threads.  Prints "importer TID", "ready", then "tick N" every half
second from the main thread, which sleeps in between.  Python 3.13+."""
import _thread
import sys
import time

started = _thread.allocate_lock()
started.acquire()


def importer():
    import threading
    never = threading.Event()
    for name in ("late-a", "late-b"):
        threading.Thread(target=never.wait, name=name, daemon=True).start()
    print("importer %d" % threading.get_native_id())
    sys.stdout.flush()
    started.release()
    never.wait()


_thread.start_new_thread(importer, ())
started.acquire()
print("ready")
sys.stdout.flush()
ticks = 0
while True:
    time.sleep(0.5)
    ticks += 1
    print("tick %d" % ticks)
    sys.stdout.flush()
