"""Why a command cannot go on: one exception type per kind of reason, each a one-line message.

Raised anywhere (gdb side, channel, commands, CLI) and turned into output in one
place: commands/base.py for gdb (prefixed with the command's name, one line; the
tracebacks only with `set py-memleak verbose on`), cli/ for the shell.  Callers
test the type, never the text.  Pure: imports nothing of ours, and not gdb.
"""

from __future__ import annotations


class MemleakError(Exception):
    """A reason the command stopped, for the user.  `hint` says what to do about it, if anything."""

    hint = ""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return "%s (%s)" % (text, self.hint) if self.hint else text


class UsageError(MemleakError):
    """The command's arguments cannot be used (a bad mark name, a graph path that cannot be written)."""


class TargetUnavailable(MemleakError):
    """No live, stopped CPython process to work on: none attached, running, a core file, exited, not CPython."""


class TargetReplaced(TargetUnavailable):
    """The target executed a new program (exec) during the command: nothing of ours is in the new one."""


class Refused(MemleakError):
    """The target is there but the command will not run in it: it opted out (PEP 768), a memory guard,
    an architecture or gdb mode we do not inject into.  Nothing was run in the target."""


class NoThreadOfItsOwn(Refused):
    """The payload may only run in a thread of gdb-memleak's own, and none could be started in the target
    (before 3.7, under seccomp, a limit on threads): it went back without anything run."""


class OptedOut(Refused):
    """The target opted out of remote code execution (PEP 768): py-heap and py-cycles read its memory instead."""

    def __init__(self, why: str) -> None:
        super().__init__("the target opted out of remote code execution (%s, PEP 768); nothing was run in it "
                         "(--force runs the command anyway)" % why)
        self.why = why


class NoRoom(Refused):
    """The command would need more memory in the target than the machine or its cgroup has left."""


class NoSafePoint(MemleakError):
    """The target did not reach a safe point in time, or the wait was interrupted.  Nothing was run in it."""


class NoSafePointInTime(NoSafePoint):
    """The wait for a safe point ran out of time (not interrupted): py-heap reads memory instead where it can."""


class ChannelError(MemleakError):
    """The way into the target failed part way (an allocation, a call, the answer).  The target is put back."""


class EndedMidCall(ChannelError):
    """gdb was told to end (SIGTERM, SIGHUP), or interrupted twice, while a call ran in the target: its thread
    finishes it by itself."""


class NotFound(MemleakError):
    """A name the user gave (a mark, a type) does not exist in the target."""


class ToolMissing(MemleakError):
    """guppy3 or objgraph cannot be imported in the target."""


class OutputError(MemleakError):
    """The result could not be written or drawn (a graph file, dot)."""


class PayloadFailed(MemleakError):
    """A payload raised in the target.  The message is the exception's last line and where it was raised;
    `target_traceback` keeps the target's traceback text (shown with `set py-memleak verbose on`)."""

    def __init__(self, message: str, target_traceback: str = "") -> None:
        super().__init__(message)
        self.target_traceback = target_traceback
