"""Why the target stopped: our own stop signal (from which thread, sent by whom), or something else
the user should be told about."""

from __future__ import annotations

import signal

import gdb

from . import landing

SI_TKILL = -6


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


def stop_cause() -> str:
    """Why the target stopped when it was not our signal: what the user should be told, and can act on."""
    from . import foreign_sigint  # (it reads siginfo from here)

    foreign = foreign_sigint.last_stop()  # (the stopped thread's own siginfo, read at the stop)
    if foreign is not None:
        return "the target received %s" % foreign.describe()  # (sent to it once gdb lets go)
    try:
        signo = int(gdb.parse_and_eval("$_siginfo.si_signo"))
    except (gdb.error, RuntimeError):
        return "interrupted"
    if signo == signal.SIGINT:
        return "interrupted"
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
