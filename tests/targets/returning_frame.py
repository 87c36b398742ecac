"""A thread whose function returns while py-heap runs, just after the census listed its frame.

The global HOLDER retains 40 MB: 32 MB of bytes and a dict whose value is 8 MB of bytes.  hold()
keeps a view of that dict in a local, waits until its own frame gains a reference (the census
listing the running frames), and returns: from then on only the payload's list of frames holds
the frame, with a copy of its locals (3.11+; a frame object kept after its return on 3.10 and
earlier).  Before 2026-12-04 that view made the dict seem shared during the retained walk, and
HOLDER retained 32 MB (16 MB of 24 in CI, on the hostile target).  Prints "tick returned=N" twice a second,
N: how many times hold() returned so.  main()'s ballast makes the census last long enough (about 0.2 s)
for hold() to get the GIL and return before the walk."""
import sys
import threading
import time

HOLDER = {"keyed": {"k": b"k" * 8000000}, "blob": b"b" * 32000000}
RETURNED = [0]


def hold():
    view = HOLDER["keyed"].values()
    me = sys._getframe()
    base = sys.getrefcount(me)
    while sys.getrefcount(me) <= base:
        time.sleep(0.005)
    del me
    RETURNED[0] += 1
    return view is None


def holding():
    while True:
        hold()
        time.sleep(30)  # no view while the rest of the command runs


thread = threading.Thread(target=holding)
thread.daemon = True
thread.start()


def main():
    # 600k objects, held by a local (a global's would be walked first, and use the walk's budget):
    # a census long enough for hold() to return within it
    ballast = [(i, -i) for i in range(200000)]
    print("ready", flush=True)
    while ballast:
        time.sleep(0.5)
        print("tick returned=%d" % RETURNED[0], flush=True)


main()
