"""gdb side entry point: `load()` registers the commands and the settings.

The gdb side starts here (the shell side starts in __main__.py / cli/).  Imported only inside gdb.  It never imports guppy or objgraph: those run in the
target, from the payloads.
"""

from __future__ import annotations

import atexit
import os
from typing import Optional

import gdb

from .gdbside.settings import MAX_MAX_STOP_MS, SETTINGS
from .model.arguments import MAX_TIMEOUT

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
        if not 1 <= int(self.value) <= MAX_TIMEOUT:  # type: ignore[call-overload]
            self.value = SETTINGS.timeout
            raise gdb.GdbError("py-memleak timeout is 1 to %d seconds (as --timeout)" % MAX_TIMEOUT)
        SETTINGS.timeout = int(self.value)  # type: ignore[call-overload]
        _register_commands()  # `help py-heap` names the default timeout: rebuilt with the new one
        return ""

    def get_show_string(self, svalue: str) -> str:
        return "gdb-memleak waits up to %s seconds for a safe point." % svalue


class _MaxStopParameter(gdb.Parameter):
    """The longest, in milliseconds, a command may stop the whole process without being asked to."""

    set_doc = "Set how long py-heap and py-cycles may stop the process to read its memory by themselves."
    show_doc = "Show how long py-heap and py-cycles may stop the process to read its memory by themselves."

    def __init__(self) -> None:
        super().__init__("py-memleak max-stop", gdb.COMMAND_DATA, gdb.PARAM_ZUINTEGER)
        self.value = SETTINGS.max_stop_ms

    def get_set_string(self) -> str:
        if not 0 <= int(self.value) <= MAX_MAX_STOP_MS:  # type: ignore[call-overload]
            self.value = SETTINGS.max_stop_ms
            raise gdb.GdbError("py-memleak max-stop is 0 to %d milliseconds" % MAX_MAX_STOP_MS)
        SETTINGS.max_stop_ms = int(self.value)  # type: ignore[call-overload]
        return ""

    def get_show_string(self, svalue: str) -> str:
        return ("py-heap and py-cycles read a target's memory by themselves (no safe point in time, or opted "
                "out) only when that would stop it at most %s ms; --read-only reads it whatever it costs." % svalue)


class _VerboseParameter(gdb.Parameter):
    """Whether errors also show the gdb side's traceback and, for a payload that raised, the target's."""

    set_doc = "Set whether gdb-memleak's errors show tracebacks."
    show_doc = "Show whether gdb-memleak's errors show tracebacks."

    def __init__(self) -> None:
        super().__init__("py-memleak verbose", gdb.COMMAND_DATA, gdb.PARAM_BOOLEAN)
        self.value = SETTINGS.verbose

    def get_set_string(self) -> str:
        SETTINGS.verbose = bool(self.value)
        return ""

    def get_show_string(self, svalue: str) -> str:
        return "gdb-memleak's errors show tracebacks: %s." % svalue


class _BreakpointsParameter(gdb.Parameter):
    """Whether the one breakpoint (the queue point's, in 20 ms slices) may go in where nothing else
    finds a safe point: a gdb killed while it is in leaves the target to die of SIGTRAP."""

    set_doc = "Set whether py-heap, py-cycles and py-memtop may use a breakpoint to find a safe point."
    show_doc = "Show whether py-heap, py-cycles and py-memtop may use a breakpoint to find a safe point."

    def __init__(self) -> None:
        super().__init__("py-memleak breakpoints", gdb.COMMAND_DATA, gdb.PARAM_BOOLEAN)
        self.value = SETTINGS.breakpoints

    def get_set_string(self) -> str:
        SETTINGS.breakpoints = bool(self.value)
        return ""

    def get_show_string(self, svalue: str) -> str:
        return ("gdb-memleak may put a breakpoint in for 20 ms at a time where nothing else finds a safe point "
                "(a gdb killed meanwhile leaves the target to die of SIGTRAP): %s." % svalue)


def _command_classes() -> tuple:
    from .commands.cycles import PyCycles
    from .commands.heap import PyHeap
    from .commands.memtop import PyMemtop

    return PyMemtop, PyHeap, PyCycles


def _register_commands() -> None:
    """(Re)create the commands: gdb takes a command's help text when it is created."""
    for command in _command_classes():
        command()


def _clear_caches(event: object) -> None:
    from .gdbside import allocators, inferior

    everything = isinstance(event, gdb.ExitedEvent)
    inferior.clear_caches(everything=everything)
    if everything:
        from .inject import in_place

        allocators.forget_main_arenas()
        in_place.forget()


def _forget_children() -> None:
    from .inject import in_place

    in_place.forget()


def load(venv: Optional[str] = None) -> None:
    """Register py-memtop, py-heap, py-cycles (once), and use `venv`'s tools for matching targets.
    Ctrl-C meanwhile (0.3-0.5 s of reading ahead of the attach): one line, not a traceback."""
    try:
        _load(venv)
    except KeyboardInterrupt:
        gdb.write("gdb-memleak: loading interrupted (Ctrl-C); %s\n" % (
            "its commands are there, without the reading ahead of the attach" if _loaded
            else "nothing was loaded: source gdbinit.example again"), gdb.STDERR)


def _load(venv: Optional[str]) -> None:
    global _loaded
    if venv and os.path.isdir(venv):
        SETTINGS.add_venv(venv)
    if _loaded:
        return
    _SetPrefix("set py-memleak")
    _SetPrefix("show py-memleak")
    _TimeoutParameter()
    _MaxStopParameter()
    _VerboseParameter()
    _BreakpointsParameter()
    # What was read about one process or its files is not true of the next.
    gdb.events.new_objfile.connect(_clear_caches)
    gdb.events.exited.connect(_clear_caches)
    atexit.register(_forget_children)  # gdb quitting finalizes its Python: no child of ours outlives it
    _register_commands()
    from .host import gdb_command_line as command_line
    from .inject import attaching

    attaching.install([command.name for command in _command_classes()])
    gdb.events.before_prompt.connect(_give_owed_sigints)  # (after a detach)
    atexit.register(_give_owed_sigints)  # (gdb quitting: its Python is finalized after gdb detached)
    _loaded = True
    pid = None if gdb.selected_inferior().pid else command_line.pid_to_attach()
    if pid is not None:
        from .gdbside import allocators, attach_ahead, index_cache, preread
        from .inject.alarm import ALARM

        attaching.keep_the_command_line_attach(pid)
        ALARM.start()
        index_cache.prepare()
        attach_ahead.prepare(pid)
        preread.prepare(pid)
        allocators.locate_main_arena_ahead(pid)
        first = command_line.first_command().split()
        if first[:1] == ["py-memtop"] and not any(a.startswith("--watch") for a in first):
            # (not with --watch: its document comes after the window, the target run meanwhile)
            from .commands.memtop import TOP_PROCESSES
            from .host import accounting, residency

            accounting.read_ahead(pid, top=TOP_PROCESSES)
            residency.read_ahead(pid)
            gdb.events.cont.connect(_forget_read_ahead)
            gdb.events.exited.connect(_forget_read_ahead)


def _give_owed_sigints(*_event: object) -> None:
    """A SIGINT the target got from another process during a command, once gdb no longer traces it
    (inject/foreign_sigint.py)."""
    from .inject import foreign_sigint

    try:
        traced = {inferior.pid for inferior in gdb.inferiors() if inferior.pid}
    except (gdb.error, RuntimeError):  # (gdb finalized)
        traced = set()
    foreign_sigint.give_owed(traced)


def _forget_read_ahead(_event: object) -> None:
    """What was read before the attach stops being true once the target runs (or is gone)."""
    from .host import accounting, residency

    accounting.forget_ahead()
    residency.forget_ahead()
