"""The pending call's queue point: the one breakpoint gdb-memleak sets, and only while the target runs code.

When no thread waits in a call CPython made, the pending call (safepoint.py) is queued
from a thread stopped at the entry of a function every Python thread enters constantly
(QUEUE_POINTS).  A breakpoint outlives a gdb that is SIGKILLed: the next thread to enter
that function dies of SIGTRAP (hardware breakpoints too: docs/limits.md).  So the
breakpoints go in only for short slices, each once the target has used some CPU time
since the last (/proc/PID/stat, read by gdb's alarm thread while the target runs; more
after each slice no thread entered them): an idle target (a uWSGI worker waiting in its
own C code, a thread in a foreign sleep) has none in it while gdb waits.  A thread that
runs Python enters these functions within microseconds.

A thread that blocks the stop signal (uWSGI's worker threads block every signal) is never
the one: its block's stop, a tgkill of that signal, would never come.

Before any breakpoint, the stops look for a thread already where the queue call is safe
(in_place.py): with the interpreter's debug info, or with its eval loop's machine code read
from its file.  Where looks can be made, only looks are made (since 2026-12-04): no breakpoint
goes in at all, and a thread in a long C call is found once it runs Python again.  The slices
are left for what cannot be looked at: an eval loop that calls a lock primitive or uses wide
registers, or no gdb executable to read it with; and only when the user allows them (`set py-memleak
breakpoints on`, off by default since 2026-12-07): otherwise the wait ends with NO_BREAKPOINT unless
a thread is found waiting where CPython itself would run the call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import gdb

from ..gdbside import inferior as inf
from . import in_place, landing
from .alarm import continue_for
from .calls import Caller, WaitedTooLong
from .stops import siginfo

# Functions every Python thread enters often, through pointers (so never inlined).
QUEUE_POINTS = ("PyObject_Free", "PyObject_GenericGetAttr", "PyType_GenericAlloc")
# Stops (after a clock tick of CPU each) that look for a thread in place before they space out.
# A pure-Python loop was found in place in 297 of 300 stops on pyenv 3.11 (debug info), in 70 of
# 200 on Debian's python3.11 (its eval loop only, read from the file): 24 misses in a row there
# come about 3 times in 100,000.  A look took 0.05 ms (median; 2.2 at most), 2026-12-04.
# Forky's stripped static 3.14 and 3.15, their eval loops' .cold parts admitted: 74 and 61 of 200.
IN_PLACE_LOOKS = 24
# Hits in a row by threads that block the stop signal before the wait gives up (looks that find
# only such threads in place count too): each stops the whole target for a moment (gdb is all-stop).
MASKED_HITS = 50
# How long the breakpoints stay in at a time.
SLICE = 0.02
# CPU time the target uses before the next look after the quick ones, or before the first slice, in
# clock ticks (10 ms each), doubled after each miss (a thread in a long C call), up to the last.
FIRST_TICKS, LAST_TICKS = 1, 16
# A look at least this often (s of wall time), CPU used or not: the CPU clock alone puts every stop
# in a thread's C call, never in the short sleeps between them, where the gil-acquired safe point is.
LOOK_EVERY = 0.1
# The target runs at least this many times as long as the last look held it.
GAP_PER_STOP = 10
# The longest the queue call itself may take, whatever is left of the command's --timeout.
QUEUE_CALL_FLOOR = 2.0

QUEUED, TIMED_OUT, MASKED, OTHER_STOP, QUEUE_FULL, CALL_LEFT, WAITING, NO_BREAKPOINT = (
    "queued", "timed out", "masked", "other stop", "queue full", "call left", "waiting", "no breakpoint")


class _QueueBreakpoint(gdb.Breakpoint):
    """Stops the first thread that enters `function` and can be stopped by the stop signal."""

    def __init__(self, function: str, wait: _QueueWait):
        address = inf.minimal_symbol_address(function)
        assert address is not None  # only made for functions the target has
        super().__init__("*%d" % address, type=gdb.BP_BREAKPOINT, internal=True)
        self.silent = True
        self.hit: Optional[gdb.InferiorThread] = None
        self.wait = wait

    def stop(self) -> bool:
        thread = gdb.selected_thread()
        if in_place.pending_mutex_held(self.wait.pid):
            return False  # the queue call would contend for it: the next entry, then
        if landing.thread_blocks(self.wait.pid, thread.ptid[1], self.wait.signal):
            # After MASKED_HITS of these the wait ends: stop() True, no hit.
            self.wait.masked_hits += 1
            return self.wait.masked_hits >= MASKED_HITS
        self.hit = thread
        return True


@dataclass
class _QueueWait:
    """One wait at the queue points: the target, its stop signal, the hits by threads that block it."""

    pid: int
    signal: int
    masked_hits: int = 0


def used_cpu(pid: int, ticks: int) -> Callable[[], bool]:
    """A condition for the alarm thread (no gdb call in it): the process has used `ticks` clock
    ticks of CPU time (user and system, all threads) since the first look.  One small file:
    about 20 µs a look, whatever the number of threads."""
    first: list[int] = []

    def check() -> bool:
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            used = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
        except (OSError, IndexError, ValueError):
            return True  # gone: let gdb see it
        if not first:
            first.append(used)
        return used - first[0] >= ticks

    return check


def queue_pending_call(caller: Caller, pid: int, deadline: float, check_alive: Callable[[], None], waiting: Callable[[], bool],
                       event_wait: Callable[[], Optional[gdb.InferiorThread]] = lambda: None,
                       breakpoints: bool = False) -> str:
    """Queue raise(SIG) as a pending call from a thread found where the call is safe (or `event_wait()`'s
    main thread, in an event loop's wait), or from the first thread that enters a QUEUE_POINTS function.
    One of QUEUED; WAITING (`waiting()` found a thread at the gil-acquired safe point); TIMED_OUT;
    MASKED (MASKED_HITS threads in a row block the stop signal); OTHER_STOP (another stop: the caller
    says what); QUEUE_FULL; CALL_LEFT (no answer within QUEUE_CALL_FLOOR); NO_BREAKPOINT (only a slice could tell)."""
    wait = _QueueWait(pid, caller.signal)
    pace = _Pace()
    # Without debug info, or with an LTO build's, the eval loop's machine code read from its file tells.
    if not (debug_info := inf.runtime_may_have_debug_info()):
        in_place.start_scan(pid)
    span = in_place.eval_loop_span(pid)
    looks_only = in_place.looks_can_succeed(pid, span, debug_info)
    while True:
        stopped, looking = time.monotonic(), debug_info or span is not None  # the target stopped from here
        blocking: list[int] = []
        hit = in_place.thread_in_place(pid, caller.signal, span, debug_info, blocking) if looking else None
        if hit is not None:
            break
        if time.monotonic() >= deadline:  # (an eval loop still being read might have told)
            return TIMED_OUT if looks_only or breakpoints or in_place.scan_running(pid) else NO_BREAKPOINT
        if waiting():
            return WAITING
        if (hit := event_wait()) is not None:
            break
        wait.masked_hits += bool(blocking)
        if wait.masked_hits >= MASKED_HITS:
            return MASKED
        reading = in_place.scan_running(pid)
        if reading is not None:  # no breakpoint before its verdict: the target runs until it comes
            if not _ran_until(caller, pid, deadline, check_alive, reading):
                return OTHER_STOP
            span = in_place.eval_loop_span(pid)
            looks_only = in_place.looks_can_succeed(pid, span, debug_info)
            continue
        if looks_only or not breakpoints:
            # Only looks where one can find the thread (a slice's breakpoint kills the target if gdb dies
            # while it is in), or waits for a waiting thread: one in a long C call is found in Python again.
            if not _ran_until(caller, pid, deadline, check_alive, pace.next_look(pid, bool(blocking), time.monotonic() - stopped)):
                return OTHER_STOP
            continue
        if not _ran_until(caller, pid, deadline, check_alive, used_cpu(pid, pace.ticks)):
            return OTHER_STOP
        hit = in_place.thread_in_place(pid, caller.signal, span, debug_info) if looking else None
        if hit is not None:
            break
        if time.monotonic() >= deadline:
            return TIMED_OUT
        hit, fired = _one_slice(caller, pid, min(SLICE, deadline - time.monotonic()), wait)
        check_alive()
        if hit is not None:
            break
        if wait.masked_hits >= MASKED_HITS:
            return MASKED
        if not _ours(fired, caller.signal):
            return OTHER_STOP
        pace.ticks = min(pace.ticks * 2, LAST_TICKS)
    return _queue_from(caller, hit, deadline)


@dataclass
class _Pace:
    """When the next stop comes: IN_PLACE_LOOKS quick looks (a clock tick of the process's CPU
    each), then the CPU time doubled after each miss up to LAST_TICKS; a look also after
    LOOK_EVERY of wall time if any CPU was used (an idle target is not stopped); never sooner
    than GAP_PER_STOP times the last stop's length after it (many busy cores move the clock fast)."""

    quick: int = IN_PLACE_LOOKS
    ticks: int = FIRST_TICKS

    def next_look(self, pid: int, blocking: bool, stopped_for: float) -> Callable[[], bool]:
        # A thread in place that blocks the signal runs Python: no spacing out for it.
        quick = self.quick > 0 or blocking
        cpu, moved = used_cpu(pid, FIRST_TICKS if quick else self.ticks), used_cpu(pid, 1)
        cpu(), moved()  # their clocks start now
        if quick:
            self.quick = max(self.quick - 1, 0)
        else:
            self.ticks = min(self.ticks * 2, LAST_TICKS)
        start = time.monotonic()
        gap = GAP_PER_STOP * stopped_for

        def due() -> bool:
            elapsed = time.monotonic() - start
            return elapsed >= gap and (cpu() or (elapsed >= LOOK_EVERY and moved()))

        return due


def _queue_from(caller: Caller, thread: gdb.InferiorThread, deadline: float) -> str:
    thread.switch()
    try:
        status = caller.call("Py_AddPendingCall", caller.address("raise"), caller.signal, ret="int",
                             deadline=max(deadline, time.monotonic() + QUEUE_CALL_FLOOR))
    except WaitedTooLong:
        return CALL_LEFT
    caller.release()
    return QUEUED if status == 0 else QUEUE_FULL


def _ran_until(caller: Caller, pid: int, deadline: float, check_alive: Callable[[], None],
               until: Callable[[], bool]) -> bool:
    """The target run until `until` holds (or the deadline); whether the stop that ended it was ours."""
    fired = continue_for(pid, deadline - time.monotonic(), caller.signal, until=until)
    check_alive()
    return _ours(fired, caller.signal)


def _ours(fired: bool, stop_signal: int) -> bool:
    """The stop was ours: the signal the event thread got is our stop signal (the alarm's, or a
    late one), or none at all and the alarm fired.  Anything else (Ctrl-C's SIGINT, a SIGSTOP)
    that came while the alarm fired is not ours."""
    signo = siginfo()[0]
    return signo == stop_signal or (signo == 0 and fired)


def _one_slice(caller: Caller, pid: int, seconds: float,
               wait: _QueueWait) -> tuple[Optional[gdb.InferiorThread], bool]:
    """The breakpoints in for `seconds` at most: (the thread that hit one, if any; whether the alarm fired)."""
    points = [_QueueBreakpoint(f, wait) for f in QUEUE_POINTS if inf.minimal_symbol_address(f) is not None]
    try:
        fired = continue_for(pid, seconds, caller.signal)
        return next((bp.hit for bp in points if bp.hit is not None), None), fired
    finally:
        for bp in points:
            if bp.is_valid():
                bp.delete()
