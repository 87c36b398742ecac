"""A service whose allocators hold much memory they do not use (issue 14's fragmentation line).

- glibc malloc, main arena: 4,000 bytes objects of 6,000 B, every other one freed (about
  12 MB free between chunks in use);
- glibc malloc, a worker thread's arena: 750 bytearrays of 24,000 B, every third freed;
- glibc malloc, a fastbin: 3,000 blocks of 100 B from malloc, freed before each heartbeat;
- pymalloc: 600,000 strs of 64 B, one in 16,000 kept, so that about 37 arenas each keep
  one pool in use and 63 empty ones.

Each heartbeat prints what the allocators say of themselves, as JSON after "tick ": glibc's
mallinfo2() (through ctypes) and, on 3.x, the arena lines of sys._debugmallocstats(). The
tests compare py-memtop's figures, read from memory, with those.  Python 2.7 and 3.x.
"""
import ctypes
import json
import os
import re
import sys
import tempfile
import threading
import time

FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS]


libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2

kept = [b"%6000d" % i for i in range(4000)]
del kept[::2]

strings = ["x%019d" % i for i in range(600000)]  # 64-byte blocks of pymalloc, 16,384 to an arena
pinned = strings[::16000]
del strings

libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]


# Made once, as raw pointers: a list of 3,000 ints freed among the free chunks could consolidate the
# fastbin (a free of 64 KB or more, coalesced, does), and kept, its ints would hold pymalloc pools.
SMALL = (ctypes.c_void_p * 3000)()


def fill_a_fastbin():
    """3,000 blocks of 100 B from malloc, freed: 7 go to the tcache, the rest to a fastbin (until a
    large request consolidates them: so this is done again before each mallinfo2())."""
    for i in range(len(SMALL)):
        SMALL[i] = libc.malloc(100)
    for block in SMALL:
        libc.free(block)

worker_ready = threading.Event()


def worker():
    held = [bytearray(24000) for _ in range(750)]
    del held[::3]
    worker_ready.set()
    while True:
        time.sleep(60)


t = threading.Thread(target=worker)
t.daemon = True
t.start()
worker_ready.wait()


def pymalloc_stats():
    """The arena lines of sys._debugmallocstats(), which writes to the C stderr: sent to a file for the call."""
    if not hasattr(sys, "_debugmallocstats"):
        return None
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as out:
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode()
    number = lambda pattern: int(re.search(pattern, text, re.M).group(1).replace(",", ""))  # noqa: E731
    return {
        "arenas": number(r"^# arenas allocated current\s*=\s*([\d,]+)"),
        "arena_bytes": number(r"^\d+ arenas \* \d+ bytes/arena\s*=\s*([\d,]+)"),
        "unused_pool_bytes": number(r"^\d+ unused pools \* \d+ bytes\s*=\s*([\d,]+)"),
        "alignment_bytes": number(r"^# bytes lost to arena alignment\s*=\s*([\d,]+)"),
    }


sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    pymalloc = pymalloc_stats()
    fill_a_fastbin()
    info = libc.mallinfo2()
    state = {"mallinfo2": dict((name, getattr(info, name)) for name in FIELDS), "pymalloc": pymalloc}
    sys.stdout.write("tick %s\n" % json.dumps(state))
    sys.stdout.flush()
    time.sleep(0.5)
