"""A target whose second thread keeps dropping objects with __del__ and weakref callbacks.

Every finalizer records which thread ran it, and whether payload code was on its stack;
the heartbeat prints the counts.  argv[1]: "plain", or "lock" (the main thread waits
holding a plain threading.Lock that every finalizer run outside the churning thread takes).
Python 2.7 and 3.x.
"""
import gc
import itertools
import sys
import threading
import time
import weakref

MODE = sys.argv[1]
LOCK = threading.Lock()
get_ident = getattr(threading, "get_ident", None) or threading._get_ident
MAIN = get_ident()
CHURN = []
# next() of an itertools.count is one C call: no update is lost between threads
stats = dict((k, itertools.count()) for k in ("dels", "weak", "in_main", "in_payload", "elsewhere", "made_del", "made"))


def value(name):
    return int(repr(stats[name])[6:-1])  # count(N): what next() would return


def payload_on_stack():
    f = sys._getframe(1)
    while f is not None:
        if "__gdb_memleak_run__" in f.f_globals:
            return True
        f = f.f_back
    return False


def record(kind):
    next(stats[kind])
    me = get_ident()
    if me == MAIN:
        next(stats["in_main"])
    elif me not in CHURN:
        next(stats["elsewhere"])
        threading.current_thread()  # as logging does: in a thread threading did not start, a stand-in
    if payload_on_stack():
        next(stats["in_payload"])
    if MODE == "lock" and me not in CHURN:
        # the main thread waits holding LOCK: a finalizer run in it deadlocks for good,
        # one run in a thread of its own waits until the main thread lets go
        with LOCK:
            pass


class WithDel(object):
    __slots__ = ("payload",)

    def __init__(self):
        self.payload = [1, 2, 3]

    def __del__(self):
        record("dels")


class WithWeak(object):
    def __init__(self):
        self.payload = {"a": 1}


def on_dead(ref):
    record("weak")


N = 20000
POOL = [None] * N
REFS = [None] * N
BALLAST = [{"k": [i]} for i in range(100000)]  # a payload that runs a while


def churn():
    CHURN.append(get_ident())
    i = 0
    while True:
        j = i % N
        if j % 2:
            POOL[j] = WithDel()
            next(stats["made_del"])
        else:
            POOL[j] = WithWeak()
            REFS[j] = weakref.ref(POOL[j], on_dead)
        next(stats["made"])
        i += 1
        if i % 2000 == 0:
            time.sleep(0.0005)


t = threading.Thread(target=churn)
t.daemon = True
t.start()
while not CHURN or value("made") < 2 * N:
    time.sleep(0.05)
print("ready")
sys.stdout.flush()
n = 0
while True:
    n += 1
    if MODE == "lock":
        with LOCK:
            time.sleep(0.3)
        time.sleep(0.05)
    else:
        time.sleep(0.35)
    live_del = list(map(type, POOL)).count(WithDel)  # holds no reference past C code: drops none here
    print("tick %d made=%d in_main=%d in_payload=%d elsewhere=%d unfinalized=%d gc=%s active=%d"
          % (n, value("made"), value("in_main"), value("in_payload"), value("elsewhere"),
             value("made_del") - value("dels") - live_del, gc.isenabled(), len(threading._active)))
    sys.stdout.flush()
