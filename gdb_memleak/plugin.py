"""gdb side entry point: `load()` registers the commands and the settings.

The gdb side starts here (the shell side starts in __main__.py / cli/).  Imported only inside gdb.  It never imports guppy or objgraph: those run in the
target, from the payloads.
"""

from __future__ import annotations

import os
from typing import Optional

import gdb

from .gdbside.settings import SETTINGS

_loaded = False


class _SetPrefix(gdb.Command):
    """Settings of gdb-memleak."""

    def __init__(self, name: str) -> None:
        super().__init__(name, gdb.COMMAND_DATA, prefix=True)


class _TimeoutParameter(gdb.Parameter):
    """How many seconds the target may run to reach a safe point before a command gives up."""

    set_doc = "Set how long py-heap, py-cycles and py-memtop wait for a safe point."
    show_doc = "Show how long py-heap, py-cycles and py-memtop wait for a safe point."

    def __init__(self) -> None:
        super().__init__("py-memleak timeout", gdb.COMMAND_DATA, gdb.PARAM_ZUINTEGER)
        self.value = SETTINGS.timeout

    def get_set_string(self) -> str:
        if self.value < 1:
            self.value = SETTINGS.timeout
            raise gdb.GdbError("py-memleak timeout must be at least 1 second")
        SETTINGS.timeout = int(self.value)
        return ""

    def get_show_string(self, svalue: str) -> str:
        return "gdb-memleak waits up to %s seconds for a safe point." % svalue


def load(venv: Optional[str] = None) -> None:
    """Register py-memtop, py-heap, py-cycles (once), and use `venv`'s tools for matching targets."""
    global _loaded
    if venv and os.path.isdir(venv):
        SETTINGS.add_venv(venv)
    if _loaded:
        return
    from .commands.cycles import PyCycles
    from .commands.heap import PyHeap
    from .commands.memtop import PyMemtop

    _SetPrefix("set py-memleak")
    _SetPrefix("show py-memleak")
    _TimeoutParameter()
    PyMemtop()
    PyHeap()
    PyCycles()
    _loaded = True
