"""A SIGINT the target received during a command from someone other than gdb, sent to it once gdb lets go.

gdb stops on SIGINT and never passes it on (it takes every SIGINT for its own Ctrl-C), so a
`kill -INT` from a supervisor, or the target's own terminal, was lost: the command answered and
the service went on (2026-12-06).  The sender in the signal's siginfo tells them apart: gdb's
interrupt comes from gdb (kill(2), SI_USER), or from the terminal gdb shares with the target.
Such a SIGINT is owed to the target and sent once gdb no longer traces it (its detach, gdb
quitting: plugin.py), to the main thread as the kernel would pick it (_send).  Sent while gdb
still held the target, it stopped every later command of the session at once (a review's trial,
2026-12-06).  An exec drops it: the new program never had it.
"""

from __future__ import annotations

import ctypes
import os
import signal
from dataclasses import dataclass
from typing import Optional

import gdb

from ..host import procfs
from .stops import siginfo

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


def gdb_seen_from(pid: int) -> int:
    """gdb's pid as target `pid` sees it in a signal's sender: 0 from another PID namespace."""
    try:
        same = os.readlink("/proc/self/ns/pid") == os.readlink("/proc/%d/ns/pid" % pid)
    except OSError:
        same = True
    return os.getpid() if same else 0


def _tty(pid: str) -> int:
    fields = (procfs.read_small_file("/proc/%s/stat" % pid) or "").rpartition(")")[2].split()
    return int(fields[4]) if len(fields) > 4 and fields[4].lstrip("-").isdigit() else 0


def of_selected_thread(pid: int) -> Optional[ForeignSigint]:
    """The selected thread's stop, when it is a SIGINT gdb did not send."""
    signo, code, sender = siginfo()
    if signo != signal.SIGINT:
        return None
    if code in (SI_USER, SI_TKILL) and sender == gdb_seen_from(pid):
        return None  # gdb's own interrupt
    if code == SI_KERNEL and _tty(str(pid)) != 0 and _tty(str(pid)) == _tty("self"):
        return None  # Ctrl-C at the terminal gdb shares with the target: the user's, for gdb
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
        gdb.events.clear_objfiles.connect(self._on_exec)
        self.connected = True
        _LISTENING.append(self)

    def disconnect(self) -> None:
        if self.connected:  # (disconnecting what is not connected raises SystemError in gdb 13)
            self.connected = False
            _LISTENING.remove(self)
            gdb.events.stop.disconnect(self._on_stop)
            gdb.events.clear_objfiles.disconnect(self._on_exec)

    def _on_stop(self, event: object) -> None:
        self.last_stop = None
        try:
            if getattr(event, "stop_signal", None) == "SIGINT" and gdb.selected_inferior().pid == self.pid:
                self.last_stop = of_selected_thread(self.pid)
                if self.last_stop is not None:
                    self.noted.append(self.last_stop)
        except (gdb.error, RuntimeError, OSError):
            pass

    def _on_exec(self, _event: object) -> None:
        self.noted.clear()

    def owe(self) -> Optional[str]:
        """The command is over: what it noted is owed to the target (give_owed); what to tell the user."""
        noted, self.noted = self.noted, []
        start = procfs.start_time(self.pid) if self.pid else 0
        if not noted or start <= 0:
            return None
        _OWED[self.pid] = start
        return ("the target received %s during the command; gdb stops on every SIGINT and does not pass it on, "
                "so gdb-memleak sends one to the target once gdb lets go of it (detach, quit)" % noted[0].describe())


_LISTENING: list[Listener] = []
# pid -> its start time: a SIGINT owed to a process gdb still traced
_OWED: dict[int, int] = {}


def last_stop() -> Optional[ForeignSigint]:
    """The command's last stop, when it was a foreign SIGINT (stops.stop_cause)."""
    return _LISTENING[-1].last_stop if _LISTENING else None


def give_owed(traced: set[int]) -> None:
    """Each owed SIGINT whose process gdb no longer traces (`traced`: the pids gdb's inferiors have now),
    sent by _send.  Not to another process that took the pid since: the start time is read again once
    a pidfd holds the process."""
    for pid in [pid for pid in _OWED if pid not in traced]:
        start = _OWED.pop(pid)
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            continue  # gone
        try:
            if procfs.start_time(pid) != start:
                continue  # another process has the pid now
            if "\nTracerPid:\t%d\n" % os.getpid() in (procfs.read_small_file("/proc/%d/status" % pid) or ""):
                _OWED[pid] = start  # this gdb traces it again: still owed
                continue
            _send(pid, pidfd)
        except OSError:
            pass
        finally:
            os.close(pidfd)


def _send(pid: int, pidfd: int) -> None:
    """To the main thread unless it blocks SIGINT, as the kernel picks when the main thread can take it:
    CPython's handlers run there, and its lock waits end only when the signal hits that thread (sent to
    the process, it went to a heartbeat thread in 1 run of 10 and the service's Event().wait() never
    raised its KeyboardInterrupt, 2026-12-06)."""
    main = procfs.read_small_file("/proc/%d/task/%d/status" % (pid, pid)) or ""
    blocked = next((int(line.split()[1], 16) for line in main.splitlines() if line.startswith("SigBlk:")), 0)
    if main and not blocked & (1 << (signal.SIGINT - 1)):
        if ctypes.CDLL(None, use_errno=True).syscall(SYS_TGKILL, pid, pid, signal.SIGINT) == 0:
            return
    signal.pidfd_send_signal(pidfd, signal.SIGINT)
