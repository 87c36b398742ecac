"""A child process of gdb's, watched and ended through a pidfd, never through its pid.

gdb waits for its inferiors with waitpid(-1) and so reaps children of ours too.  From then on
their pid is free, and a new thread of the target can get it (pid_max is 32768 here); a
waitpid(pid) or kill(pid) of subprocess's would then wait for a thread gdb traces (stealing
its stop from gdb) or SIGKILL the whole target (a review's find, 2026-12-04, reproduced with a
traced thread of its own).  A pidfd refers to the one process it was opened for, whoever
reaps it.  Pure: imports nothing of gdb.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
from typing import IO, Optional


class Child:
    """A process started with subprocess (its file descriptors closed, its environment given)
    and then known only by a pidfd.  Without pidfds (before Linux 5.3 or Python 3.9), none is
    started: start() gives None."""

    def __init__(self, proc: subprocess.Popen, pidfd: int) -> None:
        self._pidfd: Optional[int] = pidfd
        # subprocess would poll and kill by pid (its wait(), poll(), __del__): told it is over.
        proc.returncode = 0

    @classmethod
    def start(cls, argv: list[str], stdin: Optional[IO[bytes]], stdout: IO[bytes],
              env: dict[str, str]) -> Optional[Child]:
        if not hasattr(os, "pidfd_open") or not hasattr(os, "P_PIDFD") or not hasattr(signal, "pidfd_send_signal"):
            return None
        try:
            proc = subprocess.Popen(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL, stdout=stdout,
                                    stderr=subprocess.DEVNULL, cwd="/", env=env)
        except (OSError, subprocess.SubprocessError):
            return None
        try:
            # At once: the child (a gdb, a python) runs for milliseconds at least, so its pid is still its own.
            pidfd = os.pidfd_open(proc.pid)
        except OSError:
            proc.kill()  # (not reaped by anyone yet: gdb is not waiting now)
            proc.wait()
            return None
        return cls(proc, pidfd)

    def exited(self) -> bool:
        """It has ended (or was never watched); reaped here if gdb has not done so."""
        if self._pidfd is None:
            return True
        readable, _, _ = select.select([self._pidfd], [], [], 0)
        if not readable:
            return False
        self._reap()
        return True

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for it to end; whether it has (reaped then, as exited() does)."""
        if self._pidfd is not None:
            select.select([self._pidfd], [], [], max(seconds, 0.0))
        return self.exited()

    def end(self) -> None:
        """SIGKILL it if it runs, reap it, and forget it."""
        if self._pidfd is None:
            return
        try:
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        except OSError:
            pass  # ended already
        select.select([self._pidfd], [], [], 5.0)
        self._reap()

    def _reap(self) -> None:
        pidfd, self._pidfd = self._pidfd, None
        if pidfd is None:
            return
        try:
            os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)
        except OSError:
            pass  # gdb's waitpid(-1) reaped it first
        finally:
            os.close(pidfd)
