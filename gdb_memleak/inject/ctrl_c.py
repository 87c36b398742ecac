"""gdb's own Ctrl-C while a call runs in the target: the first is noted, a second ends the wait.

A call in flight used to ignore Ctrl-C, silently, up to the call's limit (600 s; issue 17: a
payload an audit hook blocked, "Ctrl-C had no effect").  Waiting is still right for one: the
call usually finishes, and its answer is the command's.  A second Ctrl-C leaves the call to
finish in the target by itself, as gdb's end does (calls.py), which is safe at any instant.

Two SIGINT stops from one keypress (the terminal's, when the target shares gdb's terminal,
then gdb's own) come within a few ms: one DEBOUNCE or more after the first is another keypress.
"""

from __future__ import annotations

import signal
import time
from typing import Optional

import gdb

from ..gdbside.invocation import note
from . import foreign_sigint
from .stops import siginfo

DEBOUNCE = 0.3  # seconds


def stopped_by_gdb_s_interrupt(pid: int) -> bool:
    """The last stop is gdb's own Ctrl-C, not a foreign SIGINT (foreign_sigint.py)."""
    thread = gdb.selected_thread()
    return bool(thread and thread.is_valid() and siginfo()[0] == signal.SIGINT
                and not foreign_sigint.of_selected_thread(pid))


class CtrlC:
    """A command's Ctrl-Cs during its calls (one Caller's)."""

    def __init__(self) -> None:
        self.first: Optional[float] = None

    def ends_call(self, pid: int, what: str) -> bool:
        """Look at the target's last stop: True when it is a second Ctrl-C, which ends the wait."""
        if not stopped_by_gdb_s_interrupt(pid):
            return False
        now = time.monotonic()
        if self.first is None:
            self.first = now
            note("the target's %s() is still running; Ctrl-C again leaves it to finish in the target by "
                 "itself, and this command ends without its answer" % what)
            return False
        return now - self.first >= DEBOUNCE
