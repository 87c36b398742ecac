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

Before any breakpoint, each of those stops first looks for a thread already where the queue
call is safe (in_place): stopped in the eval loop's own code, or in the object code of
CPython's Objects/ directory.  No breakpoint is then put in at all.  The queue call takes two
locks: the pending-call lock (Py_AddPendingCall) and, on 3.13+, the GIL's mutex
(signal_active_thread).  Neither is ever held there: the eval loop calls take_gil, drop_gil and
the pending-call handler, which take and release them inside (disassembled: pyenv 2.7, 3.8, 3.11,
3.13; on 2.7 it takes the GIL itself, but 2.7's Py_AddPendingCall only tries its lock), and the
object code never touches them.  Code inlined there is seen in the debug info
(gdb.block_for_pc): a block of a function whose name speaks of pending calls, signals, the GIL,
locks or mutexes rules the stop out.  Without debug info nothing says what was inlined, and
the slices are used as before.  The stub saves every general register, the flags and the
x87/SSE state (FXSAVE), not the upper halves of 256-bit registers: a function with a vzeroupper
in its code (built for AVX) is ruled out too.  Sampled on a pure-Python loop (2026-12-04), 297
of 300 stops found its thread in the eval loop on pyenv 3.11; on 3.13, 37 of 40 in the eval
loop or in Objects/.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import gdb

from ..gdbside import inferior as inf
from . import landing
from .calls import Caller, WaitedTooLong, continue_for
from .stops import siginfo

# Functions every Python thread enters often, through pointers (so never inlined).
QUEUE_POINTS = ("PyObject_Free", "PyObject_GenericGetAttr", "PyType_GenericAlloc")
# The eval loop: 3.x, then 2.7.
EVAL_LOOPS = ("_PyEval_EvalFrameDefault", "PyEval_EvalFrameEx")
# Inlined code whose name has one of these may hold a lock the queue call takes.
_LOCKING_NAMES = ("ending", "ignal", "gil", "GIL", "ock", "utex", "SaveThread", "RestoreThread", "AcquireThread")
# Stops that look for a thread in place before each slice's breakpoints go in.
IN_PLACE_LOOKS = 8
_VZEROUPPER = b"\xc5\xf8\x77"
# Hits in a row by threads that block the stop signal before the wait gives up: each stops
# the whole target for a moment (gdb is all-stop).
MASKED_HITS = 50
# How long the breakpoints stay in at a time.
SLICE = 0.02
# CPU time the target uses before the first slice, in clock ticks (10 ms each), doubled after
# each slice that no thread entered the functions in (a thread in a long C call), up to the last.
FIRST_TICKS, LAST_TICKS = 1, 16
# The longest the queue call itself may take, whatever is left of the command's --timeout.
QUEUE_CALL_FLOOR = 2.0

QUEUED, TIMED_OUT, MASKED, OTHER_STOP, QUEUE_FULL, CALL_LEFT = (
    "queued", "timed out", "masked", "other stop", "queue full", "call left")


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


def queue_pending_call(caller: Caller, pid: int, deadline: float, check_alive: Callable[[], None]) -> str:
    """Queue raise(SIG) as a pending call from the first thread that enters a QUEUE_POINTS function.

    One of QUEUED; TIMED_OUT (deadline passed); MASKED (MASKED_HITS threads in a row that
    entered them block the stop signal); OTHER_STOP (something else stopped the target: the
    caller says what); QUEUE_FULL; CALL_LEFT (the queue call did not come back within
    QUEUE_CALL_FLOOR: its thread finishes it by itself)."""
    wait = _QueueWait(pid, caller.signal)
    ticks = FIRST_TICKS
    looks = 0
    while True:
        hit = in_place(pid, caller.signal)
        if hit is not None:
            break
        if time.monotonic() >= deadline:
            return TIMED_OUT
        fired = continue_for(pid, deadline - time.monotonic(), caller.signal,
                             until=used_cpu(pid, FIRST_TICKS if looks < IN_PLACE_LOOKS else ticks))
        check_alive()
        if not _ours(fired, caller.signal):
            return OTHER_STOP
        looks += 1
        if looks % (IN_PLACE_LOOKS + 1):
            continue  # look again before the next slice
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
        ticks = min(ticks * 2, LAST_TICKS)
    hit.switch()
    try:
        status = caller.call("Py_AddPendingCall", caller.address("raise"), caller.signal, ret="int",
                             deadline=max(deadline, time.monotonic() + QUEUE_CALL_FLOOR))
    except WaitedTooLong:
        return CALL_LEFT
    caller.release()
    return QUEUED if status == 0 else QUEUE_FULL


def in_place(pid: int, stop_signal: int) -> Optional[gdb.InferiorThread]:
    """A thread of the stopped target from which the queue call is safe where it stands (the
    module's docstring says when), or None.  Threads in a system call are passed over unread."""
    for thread in gdb.selected_inferior().threads():
        if not thread.is_valid():
            continue
        pc = user_pc(pid, thread.ptid[1])
        if pc is not None and _in_lock_free_code(pc) and not landing.thread_blocks(pid, thread.ptid[1], stop_signal):
            return thread
    return None


def user_pc(pid: int, tid: int) -> Optional[int]:
    """Where a stopped thread is in its own code, or None if it is in a system call (or unreadable):
    /proc's syscall file, "-1 SP PC" outside one.  No gdb frame is built (about 20 us a thread)."""
    try:
        with open("/proc/%d/task/%d/syscall" % (pid, tid), "rb") as f:
            fields = f.read().split()
    except OSError:
        return None
    if len(fields) != 3 or fields[0] != b"-1":
        return None
    try:
        return int(fields[2], 16)
    except ValueError:
        return None


# (pid, a function's first address) -> its code has no vzeroupper
_PLAIN_CODE: dict[tuple[int, int], bool] = {}


def _in_lock_free_code(pc: int) -> bool:
    """pc lies in the eval loop's own code, or in a function of CPython's Objects/, and in no
    inlined code that could take a lock, as the debug info says; False without debug info."""
    try:
        block = gdb.block_for_pc(pc)
    except RuntimeError:
        return False
    function, start, end = None, 0, 0
    while block is not None and not (block.is_static or block.is_global):
        if block.function is not None:
            if any(part in block.function.name for part in _LOCKING_NAMES):
                return False
            # the outermost is the function the code belongs to
            function, start, end = block.function, block.start, block.end
        block = block.superblock
    if function is None:
        return False
    where = "/" + (function.symtab.filename if function.symtab is not None else "")
    if function.name not in EVAL_LOOPS and "/Objects/" not in where:
        return False
    key = (gdb.selected_inferior().pid, start)
    if key not in _PLAIN_CODE:
        try:
            code = bytes(gdb.selected_inferior().read_memory(start, end - start))
        except gdb.MemoryError:
            return False
        _PLAIN_CODE[key] = _VZEROUPPER not in code
    return _PLAIN_CODE[key]


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
