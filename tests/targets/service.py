"""A small service in one of the shapes the fault matrix needs; it checks its own data.

    python service.py MODE

It builds RECORDS records and their checksum, prints "ready", then:

* heartbeat modes print "tick N ok=True threads=T modules=M path=P gc=... alloc=A" every
  half second from a heartbeat thread, where ok says the data still matches its
  checksum (the tests assert that it stays True);
* the main thread, depending on MODE:
  - event:  waits on a threading.Event forever;
  - join:   joins a thread that never ends;
  - select: select()s on a listening socket nobody connects to;
  - busy:   waits on an Event while a worker thread runs pure Python nonstop;
  - churn:  allocates and frees dicts, lists and strs nonstop and collects
            cyclic garbage every few rounds (gdb stops it inside the allocator
            or the collector);
  - gevent: gevent's monkey patching first (the heartbeat is a greenlet), then as event: the
            main thread waits in libev's epoll_wait, a gunicorn gevent worker's shape;
  - idle:   no heartbeat and no other thread: the main thread waits on an
            Event; SIGUSR1 makes it check its data once and print
            "checked ok=..." (all threads idle, like a quiet service).

With SERVICE_SIGTERM_EXIT=1, SIGTERM prints "terminating" and exits with status 7
through SystemExit, as a service's shutdown handler does.  With SERVICE_BLOCKS_ON_USR2=1,
SIGUSR2 prints "blocks#N as_is=B collected=C": sys.getallocatedblocks() as it is, then
after a full collection (which empties CPython's free lists), N counting from 0.
"""

import sys

if sys.argv[1:2] == ["gevent"]:  # before anything imports threading, as gevent asks
    from gevent import monkey

    monkey.patch_all()

import ctypes  # noqa: E402 (after gevent's patching)
import gc  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402

RECORDS = int(os.environ.get("SERVICE_RECORDS", "20000"))


def build():
    return dict(("key-%d" % i, {"n": i, "name": "record %d" % i, "tags": ["t%d" % (i % 7)]}) for i in range(RECORDS))


def checksum(data):
    crc = 0
    for key in sorted(data):
        record = data[key]
        crc = zlib.crc32(("%s %d %s %s" % (key, record["n"], record["name"], record["tags"][0])).encode(), crc)
    return crc


DATA = build()
EXPECTED = checksum(DATA)


def allocators():
    """Which memory allocators CPython runs ("pymalloc", "pymalloc_debug", "malloc"; "custom" for
    others): gdb-memleak changes them while a payload runs and must put them back."""
    try:
        get = ctypes.pythonapi._PyMem_GetCurrentAllocatorName
    except AttributeError:  # before 3.8
        return "?"
    get.restype = ctypes.c_char_p
    return (get() or b"custom").decode()


def state():
    return "threads=%d modules=%d path=%d gc=%s,%d,%s alloc=%s" % (
        threading.active_count(), len(sys.modules), zlib.crc32(repr(sys.path).encode()),
        "on" if gc.isenabled() else "off", gc.get_debug(), ",".join(map(str, gc.get_threshold())), allocators())


def heartbeat():
    ticks = 0
    while True:
        time.sleep(0.5)
        ticks += 1
        print("tick %d ok=%s %s" % (ticks, checksum(DATA) == EXPECTED, state()), flush=True)


def busy_worker():
    n = 0
    while True:  # pure Python: releases the GIL only when the interpreter asks it to
        n = (n * 31 + 7) % 1000003


def churn():
    rounds = 0
    while True:
        junk = [{"i": i, "s": "x" * (i % 50), "l": [i] * (i % 9)} for i in range(2000)]
        cycle = [junk]
        cycle.append(cycle)
        del junk, cycle
        rounds += 1
        if rounds % 5 == 0:
            gc.collect()


def main():
    mode = sys.argv[1]
    if mode != "idle":
        threading.Thread(target=heartbeat, daemon=True).start()
    if os.environ.get("SERVICE_SIGTERM_EXIT"):
        def terminate(signum, frame):
            print("terminating", flush=True)
            sys.exit(7)
        signal.signal(signal.SIGTERM, terminate)
    if os.environ.get("SERVICE_BLOCKS_ON_USR2"):
        readings = [0]

        def blocks(signum, frame):
            as_is = sys.getallocatedblocks()
            gc.collect()
            print("blocks#%d as_is=%d collected=%d" % (readings[0], as_is, sys.getallocatedblocks()), flush=True)
            readings[0] += 1
        signal.signal(signal.SIGUSR2, blocks)
    print("ready", flush=True)
    if mode in ("event", "idle", "gevent"):
        if mode == "idle":
            def check(signum, frame):
                print("checked ok=%s %s" % (checksum(DATA) == EXPECTED, state()), flush=True)
            signal.signal(signal.SIGUSR1, check)
        threading.Event().wait()
    elif mode == "join":
        forever = threading.Thread(target=threading.Event().wait, daemon=True)
        forever.start()
        forever.join()
    elif mode == "select":
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        select.select([server], [], [])
    elif mode == "busy":
        threading.Thread(target=busy_worker, daemon=True).start()
        threading.Event().wait()
    elif mode == "churn":
        churn()
    print("main thread returned", flush=True)  # never, unless something woke it for good
    os._exit(3)


if __name__ == "__main__":
    main()
