"""One thread, running Python without pause: no thread waits anywhere, so a command's safe point
is a pending call, queued from that thread.  Every half second it prints "tick N ok=BOOL": ok
says that its records still match their checksum and that every step of its loop, whose
floats and ints pass through registers (a call made mid-function must put them all back), came
out as computed the slow way.  With "c-call N", it first holds the GIL in one long C call
(sum(range(N)), printing "c call" before it and "c call done RESULT" after), then loops.  With "faulthandler", it sends itself SIGUSR1 after each tick, and
faulthandler dumps the stack from its C signal handler (object code running inside a signal handler).  With "stores", the loop
only stores small lists in a dict.  Python 2.7 and 3."""
import os
import sys
import time
import zlib


class Record(object):
    def __init__(self, i):
        self.name = "record-%d" % i
        self.values = [i, i * 2, i * 3]


RECORDS = [Record(i) for i in range(20000)]


def checksum(records):
    return zlib.crc32(repr([(r.name, r.values) for r in records]).encode())


if sys.argv[1:] == ["stores"]:
    # Dict stores of small lists only: no attribute lookup, and on an LTO build (Debian's
    # python3.11) no call of the exported PyObject_Free: the queue point's breakpoint functions
    # are never entered.  ok: every list stored is still the one made for its key.
    print("ready")
    sys.stdout.flush()
    d = {}
    n = ticks = 0
    last = time.time()
    while True:
        d[n % 1000] = [n, str(n)]
        n += 1
        if n % 1000 == 0 and time.time() - last >= 0.5:
            last = time.time()
            ticks += 1
            ok = all(v[1] == str(v[0]) and v[0] % 1000 == k for k, v in d.items())
            print("tick %d ok=%s" % (ticks, ok))
            sys.stdout.flush()
if sys.argv[1:] == ["faulthandler"]:
    import faulthandler
    import signal
    faulthandler.register(signal.SIGUSR1, file=open("/dev/null", "w"), all_threads=True)
EXPECTED = checksum(RECORDS)
print("ready")
sys.stdout.flush()
if sys.argv[1:2] == ["c-call"]:
    N = int(sys.argv[2])
    print("c call")
    sys.stdout.flush()
    total = sum(range(N))  # one C call: no bytecode boundary until it returns
    print("c call done %s" % (total == N * (N - 1) // 2))
    sys.stdout.flush()
ticks = 0
last = time.time()
n = 0
x = 0.0
steady = True
while True:
    d = {"k": Record(n)}  # attributes, dicts and frees: the eval loop and the allocator
    n = (n + len(d["k"].values)) % 1000003
    x = x * 0.5 + n * 0.25  # floats in SSE registers; compared below with what ints give
    steady = steady and (n * 3) // 3 == n and abs(x * 4 - (x * 2 + x * 2)) < 1e-9 and d["k"].values[2] == 3 * d["k"].values[0]
    if time.time() - last >= 0.5:
        last = time.time()
        ticks += 1
        print("tick %d ok=%s" % (ticks, steady and checksum(RECORDS) == EXPECTED))
        sys.stdout.flush()
        if sys.argv[1:] == ["faulthandler"]:
            # From here, at a call, where every frame is whole: a SIGUSR1 sent from outside at an
            # arbitrary instant made faulthandler's dump read a frame half made (SIGSEGV in
            # dump_frame, pyenv 3.11, once in CI on 2026-12-04)
            os.kill(os.getpid(), signal.SIGUSR1)
