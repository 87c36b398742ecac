# cProfile's profiler in the main thread, counting (3.11 and before it is a C function with its
# Profile as the object sys.getprofile() returns; 3.12+ cProfile uses sys.monitoring).  Every
# 0.2 s: whether it is still the one in place, how many calls of work() it has counted, and how
# many calls of payload code (file "<string>") it has seen.  Python 2.7 and 3.x.

import cProfile
import sys
import time


def work(i):
    return sum(range(i % 50))

pr = cProfile.Profile()
pr.enable()
code = work.__code__
print("ready")
sys.stdout.flush()
n = 0
while True:
    n += 1
    for i in range(100):
        work(i)
    time.sleep(0.05)
    if n % 4 == 0:
        stats = pr.getstats()
        calls = sum(e.callcount for e in stats if e.code is code)
        # (--watch's dead man's switch is a gc callback the target's own collections call, not payload
        # code: docs/limits.md, Hooks)
        payload = sum(e.callcount for e in stats if getattr(e.code, "co_filename", "") == "<string>"
                      and getattr(e.code, "co_name", "") != "_gdb_memleak_watch_switch")
        print("tick %d same=%s calls=%d payload=%d" % (n, sys.getprofile() is pr, calls, payload))
        sys.stdout.flush()
