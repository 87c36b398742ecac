"""Why the target stopped: our own stop signal (from which thread, sent by whom), or something else
the user should be told about."""

from __future__ import annotations

import os
import signal
from typing import Optional

import gdb

from . import landing

SI_USER, SI_TKILL, SI_KERNEL = 0, -6, 0x80


def siginfo() -> tuple[int, int, int]:
    """(signo, code, sender pid) of the selected thread's last stop signal; zeros if none."""
    try:
        info = gdb.parse_and_eval("$_siginfo")
        return int(info["si_signo"]), int(info["si_code"]), int(info["_sifields"]["_kill"]["si_pid"])
    except (gdb.error, RuntimeError):
        return 0, 0, 0


def stopped_by(thread: gdb.InferiorThread, stop_signal: int, pid: int) -> bool:
    thread.switch()
    signo, code, sender = siginfo()
    return signo == stop_signal and code == SI_TKILL and sender == landing.namespace_pid(pid)


def gdb_seen_from(pid: int) -> int:
    """gdb's pid as target `pid` sees it in a signal's sender: 0 from another PID namespace."""
    try:
        same = os.readlink("/proc/self/ns/pid") == os.readlink("/proc/%d/ns/pid" % pid)
    except OSError:
        same = True
    return os.getpid() if same else 0


def foreign_sigint(pid: int) -> Optional[tuple[int, int, int]]:
    """(tid, code, sender) when the selected thread stopped for a SIGINT gdb did not send: another
    process's `kill -INT`, the target's own terminal (SI_KERNEL).  gdb's interrupt (Ctrl-C in gdb)
    comes from gdb.  None otherwise."""
    signo, code, sender = siginfo()
    if signo != signal.SIGINT or (code in (SI_USER, SI_TKILL) and sender == gdb_seen_from(pid)):
        return None
    return gdb.selected_thread().ptid[1], code, sender


def describe_sigint(code: int, sender: int) -> str:
    if code == SI_KERNEL:
        return "SIGINT from its terminal"
    return "SIGINT from process %d" % sender if sender else "SIGINT from another process"


def stop_cause() -> str:
    """Why the target stopped when it was not our signal: what the user should be told, and can act on."""
    try:
        signo = int(gdb.parse_and_eval("$_siginfo.si_signo"))
    except (gdb.error, RuntimeError):
        return "interrupted"
    if signo == signal.SIGINT:
        inferior = gdb.selected_inferior()
        foreign = foreign_sigint(inferior.pid) if inferior.pid else None
        if foreign is None:
            return "interrupted"
        return "the target received %s" % describe_sigint(*foreign[1:])  # (sent again at the end: gdbstate)
    if signo == signal.SIGSTOP:
        return "the target was stopped with SIGSTOP by another process (kill -CONT resumes it)"
    realtime = signal.SIGRTMIN <= signo <= signal.SIGRTMAX
    if realtime:
        name = "SIGRTMIN+%d" % (signo - signal.SIGRTMIN)
    else:
        try:
            name = signal.Signals(signo).name
        except ValueError:
            name = "signal %d" % signo
    # gdb names the real-time signals SIG34...: that is what its `handle` takes.
    return ("the target received %s, which gdb stops on (gdb's 'handle %s nostop noprint' lets it through)"
            % (name, "SIG%d" % signo if realtime else name))
