"""A small steady target for environment tests: a growing module-level list,
optionally a second libpython loaded with ctypes (argv[1]), and a heartbeat that
says whether guppy or objgraph were ever imported into it.  With HEARTBEAT_CYCLES=1
in the environment, 100 self-referencing lists stay as cyclic garbage (gc off).  With
CATCH_SIGURG=1, a SIGURG handler that says when it runs.  With SECCOMP_NO_MADVISE=1,
a seccomp filter that kills the process if it ever calls madvise().  With NO_NEW_THREADS=1,
no thread can be started in it (as under a limit on threads).  With DROP_WHEN=PATH, 10,000 instances
with a __dict__ and a __del__ are held until PATH exists, then dropped, and the heartbeat says how
many died after a collection of the young generation.  With SIGTERM_EXIT=1, SIGTERM prints "terminating"
and exits with status 7."""

import os
import sys
import time

if os.environ.get("HEARTBEAT_CYCLES"):
    import gc

    # Cyclic garbage that stays (the collector is off), for py-cycles to find and draw.
    gc.disable()
    for _ in range(100):
        _ring = []
        _ring.append(_ring)
    del _ring

if os.environ.get("CATCH_SIGURG"):
    import signal

    # A handler gdb-memleak must never trigger: it then stops threads with SIGWINCH.
    signal.signal(signal.SIGURG, lambda signum, frame: print("SIGURG handled", flush=True))

if os.environ.get("SIGTERM_EXIT"):
    import signal

    def _terminate(signum, frame):
        print("terminating", flush=True)
        sys.exit(7)

    signal.signal(signal.SIGTERM, _terminate)

if os.environ.get("SECCOMP_NO_MADVISE"):
    import ctypes
    import struct

    # A seccomp filter that kills the process on madvise(), which this program never calls
    # itself (a sandbox's allow-list without it): gdb-memleak must not call it either.
    libc = ctypes.CDLL(None, use_errno=True)
    program = [(0x20, 0, 0, 0),  # load the system call number
               (0x15, 0, 1, 28),  # == madvise?
               (0x06, 0, 0, 0x80000000),  # then kill the process
               (0x06, 0, 0, 0x7FFF0000)]  # else allow
    code = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *op) for op in program))
    fprog = struct.pack("=HxxxxxxQ", len(program), ctypes.addressof(code))
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
    assert libc.prctl(22, 2, ctypes.c_char_p(fprog), 0, 0) == 0  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER

if os.environ.get("NO_NEW_THREADS"):
    import threading

    # Every new thread's stack is asked for beyond the address space, so pthread_create fails
    # (EAGAIN) for this process's threads and gdb-memleak's alike: what a limit on threads
    # (RLIMIT_NPROC, a cgroup's pids.max) does, without a user to run it as.
    threading.stack_size(1 << 47)

if len(sys.argv) > 1 and sys.argv[1]:
    import ctypes

    # A second copy of the CPython runtime in the process, never initialised.
    _second_runtime = ctypes.CDLL(sys.argv[1])

_drop_when = os.environ.get("DROP_WHEN")
_died = [0]


class Held(object):
    def __init__(self, i):
        self.i = i

    def __del__(self):
        _died[0] += 1


_held = [Held(i) for i in range(10000)] if _drop_when else []
_kept = []
print("ready", flush=True)
ticks = 0
last = time.time()
while True:
    _kept.append("%d %s" % (ticks, "x" * 100))  # a new str each time
    if len(_kept) > 20000:
        del _kept[:10000]
    time.sleep(0.001)
    if time.time() - last >= 0.5:
        ticks += 1
        last = time.time()
        if _held and os.path.exists(_drop_when):
            del _held[:]
            import gc

            gc.collect(0)  # the young generation only, as the collector does most often
        died = " died=%d" % _died[0] if _drop_when else ""
        print("tick %d guppy=%s objgraph=%s%s" % (ticks, "guppy" in sys.modules, "objgraph" in sys.modules, died),
              flush=True)
