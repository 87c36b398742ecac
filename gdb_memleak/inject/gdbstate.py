"""What a command changes in gdb's own settings, put back exactly as it was."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Optional

import gdb

from ..gdbside.invocation import note
from . import stops
from .landing import STOP_SIGNALS

WATCHED_SIGNALS = ("SIGINT",) + tuple(STOP_SIGNALS.values())


def signal_handling(name: str) -> str:
    """'stop print nopass'-style words for a signal's current gdb handling."""
    text = gdb.execute("info signals " + name, to_string=True)
    for line in text.splitlines():
        words = line.split()
        if words and words[0] == name and len(words) >= 4:
            stop, printed, passed = (w == "Yes" for w in words[1:4])
            return " ".join(["stop" if stop else "nostop", "print" if printed else "noprint", "pass" if passed else "nopass"])
    return ""


@dataclass
class SavedGdbState:
    thread: Optional[gdb.InferiorThread] = None
    frame_level: int = 0
    disabled: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    signals: dict = field(default_factory=dict)
    catchpoints: list = field(default_factory=list)
    pid: int = 0
    # SIGINTs the target received from others than gdb meanwhile, (tid, code, sender): gdb stops on
    # SIGINT and never passes it (its Ctrl-C); the target's own is sent again at the end.
    foreign_sigints: list = field(default_factory=list)
    listening: bool = False

    SETTINGS = ("scheduler-locking", "print thread-events")

    def save(self, stop_signal: str) -> None:
        self.thread = gdb.selected_thread()
        self.pid = gdb.selected_inferior().pid
        try:
            self.frame_level = gdb.selected_frame().level()
        except gdb.error:
            self.frame_level = 0
        for name in self.SETTINGS:
            self.settings[name] = gdb.parameter(name)
        for name in WATCHED_SIGNALS:
            self.signals[name] = signal_handling(name)
        self.disabled = [bp for bp in gdb.breakpoints() if bp.enabled]
        for bp in self.disabled:
            bp.enabled = False
        # Other threads run while one runs our calls, as they would run anyway.
        gdb.execute("set scheduler-locking replay", to_string=True)
        gdb.execute("set print thread-events off", to_string=True)
        # Our stop signal stops, silently, and never reaches the target while gdb is there.
        # A silent catchpoint, not `handle stop`: gdb 13 prints every signal stop, even under
        # to_string and with its output redirected.
        gdb.execute("handle %s nostop noprint nopass" % stop_signal, to_string=True)
        before = set(gdb.breakpoints())
        gdb.execute("catch signal %s" % stop_signal, to_string=True)
        # An exec ends a call's wait: gdb follows an exec without stopping, and a `continue` waiting
        # for a stop in a thread the exec ended waited for good (a payload's call, 2026-12-06).
        gdb.execute("catch exec", to_string=True)
        self.catchpoints = [bp for bp in gdb.breakpoints() if bp not in before]
        for bp in self.catchpoints:
            bp.silent = True
        gdb.execute("handle SIGINT stop print nopass", to_string=True)
        gdb.events.stop.connect(self._note_foreign_sigint)
        self.listening = True

    def _note_foreign_sigint(self, event: object) -> None:
        try:
            if getattr(event, "stop_signal", None) == "SIGINT" and self.pid:
                found = stops.foreign_sigint(self.pid)
                if found is not None:
                    self.foreign_sigints.append(found)
        except (gdb.error, RuntimeError, OSError):
            pass

    def _send_foreign_sigints_again(self) -> None:
        """Once gdb's own SIGINT handling is back, to the thread that took it.  Pending while gdb holds
        the target, it is taken when the target runs: at once after a detach, or at gdb's next
        `continue`, where gdb stops on it as on any SIGINT.  To that thread, not the process: a
        process-wide signal sent while every thread is stopped may be taken by another, and a main
        thread waiting for good (`Event().wait()`) never raised its KeyboardInterrupt (2026-12-06)."""
        if not self.foreign_sigints:
            return
        tid, code, sender = self.foreign_sigints[0]
        self.foreign_sigints.clear()
        try:
            _tgkill(self.pid, tid, signal.SIGINT)
        except OSError:
            return
        note("the target received %s during the command; gdb held it, and has sent it again: the target "
             "gets it when it runs" % stops.describe_sigint(code, sender))

    def restore(self) -> None:
        if self.listening:  # (disconnecting what is not connected raises SystemError in gdb 13)
            gdb.events.stop.disconnect(self._note_foreign_sigint)
            self.listening = False
        for bp in self.catchpoints:
            if bp.is_valid():
                bp.delete()
        for bp in self.disabled:
            if bp.is_valid():
                bp.enabled = True
        for name, value in self.settings.items():
            if isinstance(value, bool):
                value = "on" if value else "off"
            try:
                gdb.execute("set %s %s" % (name, value), to_string=True)
            except gdb.error:
                pass
        for name, words in self.signals.items():
            if words:
                gdb.execute("handle %s %s" % (name, words), to_string=True)
        if self.thread is not None and self.thread.is_valid():
            self.thread.switch()
            try:
                frame = gdb.newest_frame()
                for _ in range(self.frame_level):
                    frame = frame.older() or frame
                frame.select()
            except gdb.error:
                pass
        self._send_foreign_sigints_again()


def _tgkill(pid: int, tid: int, signum: int) -> None:
    import ctypes

    if ctypes.CDLL(None, use_errno=True).syscall(234, pid, tid, signum) != 0:  # SYS_tgkill on x86-64
        raise OSError(ctypes.get_errno(), "tgkill")


def quiet_continue() -> None:
    """`continue`, its output kept off the user's screen."""
    gdb.execute("continue", to_string=True)
