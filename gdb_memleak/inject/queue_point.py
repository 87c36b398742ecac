"""The pending call's queue point: the one breakpoint gdb-memleak sets, and only while a thread runs.

When no thread waits in a call CPython made, the pending call (safepoint.py) is queued
from a thread stopped at the entry of a function every Python thread enters constantly
(QUEUE_POINTS).  A breakpoint outlives a gdb that is SIGKILLed: the next thread to enter
that function dies of SIGTRAP (hardware breakpoints too: docs/limits.md).  So the
breakpoints are in the target only for short slices, and only once one of its threads has
been seen running on a CPU twice in a row (/proc, read by gdb's alarm thread while the
target runs): an idle target (a uWSGI worker waiting in its own C code, a thread in a
foreign sleep) has none in it while gdb waits.  A thread that runs Python enters these
functions within microseconds.

A thread that blocks the stop signal (uWSGI's worker threads block every signal) is never
the one: its block's stop, a tgkill of that signal, would never come.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Optional

import gdb

from ..gdbside import inferior as inf
from . import landing
from .calls import Caller, WaitedTooLong, continue_for
from .stops import siginfo

# Functions every Python thread enters often, through pointers (so never inlined).
QUEUE_POINTS = ("PyObject_Free", "PyObject_GenericGetAttr", "PyType_GenericAlloc")
# Hits by threads that block the stop signal before the wait gives up: each stops the whole
# target for a moment (gdb is all-stop).
MASKED_HITS = 20
# How long the breakpoints stay in at a time, once a thread was seen running.
SLICE = 0.02

QUEUED, TIMED_OUT, MASKED, OTHER_STOP, QUEUE_FULL = "queued", "timed out", "masked", "other stop", "queue full"


class _QueueBreakpoint(gdb.Breakpoint):
    """Stops the first thread that enters `function` and can be stopped by the stop signal."""

    def __init__(self, function: str, threads: _QueueThreads):
        address = inf.minimal_symbol_address(function)
        assert address is not None  # only made for functions the target has
        super().__init__("*%d" % address, type=gdb.BP_BREAKPOINT, internal=True)
        self.silent = True
        self.hit: Optional[gdb.InferiorThread] = None
        self.threads = threads

    def stop(self) -> bool:
        thread = gdb.selected_thread()
        if self.threads.blocks(thread):
            # After MASKED_HITS of these the wait ends: stop() True, no hit.
            self.threads.masked_hits += 1
            return self.threads.masked_hits >= MASKED_HITS
        self.hit = thread
        return True


class _QueueThreads:
    """Which threads block the stop signal, read once per thread for one wait."""

    def __init__(self, pid: int, stop_signal: int):
        self.pid, self.signal = pid, stop_signal
        self._blocking: dict[int, bool] = {}
        self.masked_hits = 0

    def blocks(self, thread: gdb.InferiorThread) -> bool:
        tid = thread.ptid[1]
        if tid not in self._blocking:
            self._blocking[tid] = landing.thread_blocks(self.pid, tid, self.signal)
        return self._blocking[tid]


def running_twice(pid: int) -> Callable[[], bool]:
    """A condition for the alarm thread (no gdb call in it): some thread of `pid` was in state R
    at this look and the one before.  One look is not enough: threads gdb resumes are R for a
    moment on their way back into their waits."""
    seen: set[int] = set()

    def check() -> bool:
        now = set()
        try:
            for task in os.scandir("/proc/%d/task" % pid):
                try:
                    with open("/proc/%d/task/%s/stat" % (pid, task.name), "rb") as f:
                        if f.read().rsplit(b")", 1)[1].split(None, 1)[0] == b"R":
                            now.add(int(task.name))
                except (OSError, IndexError):
                    continue
        except OSError:
            return True  # gone: let gdb see it
        again = bool(now & seen)
        seen.clear()
        seen.update(now)
        return again

    return check


def queue_pending_call(caller: Caller, pid: int, deadline: float, check_alive: Callable[[], None]) -> str:
    """Queue raise(SIG) as a pending call from the first thread that enters a QUEUE_POINTS function.

    One of QUEUED; TIMED_OUT (deadline passed); MASKED (only threads that block the stop
    signal entered them); OTHER_STOP (something else stopped the target: the caller says
    what); QUEUE_FULL."""
    threads = _QueueThreads(pid, caller.signal)
    while True:
        if time.monotonic() >= deadline:
            return TIMED_OUT
        fired = continue_for(pid, deadline - time.monotonic(), caller.signal, until=running_twice(pid))
        check_alive()
        if not _ours(fired, caller.signal):
            return OTHER_STOP
        if time.monotonic() >= deadline:
            return TIMED_OUT
        hit, fired = _one_slice(caller, pid, min(SLICE, deadline - time.monotonic()), threads)
        check_alive()
        if hit is not None:
            break
        if threads.masked_hits >= MASKED_HITS:
            return MASKED
        if not _ours(fired, caller.signal):
            return OTHER_STOP
    hit.switch()
    try:
        status = caller.call("Py_AddPendingCall", caller.address("raise"), caller.signal, ret="int",
                             deadline=deadline)
    except WaitedTooLong:
        return TIMED_OUT
    caller.release()
    return QUEUED if status == 0 else QUEUE_FULL


def _ours(fired: bool, stop_signal: int) -> bool:
    """The stop was our alarm's, or our signal sent earlier (a late alarm, a stub's stop)."""
    return fired or siginfo()[0] == stop_signal


def _one_slice(caller: Caller, pid: int, seconds: float,
               threads: _QueueThreads) -> tuple[Optional[gdb.InferiorThread], bool]:
    """The breakpoints in for `seconds` at most: (the thread that hit one, if any; whether the alarm fired)."""
    points = [_QueueBreakpoint(f, threads) for f in QUEUE_POINTS if inf.minimal_symbol_address(f) is not None]
    try:
        fired = continue_for(pid, seconds, caller.signal)
        return next((bp.hit for bp in points if bp.hit is not None), None), fired
    finally:
        for bp in points:
            if bp.is_valid():
                bp.delete()
