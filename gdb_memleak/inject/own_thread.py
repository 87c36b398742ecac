"""Run the payload in a thread of its own, and give the safe point's thread back at once (issue 13).

The safe point borrows one of the target's threads: the one that waited in a system call, or
the main thread running Python.  Running the payload there held it for the payload's whole
time: 3.3 s on the benchmark's 1M records (docs/benchmarks-pauses.md, 2026-12-01), and on a
single-threaded asyncio server that thread is the service.  So that thread only starts a
thread of ours (PyThread_start_new_thread: a plain C call, no GIL needed) and goes back to
its own work; the payload runs in the new thread, which takes the GIL as a waiting thread
does (PyGILState_Ensure) and shares it with the target's threads at the interpreter's switch
interval.  Measured in-process beside a 1 ms heartbeat (docs/how-it-works.md): a census in a
thread of its own kept every other thread within 0.062 s at 1M records.

The new thread's start routine (stub.thread_entry) waits for gdb's go, stops itself with the
stop signal, and is parked there like any waiting thread; its way back returns from the
routine, which ends the thread.  If gdb dies first, it ends by itself within a few seconds.
Only on 3.7 and later: before, the GIL may not exist yet in a target that never started a
thread, and two threads would run Python at once.
"""

from __future__ import annotations

import time
from typing import Optional

import gdb

from ..errors import NoSafePoint, NoSafePointInTime
from ..gdbside import allocators, memlayout
from ..gdbside import inferior as inf
from ..host import glibc_arenas
from ..host.memimage import Unreadable
from . import stub
from .alarm import continue_for
from .calls import Caller, WaitedTooLong
from .safepoint import SafePoint, require_alive
from .stops import siginfo, stop_cause, stopped_by
from .stub import PARK_VALUE

THREAD_START = "PyThread_start_new_thread"
NO_THREAD = (1 << 64) - 1  # PYTHREAD_INVALID_THREAD_ID, (unsigned long)-1
GO_WAIT_MS = 5000  # how long the new thread waits for gdb's go before it ends by itself
SLICE = 0.005  # seconds the target runs between two looks at where the old thread is
PAGE = 4096
MADV_DONTNEED = 4
# A probe malloc()ed to find the thread's arena: above tcache's sizes (which may hold another
# arena's chunks), below the mmap threshold (which would map it alone).
PROBE = 4096


def move_to_own_thread(calls: Caller, safe_point: SafePoint, pid: int, deadline: float) -> Optional[SafePoint]:
    """Start the payload's own thread from the safe point and let the safe point's thread go;
    the new thread parked, holding the GIL, as the safe point.  None (nothing changed, the
    payload runs at `safe_point`) where a thread cannot be started."""
    if calls.version < (3, 7) or any(inf.minimal_symbol_address(f) is None for f in (THREAD_START, "PyGILState_Ensure")):
        return None
    entry = stub.thread_entry(calls.thread_area, signal=calls.signal, tries=GO_WAIT_MS)
    gdb.selected_inferior().write_memory(calls.thread_area, entry.code)
    known = {t.num for t in gdb.selected_inferior().threads()}
    if calls.call(THREAD_START, entry.start, 0) == NO_THREAD:
        return None  # the target cannot start a thread (a limit on threads): run where we are
    # Until the new thread is seen at its stop it may still be in glibc's start_thread, on its way
    # into the padding: the padding stays, whatever happens (a reviewer's find, 2026-12-05).
    kept, calls.keep_padding = calls.keep_padding, True
    calls.release()  # the safe point's thread goes back now: its wait, or the main thread's pending call
    _until_out_of_the_blocks(calls, pid)
    gdb.selected_inferior().write_memory(entry.flag, b"\x01")
    worker = _until_it_stops(calls, pid, entry.stop, known, deadline)
    gdb.selected_inferior().write_memory(entry.seen, b"\x01")  # a later gdb may take the site back
    calls.keep_padding = kept  # from here, thread_in_padding finds it until it has gone
    worker.switch()
    try:
        calls.call_many([("PyGILState_Ensure", ())], keep_first=True,
                        epilogue=[("PyGILState_Release", (PARK_VALUE,))], deadline=deadline)
    except WaitedTooLong:
        raise NoSafePointInTime("the payload's own thread waited for the GIL until the timeout; nothing was run in "
                                "the target, and that thread takes and gives back the GIL, then ends, by itself") from None
    return SafePoint("own-thread", worker.num, None, started_from=safe_point)


def _until_out_of_the_blocks(calls: Caller, pid: int) -> None:
    """Let the target run until the safe point's thread has left the block regions, where the new
    thread's first block is about to be written (meanwhile the new one waits for its go)."""
    for _ in range(400):
        if calls.thread_in_padding(blocks_only=True) is None:
            return
        continue_for(pid, SLICE, calls.signal)
        require_alive(calls, "while the payload's own thread started")
    raise NoSafePoint("the safe point's thread did not leave gdb-memleak's code; nothing was run in the target")


def _until_it_stops(calls: Caller, pid: int, stop: int, known: set[int], deadline: float) -> gdb.InferiorThread:
    """Let the target run until the new thread stops at its routine's stop."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NoSafePointInTime("the payload's own thread did not start before the timeout; nothing was run in "
                                    "the target, and that thread ends by itself")
        fired = continue_for(pid, remaining, calls.signal)
        stopped = gdb.selected_thread()  # the thread whose stop ended the continue
        require_alive(calls, "while the payload's own thread started")
        for thread in gdb.selected_inferior().threads():
            if thread.num not in known and thread.is_valid() and _stopped_at(thread, stop):
                return thread
        if fired:
            continue  # the deadline's own signal: checked at the top
        if stopped is not None and stopped.is_valid() and (stopped_by(stopped, calls.signal, pid)
                                                           or siginfo()[0] == calls.signal):
            continue  # our signal from another thread (a stub that has finished) or a late alarm: not ours
        raise NoSafePoint("%s while the payload's own thread started; nothing was run in the target" % stop_cause())


def _stopped_at(thread: gdb.InferiorThread, stop: int) -> bool:
    thread.switch()
    try:
        return int(gdb.newest_frame().pc()) == stop
    except gdb.error:
        return False


def give_back_arena_top(calls: Caller, pid: int) -> None:
    """The payload's own thread is parked: give back the pages of its glibc arena's top chunk
    (MADV_DONTNEED, what glibc's own shrink_heap does), keeping the page with the chunk's header.
    The routed temporaries (allocator.py) came from that arena, and its top kept 16 MB resident
    per session on the 65 MB service (2026-12-02), which malloc_trim leaves for a thread arena.
    Only this thread runs meanwhile (scheduler-locking), and only when the arena's mutex is free."""
    if any(inf.minimal_symbol_address(f) is None for f in ("malloc", "free", "madvise")):
        return
    probe = calls.call("malloc", PROBE)
    if probe == 0:
        return
    locking = gdb.parameter("scheduler-locking")
    gdb.execute("set scheduler-locking on", to_string=True)
    try:
        with open("/proc/%d/maps" % pid) as f:
            maps = f.read()
        image = memlayout.image(gdb.selected_inferior(), core=False)
        try:
            main = allocators.main_arena(pid, image, maps)  # (None: not glibc's, or not found)
            found = glibc_arenas.thread_arena_top(image, main, probe) if main is not None else None
        except (Unreadable, OSError, ValueError):
            found = None
        finally:
            image.close()
        if found is not None:
            _, top, size = found
            start, end = (top + 2 * glibc_arenas.WORD + PAGE - 1) & ~(PAGE - 1), (top + size) & ~(PAGE - 1)
            if end - start >= PAGE:
                calls.cleanup("madvise", start, end - start, MADV_DONTNEED)
    except OSError:
        pass
    finally:
        gdb.execute("set scheduler-locking %s" % locking, to_string=True)
        calls.cleanup("free", probe)
