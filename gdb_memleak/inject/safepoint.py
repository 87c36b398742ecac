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
from . import landing, queue_point
from .alarm import continue_for
from .calls import SYSCALL_INSN, Caller, WaitedTooLong, read_register
from .stops import SI_TKILL, siginfo, stop_cause, stopped_by
from .stub import PARK_VALUE
from .waits import Waits, main_thread

SYS_TGKILL = 234
SYS_RT_SIGPROCMASK = 14


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


def _queue_the_pending_call(caller: Caller, pid: int, deadline: float, timeout: float, waits: Waits,
                            breakpoints: bool) -> bool:
    outcome = queue_point.queue_pending_call(caller, pid, deadline,
                                             lambda: require_alive(caller, "while waiting for a safe point"), waits.look,
                                             waits.main_in_event_wait, breakpoints)
    if outcome == queue_point.WAITING:
        return False
    if outcome == queue_point.TIMED_OUT:
        raise _no_safe_point(pid, timeout)
    if outcome == queue_point.NO_BREAKPOINT:
        raise NoSafePointInTime(
            "no safe point within %g s: no thread waited where CPython runs calls, and where the others run cannot "
            "be checked (no usable debug info, and this interpreter's eval loop could not be read or takes locks "
            "itself); only a breakpoint could find one, and a gdb killed while it is in kills the target: "
            "`set py-memleak breakpoints on` allows it; nothing was run in the target" % timeout)
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


def _no_safe_point(pid: int, timeout: float) -> NoSafePoint:
    return NoSafePointInTime("no safe point within %g s: the main thread is %s and did not run the pending call; "
        "nothing was run in the target (try again, or raise --timeout)" % (timeout, describe_main_thread(pid)))


def run_to_safe_point(caller: Caller, pid: int, timeout: float, breakpoints: bool = False) -> SafePoint:
    """Stop the target with a thread at a safe point; a one-line error if none comes in `timeout` s.
    `breakpoints`: the queue point's breakpoint may go in where nothing else can find one (queue_point.py)."""
    deadline = time.monotonic() + timeout
    main = main_thread(pid)
    rip = at_our_raise(main, pid, caller.signal)
    if rip is not None:  # still there since the last command of this session
        return SafePoint("pending-call", main.num, rip)
    waits = Waits(pid, caller.signal)
    if waits.look() or not _queue_the_pending_call(caller, pid, deadline, timeout, waits, breakpoints):
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

