"""A SIGINT the target received during a command from someone other than gdb, given to it once gdb lets go.

gdb stops on SIGINT and never passes it on (it takes every SIGINT for its own Ctrl-C), so a
`kill -INT` from a supervisor, or the target's own terminal, was lost: the command answered and
the service went on (2026-12-06).  The sender in the signal's siginfo tells them apart: gdb's
interrupt comes from gdb (kill(2), SI_USER).  Such a SIGINT is owed to the target, and sent with
tgkill once gdb no longer traces it (its detach, gdb quitting: plugin.py), to the thread that took
it: a process-wide signal sent while every thread is stopped may be taken by another thread, and
a main thread waiting for good (`Event().wait()`) then never raised its KeyboardInterrupt.  Sent
while gdb still held the target, it stopped every later command of the session at once, gdb
stopping on it again (a review's trial, 2026-12-06).
"""

from __future__ import annotations

import ctypes
import os
import signal
from dataclasses import dataclass
from typing import Optional

import gdb

from ..host import procfs

SI_USER, SI_TKILL, SI_KERNEL = 0, -6, 0x80
SYS_TGKILL = 234  # x86-64


@dataclass(frozen=True)
class ForeignSigint:
    tid: int
    code: int
    sender: int

    def describe(self) -> str:
        if self.code == SI_KERNEL:
            return "SIGINT from its terminal"
        return "SIGINT from process %d" % self.sender if self.sender else "SIGINT from another process"


def _siginfo() -> tuple[int, int, int]:
    try:
        info = gdb.parse_and_eval("$_siginfo")
        return int(info["si_signo"]), int(info["si_code"]), int(info["_sifields"]["_kill"]["si_pid"])
    except (gdb.error, RuntimeError):
        return 0, 0, 0


def gdb_seen_from(pid: int) -> int:
    """gdb's pid as target `pid` sees it in a signal's sender: 0 from another PID namespace."""
    try:
        same = os.readlink("/proc/self/ns/pid") == os.readlink("/proc/%d/ns/pid" % pid)
    except OSError:
        same = True
    return os.getpid() if same else 0


def of_selected_thread(pid: int) -> Optional[ForeignSigint]:
    """The selected thread's stop, when it is a SIGINT gdb did not send."""
    signo, code, sender = _siginfo()
    if signo != signal.SIGINT:
        return None
    if code in (SI_USER, SI_TKILL) and sender == gdb_seen_from(pid):
        return None  # gdb's own interrupt
    return ForeignSigint(gdb.selected_thread().ptid[1], code, sender)


class Listener:
    """For a command's length: the foreign SIGINTs gdb stopped on, and whether the last stop was one."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.noted: list[ForeignSigint] = []
        self.last_stop: Optional[ForeignSigint] = None
        self.connected = False

    def connect(self) -> None:
        gdb.events.stop.connect(self._on_stop)
        self.connected = True
        _LISTENING.append(self)

    def disconnect(self) -> None:
        if self.connected:  # (disconnecting what is not connected raises SystemError in gdb 13)
            gdb.events.stop.disconnect(self._on_stop)
            self.connected = False
            _LISTENING.remove(self)

    def _on_stop(self, event: object) -> None:
        self.last_stop = None
        try:
            if getattr(event, "stop_signal", None) == "SIGINT":
                self.last_stop = of_selected_thread(self.pid)
                if self.last_stop is not None:
                    self.noted.append(self.last_stop)
        except (gdb.error, RuntimeError, OSError):
            pass

    def owe(self) -> Optional[str]:
        """The command is over: what it noted is owed to the target (give_owed); what to tell the user."""
        if not self.noted or not self.pid:
            return None
        first, self.noted = self.noted[0], []
        _OWED[self.pid] = (procfs.start_time(self.pid), first.tid)
        return ("the target received %s during the command; gdb holds it (gdb stops on every SIGINT), and "
                "gdb-memleak gives it to the target once gdb lets go of it (detach, quit)" % first.describe())


# pid -> (its start time, the thread that took it): a SIGINT owed to a process gdb still traced
_OWED: dict[int, tuple[int, int]] = {}


def give_owed(traced: set[int]) -> None:
    """Each owed SIGINT whose process gdb no longer traces (`traced`: the pids gdb's inferiors have now),
    to the thread that took it, or the main thread if that one has ended.  Not to another process that
    took the pid since."""
    for pid in [pid for pid in _OWED if pid not in traced]:
        start, tid = _OWED.pop(pid)
        if procfs.start_time(pid) != start:
            continue  # another process has the pid now
        if "\nTracerPid:\t%d\n" % os.getpid() in (procfs.read_small_file("/proc/%d/status" % pid) or ""):
            _OWED[pid] = (start, tid)  # this gdb traces it again: still owed
            continue
        if _tgkill(pid, tid) != 0:
            _tgkill(pid, pid)


_LISTENING: list[Listener] = []


def last_stop() -> Optional[ForeignSigint]:
    """The command's last stop, when it was a foreign SIGINT (stops.stop_cause)."""
    return _LISTENING[-1].last_stop if _LISTENING else None


def _tgkill(pid: int, tid: int) -> int:
    return ctypes.CDLL(None, use_errno=True).syscall(SYS_TGKILL, pid, tid, signal.SIGINT)
