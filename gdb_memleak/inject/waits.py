"""Which thread of the stopped target waits where CPython made the wait for it, the GIL released:
the candidates for a gil-acquired safe point (safepoint.py), and a main thread waiting in an
event loop of C code, from which the pending call may be queued (queue_point.py)."""

from __future__ import annotations

from typing import Optional

import gdb

from ..errors import TargetUnavailable
from ..gdbside import inferior as inf
from . import in_place, landing
from .calls import read_register

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


def main_thread(pid: int) -> gdb.InferiorThread:
    for thread in gdb.selected_inferior().threads():
        if thread.ptid[1] == pid:
            return thread
    raise TargetUnavailable("the target's main thread is gone")


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


class Waits:
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
