"""One run of one command: what every layer below the command needs to know about it.

The command builds an Invocation from its arguments and the settings of the
moment, and passes it down (session.run_payload(invocation, ...)).  Notes and
warnings from any layer go through `note()`, which names the running command:
no layer takes the command's name only to prefix its messages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Optional

import gdb

from ..render.common import escape
from .settings import SETTINGS


@dataclass(frozen=True)
class Invocation:
    command: str  # "py-heap": the prefix of every message
    timeout: float  # seconds the target may run to reach a safe point
    force: bool = False  # run even in a target that opted out (PEP 768)
    notes: list[str] = field(default_factory=list, compare=False)  # what note() said: the document's "notes"

    def breakpoints_allowed(self) -> bool:
        """Whether `set py-memleak breakpoints on` lets the queue point put its breakpoint in (read now)."""
        return SETTINGS.breakpoints

    def tool_paths(self, version: tuple[int, int]) -> list[str]:
        """Where guppy3/objgraph built for the target's interpreter are (settings read now)."""
        return SETTINGS.tool_paths(version)


_running: list[Invocation] = []
_started: list[bool] = []


@contextlib.contextmanager
def running(invocation: Invocation) -> Iterator[Invocation]:
    _started.append(True)
    _running.append(invocation)
    try:
        yield invocation
    finally:
        _running.pop()


def any_started() -> bool:
    """Whether a command of ours has started in this gdb (gdb's attach from its command line is over then)."""
    return bool(_started)


def current() -> Optional[Invocation]:
    return _running[-1] if _running else None


def note(text: str) -> None:
    """A progress line or warning on stderr (stdout stays one --json document), named after the command."""
    now = current()
    if now is not None:
        now.notes.append(text)
    gdb.write(escape("%s: %s" % (now.command, text) if now else text) + "\n", gdb.STDERR)
