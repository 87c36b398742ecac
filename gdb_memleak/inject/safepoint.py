"""Bring the target to a safe point: a thread that holds the GIL where CPython itself would run Python.

Running Python wherever gdb happens to have stopped the target can deadlock it
(a thread inside malloc holding the arena lock) or corrupt its heap (a thread
in the middle of pymalloc); see docs/safety.md.  Two kinds of safe point, both
reached without a breakpoint:

* gil-acquired: a thread that waits in a blocking system call CPython made for
  it (sleep, select, a lock, a socket), with the GIL released, calls
  PyGILState_Ensure().  When the GIL comes, the thread holds it as if its wait
  had ended: the payload runs there.  Another thread first: Python signal
  handlers and pending calls run only in the main thread, so they stay out of
  the payload.  The stub's way back releases the GIL again (PyGILState_Release),
  with gdb or without.  A thread waiting for the GIL itself is not chosen.
* pending-call: when no thread waits (one thread running pure Python),
  `Py_AddPendingCall(raise, SIG)` is queued; the main thread runs it between two
  bytecodes, holding the GIL, and stops itself inside raise().  raise() returns
  0, so for the interpreter the pending call is a no-op, and if gdb has died by
  then, SIG (ignored by default, not caught: landing.stop_signal) does nothing.
  The queuing call is made from a thread a look finds in the eval loop, or from a
  main thread waiting in an event loop of C code (queue_point.py).  After the
  command, the main thread runs its tgkill again and stops where it was.  Before
  glibc 2.34, raise() blocks signals around its tgkill: the thread stops when it
  puts the mask back, and is let go as a gil-acquired one is (at_our_masked_raise).
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Optional

import gdb

from ..errors import ChannelError, NoSafePoint, NoSafePointInTime, TargetReplaced, TargetUnavailable
from ..gdbside import inferior as inf
from . import in_place, landing, queue_point
from .alarm import continue_for
from .calls import SYSCALL_INSN, Caller, WaitedTooLong, read_register
from .stops import SI_TKILL, siginfo, stop_cause, stopped_by
from .stub import PARK_VALUE

SYS_TGKILL = 234
SYS_RT_SIGPROCMASK = 14
SYS_FUTEX = 202

# Blocking waits, x86-64 numbers: a thread in one of these is parked outside any lock
# of the interpreter's, in a libc wrapper whose vector registers are dead.
BLOCKING_WAITS = {
    0: "read", 7: "poll", 23: "select", 34: "pause", 35: "nanosleep", 43: "accept", 45: "recvfrom",
    47: "recvmsg", 61: "wait4", 128: "rt_sigtimedwait", 130: "rt_sigsuspend", 202: "futex", 230: "clock_nanosleep",
    232: "epoll_wait", 247: "waitid", 270: "pselect6", 271: "ppoll", 281: "epoll_pwait", 288: "accept4"}
# An event loop's waits in C code (gevent's libev, uvloop's libuv): a main thread there runs Python
# at each wakeup, and a pending call then.  Not locks (futex): one may be waited for inside malloc.
EVENT_WAITS = {7, 23, 35, 230, 232, 270, 271, 281}
# Code that holds the pending-call lock, or runs in a signal handler: no call from there.
_UNSAFE_FRAMES = ("PendingCall", "pending_call", "make_pending", "pending_calls")


@dataclass
class SafePoint:
    kind: str  # "gil-acquired", "pending-call", or "own-thread" (own_thread.py)
    thread_num: int
    raise_rip: Optional[int]  # pending-call: just after raise()'s tgkill, run again after (None before glibc 2.34)
    started_from: Optional[SafePoint] = None  # own-thread: the safe point that started it

    def describe(self) -> str:
        """For a command's last line: "in thread 3 at a gil-acquired safe point"."""
        if self.started_from is None:
            return "in thread %d at a %s safe point" % (self.thread_num, self.kind)
        return "in a thread of its own, started from thread %d at a %s safe point" % (self.started_from.thread_num, self.started_from.kind)


def main_thread(pid: int) -> gdb.InferiorThread:
    for thread in gdb.selected_inferior().threads():
        if thread.ptid[1] == pid:
            return thread
    raise TargetUnavailable("the target's main thread is gone")


def at_our_raise(main: gdb.InferiorThread, pid: int, stop_signal: int) -> Optional[int]:
    """If the main thread is stopped by its own tgkill of `stop_signal` (our pending call), its rip."""
    return _our_raise_stop(main, pid, stop_signal, SYS_TGKILL)


def at_our_masked_raise(main: gdb.InferiorThread, pid: int, stop_signal: int) -> bool:
    """The same stop in a glibc before 2.34, whose raise() blocks signals around its tgkill: the
    signal comes when raise() puts the mask back (rt_sigprocmask).  Running that again would not
    stop it again, so such a safe point is left as a gil-acquired one is (back_to_safe_point)."""
    rip = _our_raise_stop(main, pid, stop_signal, SYS_RT_SIGPROCMASK)
    name = gdb.newest_frame().name() or ""
    return rip is not None and ("raise" in name or name == "gsignal")


def _our_raise_stop(main: gdb.InferiorThread, pid: int, stop_signal: int, syscall: int) -> Optional[int]:
    main.switch()
    frame = gdb.newest_frame()
    signo, code, sender = siginfo()
    if signo != stop_signal or code != SI_TKILL or sender != landing.namespace_pid(pid):
        return None
    rip = int(frame.read_register("rip"))
    if read_register(frame, "orig_rax") != syscall:
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
    in_syscall = read_register(frame, "orig_rax")
    if in_syscall not in BLOCKING_WAITS:
        return False
    if in_syscall == SYS_FUTEX and _in_the_runtime(int(frame.read_register("rdi"))):
        return False
    if landing.thread_blocks(pid, thread.ptid[1], stop_signal):
        return False
    for _ in range(24):
        if frame.type() == gdb.SIGTRAMP_FRAME or any(k in (frame.name() or "") for k in _UNSAFE_FRAMES):
            return False
        try:
            frame = frame.older()  # type: ignore[assignment]  # None ends the loop
        except gdb.error:
            break
        if frame is None:
            break
    return True


def _in_the_runtime(address: int) -> bool:
    """The futex word lies in _PyRuntime: the GIL's condition variable or mutex (3.x; the main
    interpreter's own GIL lives there too from 3.12).  A thread waiting for the GIL must not be
    made to wait for it again from inside that wait: glibc's condition variable deadlocked
    (seen 2026-12-01, 3.11, a thread in take_gil)."""
    try:
        where = gdb.execute("info symbol %d" % address, to_string=True)
    except gdb.error:
        return False
    return where.startswith("_PyRuntime ")



def _runtime_made_the_call(thread: gdb.InferiorThread) -> bool:
    """The innermost frame outside the C library is CPython's: the runtime, or a standard-library
    extension module (lib-dynload: select, _socket...).  Those release the GIL around every wait;
    a foreign extension might wait holding it."""
    _, runtime, _ = inf.running_runtime()
    if runtime is None:
        return False
    thread.switch()
    frame = gdb.newest_frame()
    for _ in range(8):
        where = gdb.solib_name(frame.pc()) or inf._exe_name()
        if "/libc." not in where and "/libc-" not in where and "libpthread" not in where:
            return inf._same_file(where, runtime) or "/lib-dynload/" in where
        try:
            frame = frame.older()  # type: ignore[assignment]  # None ends the loop
        except gdb.error:
            return False
        if frame is None:
            return False
    return False


def _queue_the_pending_call(caller: Caller, pid: int, deadline: float, timeout: float, waits: _Waits) -> bool:
    outcome = queue_point.queue_pending_call(caller, pid, deadline,
                                             lambda: require_alive(caller, "while waiting for a safe point"), waits.look,
                                             waits.main_in_event_wait)
    if outcome == queue_point.WAITING:
        return False
    if outcome == queue_point.TIMED_OUT:
        raise _no_safe_point(pid, timeout)
    if outcome == queue_point.MASKED:
        raise NoSafePointInTime(
            "no safe point: the threads found running CPython's code, %d times in a row, block %s, which "
            "gdb-memleak stops threads with (as uWSGI's worker threads do); nothing was run in the target"
            % (queue_point.MASKED_HITS, signal.Signals(caller.signal).name))
    if outcome == queue_point.CALL_LEFT:
        raise NoSafePoint(
            "the call that queues the pending call did not come back within %g s; its thread finishes it by "
            "itself, and the main thread will then run a pending call that does nothing; nothing else was run "
            "in the target" % queue_point.QUEUE_CALL_FLOOR)
    if outcome == queue_point.OTHER_STOP:
        raise NoSafePoint("%s before a safe point was reached; nothing was run in the target" % stop_cause())
    if outcome == queue_point.QUEUE_FULL:
        raise NoSafePoint("the target's pending-call queue is full; nothing was run in the target (try again)")
    return True


class _Waits:
    """Finds a thread blocked in a wait CPython made for it with the GIL released, at the first stop
    and at each look of the queue point (a thread that ran then may wait now).  A thread passed over
    in one wait (the same system call, first argument, stack pointer and place) is not unwound
    again: each look stops the whole target."""

    def __init__(self, pid: int, stop_signal: int) -> None:
        self.pid, self.stop_signal = pid, stop_signal
        self.passed: set[tuple[int, tuple[bytes, ...]]] = set()  # (tid, _wait_key of its /proc syscall line)
        self.found: Optional[gdb.InferiorThread] = None
        self.can_take_gil = inf.minimal_symbol_address("PyGILState_Ensure") is not None
        self.event_wait: Optional[tuple[bytes, ...]] = None  # the main thread's last wait in an event loop of C

    def look(self) -> bool:
        if not self.can_take_gil:
            return False
        main = main_thread(self.pid)
        for thread in [main] + [t for t in gdb.selected_inferior().threads() if t != main]:
            if not thread.is_valid():
                continue
            tid = thread.ptid[1]
            line = in_place.syscall_line(self.pid, tid)  # None: unreadable, so gdb's registers tell
            key = (tid, _wait_key(line)) if line is not None else None
            if line is not None and (key in self.passed or not _in_blocking_wait(line)):
                continue
            if landing.thread_blocks(self.pid, tid, self.stop_signal):
                continue  # its mask may change: not remembered
            if _blocked_in_wait(thread, self.stop_signal, self.pid):
                if _runtime_made_the_call(thread):
                    self.found = thread
                    return True
                if tid == self.pid and line is not None and int(line.split()[0]) in EVENT_WAITS:
                    self.event_wait = _wait_key(line)
            if key is not None:
                self.passed.add(key)
        return False

    def main_in_event_wait(self) -> Optional[gdb.InferiorThread]:
        """The main thread if it still waits where look() found it in an event loop's wait in C code,
        outside signal handlers and pending-call code, and the queue call is safe there (the stop
        signal not blocked, the 3.13+ pending mutex free).  No GIL needed; the wait is restarted."""
        line = in_place.syscall_line(self.pid, self.pid)
        if self.event_wait is None or line is None or _wait_key(line) != self.event_wait:
            return None
        if landing.thread_blocks(self.pid, self.pid, self.stop_signal) or in_place.pending_mutex_held(self.pid):
            return None
        return main_thread(self.pid)


def _wait_key(syscall_line: bytes) -> tuple[bytes, ...]:
    """The system call, its first argument (a futex's word: the GIL's or a lock's), the stack
    pointer and the place: one wait, whatever its changing timeouts and values."""
    fields = syscall_line.split()
    return tuple(fields[:2] + fields[-2:])


def _in_blocking_wait(syscall_line: bytes) -> bool:
    fields = syscall_line.split()
    try:
        return len(fields) == 9 and int(fields[0]) in BLOCKING_WAITS
    except ValueError:
        return False


def _no_safe_point(pid: int, timeout: float) -> NoSafePoint:
    return NoSafePointInTime("no safe point within %g s: the main thread is %s and did not run the pending call; "
        "nothing was run in the target (try again, or raise --timeout)" % (timeout, describe_main_thread(pid)))


def run_to_safe_point(caller: Caller, pid: int, timeout: float) -> SafePoint:
    """Stop the target with a thread at a safe point; a one-line error if none comes in `timeout` s."""
    deadline = time.monotonic() + timeout
    main = main_thread(pid)
    rip = at_our_raise(main, pid, caller.signal)
    if rip is not None:  # still there since the last command of this session
        return SafePoint("pending-call", main.num, rip)
    waits = _Waits(pid, caller.signal)
    if waits.look() or not _queue_the_pending_call(caller, pid, deadline, timeout, waits):
        assert waits.found is not None
        # a thread found at the wait's last look gets the queue call's floor too
        return _take_the_gil(caller, waits.found, pid, max(deadline, time.monotonic() + queue_point.QUEUE_CALL_FLOOR), timeout)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _no_safe_point(pid, timeout)
        fired = continue_for(pid, remaining, caller.signal)
        stopped = gdb.selected_thread()  # the thread whose stop ended the continue
        require_alive(caller, "while waiting for a safe point")
        rip = at_our_raise(main, pid, caller.signal) if main.is_valid() else None
        if rip is not None:
            return SafePoint("pending-call", main.num, rip)
        if main.is_valid() and at_our_masked_raise(main, pid, caller.signal):
            return SafePoint("pending-call", main.num, None)
        if fired:
            raise _no_safe_point(pid, timeout)
        if stopped is not None and stopped.is_valid() and (stopped_by(stopped, caller.signal, pid)
                                                           or siginfo()[0] == caller.signal):
            continue  # our own signal, from a stub that has finished or a late alarm: not a stop for us
        raise NoSafePoint("%s before a safe point was reached; nothing was run in the target" % stop_cause())


def _take_the_gil(caller: Caller, waiting: gdb.InferiorThread, pid: int, deadline: float, timeout: float) -> SafePoint:
    waiting.switch()
    try:
        caller.call_many([("PyGILState_Ensure", ())], keep_first=True,
                         epilogue=[("PyGILState_Release", (PARK_VALUE,))], deadline=deadline)
    except WaitedTooLong:
        raise NoSafePointInTime("no safe point within %g s: thread %d waited for the GIL all that time (the main thread is %s); "
            "nothing was run in the target, and that thread takes and gives back the GIL by itself when it comes" % (timeout, waiting.num, describe_main_thread(pid))) from None
    return SafePoint("gil-acquired", waiting.num, None)


def run_until(caller: Caller, pid: int, done: Callable[[], bool], timeout: float, during: str) -> None:
    """Let the target run until `done()` (at most `timeout` s), before any safe point is sought:
    nothing of ours is in it.  Not when the main thread is still at the last command's pending-call
    safe point, which it would leave: then nothing is done."""
    if done() or at_our_raise(main_thread(pid), pid, caller.signal) is not None:
        return
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        fired = continue_for(pid, deadline - time.monotonic(), caller.signal, until=done)
        require_alive(caller, during)
        # Our stop signal from anyone (an alarm of an earlier continue that came late, a terminal's
        # SIGWINCH) is only a stop: the target ignores that signal, and runs on.
        if not fired and siginfo()[0] != caller.signal:
            raise NoSafePoint("%s %s; nothing was run in the target" % (stop_cause(), during))


def require_alive(caller: Caller, during: str) -> None:
    if caller.replaced:
        raise TargetReplaced(replaced_message(during))
    target = gdb.selected_inferior()
    if target.pid == 0 or not target.threads():
        raise TargetUnavailable("the target exited %s" % during)


def replaced_message(during: str) -> str:
    return ("the target executed a new program (exec) %s; what it ran before is gone, with anything "
            "of gdb-memleak's, and nothing was run in the new one" % during)


@contextlib.contextmanager
def watching_for_exec(caller: Caller) -> Iterator[None]:
    """An exec of the target makes gdb clear its objfiles: from then on the caller counts the
    target as gone, so nothing is written at addresses that meant something in the old program."""
    def replaced(_event: object) -> None:
        caller.replaced = caller.gone = True
        caller.parked = None

    gdb.events.clear_objfiles.connect(replaced)
    try:
        yield
    finally:
        gdb.events.clear_objfiles.disconnect(replaced)


def back_to_safe_point(caller: Caller, safe_point: SafePoint, pid: int) -> None:
    """After the command: the thread goes back, and the target is stopped again with no thread in our code.

    A pending-call safe point runs its tgkill again and stops where it was; a
    gil-acquired one gives the GIL back and returns to its wait."""
    if caller.parked is None:
        return
    if safe_point.raise_rip is not None:
        caller.release(resume=safe_point.raise_rip - len(SYSCALL_INSN), rax=SYS_TGKILL)
        main = main_thread(pid)
        for _ in range(64):
            continue_for(pid, 5.0, caller.signal)
            require_alive(caller, "after the command")
            if at_our_raise(main, pid, caller.signal) == safe_point.raise_rip:
                return
        raise ChannelError("the main thread did not stop again after the command")
    caller.release()
    for _ in range(200):
        continue_for(pid, 0.005, caller.signal)
        require_alive(caller, "after the command")
        if caller.thread_in_padding() is None:
            return
    raise ChannelError("a thread did not leave gdb-memleak's code after the command")


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
            from ..gdbside.frames import python_stacks

            frames = python_stacks(1).get(main_tid) or []
            if frames:
                where += ", Python at %s:%d in %s" % (frames[0].file, frames[0].line, frames[0].function)
        except Exception:  # frames are a courtesy here; the error message matters
            pass
        return where
    return "gone"

