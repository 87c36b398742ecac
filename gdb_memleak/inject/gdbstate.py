"""What a command changes in gdb's own settings, put back exactly as it was."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import gdb

from ..gdbside.invocation import note
from . import foreign_sigint
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
    sigints: Optional[foreign_sigint.Listener] = None

    SETTINGS = ("scheduler-locking", "print thread-events")

    def save(self, stop_signal: str) -> None:
        """Everything changed here is put back by restore(), also when this fails halfway."""
        try:
            self._save(stop_signal)
        except BaseException:
            self.restore()
            raise

    def _save(self, stop_signal: str) -> None:
        self.thread = gdb.selected_thread()
        try:
            self.frame_level = gdb.selected_frame().level()
        except gdb.error:
            self.frame_level = 0
        for name in self.SETTINGS:
            self.settings[name] = gdb.parameter(name)
        for name in WATCHED_SIGNALS:
            self.signals[name] = signal_handling(name)
        for bp in gdb.breakpoints():
            if bp.enabled:
                self.disabled.append(bp)
                bp.enabled = False
        # Other threads run while one runs our calls, as they would run anyway.
        gdb.execute("set scheduler-locking replay", to_string=True)
        gdb.execute("set print thread-events off", to_string=True)
        # Our stop signal stops, silently, and never reaches the target while gdb is there.
        # A silent catchpoint, not `handle stop`: gdb 13 prints every signal stop, even under
        # to_string and with its output redirected.
        gdb.execute("handle %s nostop noprint nopass" % stop_signal, to_string=True)
        self._catch("signal %s" % stop_signal)
        # An exec ends a call's wait: gdb follows an exec without stopping, and a `continue` waiting
        # for a stop in a thread the exec ended waited for good (a payload's call, 2026-12-06).
        self._catch("exec")
        gdb.execute("handle SIGINT stop print nopass", to_string=True)
        self.sigints = foreign_sigint.Listener(gdb.selected_inferior().pid)
        self.sigints.connect()

    def _catch(self, what: str) -> None:
        before = set(gdb.breakpoints())
        gdb.execute("catch %s" % what, to_string=True)
        for bp in gdb.breakpoints():
            if bp not in before:
                self.catchpoints.append(bp)
                bp.silent = True

    def restore(self) -> None:
        told = None
        if self.sigints is not None:
            self.sigints.disconnect()
            told = self.sigints.owe()  # first: nothing below may lose it
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
        if told:
            note(told)


def quiet_continue() -> None:
    """`continue`, its output kept off the user's screen."""
    gdb.execute("continue", to_string=True)
