"""Bring the target's main thread to a safe point: where CPython itself would run Python.

Running Python wherever gdb happens to have stopped the target can deadlock it
(a thread inside malloc holding the arena lock) or corrupt its heap (a thread
in the middle of pymalloc); see docs/safety.md.  So the main thread is made to
stop itself between two bytecodes, holding the GIL, where the eval loop runs
pending calls:

1. queue:  `Py_AddPendingCall(raise, SIG)` is called on a thread stopped in a
   blocking system call (futex, poll, read, sleep...): there it holds no lock
   of the interpreter's and no live vector register.  Py_AddPendingCall needs
   no GIL (it says so).  Only if no thread waits in such a call (one thread
   running pure Python) is a one-shot breakpoint at the entry of a function
   every Python thread calls used instead, and deleted as soon as it is hit.
2. wait:   the target runs; its main thread runs the pending call, raise(SIG),
   and stops itself inside it.  That is the safe point.  raise() returns 0, so
   for the interpreter the pending call is a no-op.  If gdb has died by then,
   SIG (ignored by default, not caught, see landing.stop_signal) does nothing.
3. After the command, the main thread runs its tgkill again and is stopped
   where it was: the next command of the session starts there at once.

An idle service's main thread sits in a blocking call and never gets to run
pending calls; if that call is CPython's own (PEP 475: it retries after EINTR,
having run its signal handlers and pending calls), it is made to return EINTR,
as a signal with a Python handler would.  Not when a foreign library (ctypes,
an extension) made the call: it may not retry.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Optional

import gdb

from .. import inferior as inf
from .calls import SYSCALL_INSN, Caller, read_register
from .gdbstate import quiet_continue

SI_TKILL = -6
SYS_TGKILL = 234
EINTR = 4

# Blocking waits, x86-64 numbers: a thread in one of these is parked outside any lock
# of the interpreter's, in a libc wrapper whose vector registers are dead.
BLOCKING_WAITS = {
    0: "read", 7: "poll", 23: "select", 34: "pause", 35: "nanosleep", 43: "accept", 45: "recvfrom",
    47: "recvmsg", 61: "wait4", 128: "rt_sigtimedwait", 130: "rt_sigsuspend", 202: "futex",
    230: "clock_nanosleep", 232: "epoll_wait", 247: "waitid", 270: "pselect6", 271: "ppoll",
    281: "epoll_pwait", 288: "accept4",
}
# Those CPython retries after EINTR (PEP 475); pause and rt_sigsuspend return instead.
RETRIED = set(BLOCKING_WAITS) - {34, 130}
# EINTR is what a handler turns these into; ERESTARTNOINTR is never seen as EINTR.
WAKEABLE = (-512, -514, -516)

# Functions every Python thread enters often, through pointers (so never inlined):
# the fallback queue point for a target none of whose threads waits in a system call.
QUEUE_POINTS = ("PyObject_Free", "PyObject_GenericGetAttr", "PyType_GenericAlloc")
# Code that holds the pending-call lock, or runs in a signal handler: no call from there.
_UNSAFE_FRAMES = ("PendingCall", "pending_call", "make_pending", "pending_calls")


@dataclass
class SafePoint:
    kind: str  # "pending-call"
    thread_num: int
    raise_rip: int  # just after the tgkill in raise(): it runs again to stop there after the command


def main_thread(pid: int) -> gdb.InferiorThread:
    for thread in gdb.selected_inferior().threads():
        if thread.ptid[1] == pid:
            return thread
    raise gdb.GdbError("the target's main thread is gone")


def _siginfo() -> tuple[int, int, int]:
    """(signo, code, sender pid) of the selected thread's last stop signal; zeros if none."""
    try:
        info = gdb.parse_and_eval("$_siginfo")
        return int(info["si_signo"]), int(info["si_code"]), int(info["_sifields"]["_kill"]["si_pid"])
    except (gdb.error, RuntimeError):
        return 0, 0, 0


def at_our_raise(main: gdb.InferiorThread, pid: int, stop_signal: int) -> Optional[int]:
    """If the main thread is stopped by its own tgkill of `stop_signal` (our pending call), its rip."""
    main.switch()
    frame = gdb.newest_frame()
    signo, code, sender = _siginfo()
    if signo != stop_signal or code != SI_TKILL or sender != pid:
        return None
    rip = int(frame.read_register("rip"))
    if read_register(frame, "orig_rax") != SYS_TGKILL:
        return None
    try:
        if gdb.selected_inferior().read_memory(rip - 2, 2).tobytes() != SYSCALL_INSN:
            return None
    except gdb.MemoryError:
        return None
    return rip


def _blocked_in_wait(thread: gdb.InferiorThread, stop_signal: int, pid: int) -> bool:
    """The thread waits in a blocking system call, outside pending-call code and signal handlers."""
    thread.switch()
    frame = gdb.newest_frame()
    if read_register(frame, "orig_rax") not in BLOCKING_WAITS:
        return False
    if _blocks(pid, thread.ptid[1], stop_signal):
        return False
    for _ in range(24):
        if frame.type() == gdb.SIGTRAMP_FRAME or any(k in (frame.name() or "") for k in _UNSAFE_FRAMES):
            return False
        try:
            frame = frame.older()
        except gdb.error:
            break
        if frame is None:
            break
    return True


def _blocks(pid: int, tid: int, signal: int) -> bool:
    try:
        with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
            for line in f:
                if line.startswith("SigBlk:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal - 1)))
    except OSError:
        return True
    return False


def _runtime_made_the_call(thread: gdb.InferiorThread) -> bool:
    """The innermost frame outside the C library is the Python runtime's: CPython itself waits there."""
    _, runtime, _ = inf.running_runtime()
    if runtime is None:
        return False
    thread.switch()
    frame = gdb.newest_frame()
    for _ in range(8):
        where = gdb.solib_name(frame.pc()) or inf._exe_name()
        if "/libc." not in where and "/libc-" not in where and "libpthread" not in where:
            return inf._same_file(where, runtime)
        try:
            frame = frame.older()
        except gdb.error:
            return False
        if frame is None:
            return False
    return False


def _wakeable(thread: gdb.InferiorThread, version: tuple[int, int]) -> bool:
    if version < (3, 5):  # before PEP 475 an interrupted sleep returned early
        return False
    thread.switch()
    frame = gdb.newest_frame()
    return read_register(frame, "orig_rax") in RETRIED and read_register(frame, "rax") in WAKEABLE \
        and _runtime_made_the_call(thread)


class _QueueBreakpoint(gdb.Breakpoint):
    """One-shot: stops the first thread that enters `function`, while armed."""

    def __init__(self, function: str):
        address = inf.minimal_symbol_address(function)
        super().__init__("*%d" % address, type=gdb.BP_BREAKPOINT, internal=True)
        self.silent = True
        self.hit: Optional[gdb.InferiorThread] = None

    def stop(self) -> bool:
        self.hit = gdb.selected_thread()
        return True


def _queue(caller: Caller, pid: int, deadline: float, timeout: float, command: str) -> None:
    """Queue raise(SIG) as a pending call; wake the main thread if CPython waits in it."""
    main = main_thread(pid)
    threads = [main] + [t for t in gdb.selected_inferior().threads() if t != main]
    arguments = (caller.address("raise"), caller.signal)
    for thread in threads:
        if not thread.is_valid() or not _blocked_in_wait(thread, caller.signal, pid):
            continue
        wake = thread == main and _wakeable(thread, caller.version)
        thread.switch()
        status = caller.call("Py_AddPendingCall", *arguments, ret="int")
        parked = caller.parked
        if wake:  # the system call returns EINTR instead of being restarted
            caller.release(resume=parked.rip, rax=-EINTR)
        else:
            caller.release()
        if status != 0:  # the queue is full: nothing queued
            raise gdb.GdbError("%s: the target's pending-call queue is full; nothing was run in the target (try again)" % command)
        return
    # No thread waits: one runs pure Python.  It enters these within microseconds.
    points = [_QueueBreakpoint(f) for f in QUEUE_POINTS if inf.minimal_symbol_address(f) is not None]
    try:
        fired = continue_for(pid, deadline - time.monotonic(), caller.signal, command, "while waiting for a safe point")
        hit = next((bp.hit for bp in points if bp.hit is not None), None)
    finally:
        for bp in points:
            if bp.is_valid():
                bp.delete()
    if hit is None:
        if fired:
            raise _no_safe_point(pid, timeout, command)
        raise gdb.GdbError("%s: interrupted before a safe point was reached; nothing was run in the target" % command)
    hit.switch()
    status = caller.call("Py_AddPendingCall", *arguments, ret="int")
    caller.release()
    if status != 0:
        raise gdb.GdbError("%s: the target's pending-call queue is full; nothing was run in the target (try again)" % command)


def _no_safe_point(pid: int, timeout: float, command: str) -> gdb.GdbError:
    return gdb.GdbError(
        "%s: no safe point within %g s: the main thread is %s and did not run the pending call; "
        "nothing was run in the target (try again, or raise --timeout)" % (command, timeout, describe_main_thread(pid)))


def run_to_safe_point(caller: Caller, pid: int, timeout: float, command: str) -> SafePoint:
    """Stop the target with its main thread at a safe point; a one-line error if none comes in `timeout` s."""
    deadline = time.monotonic() + timeout
    main = main_thread(pid)
    rip = at_our_raise(main, pid, caller.signal)
    if rip is not None:  # still there since the last command of this session
        return SafePoint("pending-call", main.num, rip)
    _queue(caller, pid, deadline, timeout, command)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _no_safe_point(pid, timeout, command)
        fired = continue_for(pid, remaining, caller.signal, command, "while waiting for a safe point")
        rip = at_our_raise(main, pid, caller.signal) if main.is_valid() else None
        if rip is not None:
            return SafePoint("pending-call", main.num, rip)
        if fired:
            raise _no_safe_point(pid, timeout, command)
        if _stopped_by(gdb.selected_thread(), caller.signal, pid):
            continue  # our own signal, sent by a stub that has finished: not a stop for us
        raise gdb.GdbError("%s: interrupted before a safe point was reached; nothing was run in the target" % command)


def _stopped_by(thread: gdb.InferiorThread, stop_signal: int, pid: int) -> bool:
    thread.switch()
    signo, code, sender = _siginfo()
    return signo == stop_signal and code == SI_TKILL and sender == pid


def back_to_safe_point(caller: Caller, safe_point: SafePoint, pid: int, command: str) -> None:
    """After the command: the main thread runs its tgkill again and stops where it was."""
    caller.release(resume=safe_point.raise_rip - len(SYSCALL_INSN), rax=SYS_TGKILL)
    main = main_thread(pid)
    for _ in range(64):
        continue_for(pid, 5.0, caller.signal, command, "after the command")
        if at_our_raise(main, pid, caller.signal) == safe_point.raise_rip:
            return
    raise gdb.GdbError("%s: the main thread did not stop again after the command" % command)


def continue_for(pid: int, seconds: float, stop_signal: int, command: str, during: str) -> bool:
    """`continue`, stopped by our signal after `seconds`; True if ours stopped it.

    Anything else may stop it first: a safe point, Ctrl-C, a signal gdb stops on.
    The signal is one the target ignores: if gdb dies before it arrives, nothing happens.
    """
    if seconds <= 0:
        return True
    fired = threading.Event()

    def interrupt() -> None:
        fired.set()
        try:
            os.kill(pid, stop_signal)
        except OSError:
            pass

    timer = threading.Timer(seconds, interrupt)
    timer.start()
    try:
        quiet_continue()
    except gdb.error as e:
        raise gdb.GdbError("%s: the target stopped running: %s" % (command, e))
    finally:
        timer.cancel()
    target = gdb.selected_inferior()
    if target.pid == 0 or not target.threads():
        raise gdb.GdbError("%s: the target exited %s" % (command, during))
    return fired.is_set()


def describe_main_thread(main_tid: int) -> str:
    """Where the main thread is, for the timeout message: C function and Python line."""
    for thread in gdb.selected_inferior().threads():
        if thread.ptid[1] != main_tid:
            continue
        thread.switch()
        try:
            name = gdb.newest_frame().name() or "??"
        except gdb.error:
            name = "??"
        where = "in %s()" % name
        try:
            from ..frames import python_stacks

            frames = python_stacks(1).get(main_tid) or []
            if frames:
                where += ", Python at %s:%d in %s" % (frames[0].file, frames[0].line, frames[0].function)
        except Exception:  # frames are a courtesy here; the error message matters
            pass
        return where
    return "gone"

