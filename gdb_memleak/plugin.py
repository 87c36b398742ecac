"""gdb side entry point: `load()` registers the commands and the settings.

The gdb side starts here (the shell side starts in __main__.py / cli/).  Imported only inside gdb.  It never imports guppy or objgraph: those run in the
target, from the payloads.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
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
    # What was read about one process or its files is not true of the next.
    gdb.events.new_objfile.connect(_clear_caches)
    gdb.events.exited.connect(_clear_caches)
    atexit.register(_forget_children)  # gdb quitting finalizes its Python: no child of ours outlives it
    _register_commands()
    _hook_attach()
    gdb.events.stop.connect(_continued_by_its_user)
    gdb.events.before_prompt.connect(_give_owed_sigints)  # (after a detach)
    atexit.register(_give_owed_sigints)  # (gdb quitting: its Python is finalized after gdb detached)
    _loaded = True
    pid = _pid_to_attach()
    if pid is not None:
        from .gdbside import allocators, attach_ahead, hangup, index_cache, preread
        from .host import procfs
        from .inject import keeper
        from .inject.alarm import ALARM

        stop_state = procfs.stop_state(pid)
        if stop_state == (False, False):
            gdb.events.before_prompt.connect(_attach_over)  # first: a Ctrl-C in between leaves nothing armed
            atexit.register(_continue_if_left_stopped, pid)
            _ATTACHING[pid] = procfs.start_time(pid)
            keeper.keep_the_attach(pid)
            hangup.hold_during_attach()  # until the attach's stop (gdb resumes threads 45 times before it)
            gdb.events.stop.connect(_attach_stopped)
        elif stop_state[0]:  # the user's stop: a keeper must leave it so
            keeper.STOPPED_BEFORE_ATTACH[pid] = procfs.start_time(pid)

        ALARM.start()
        index_cache.prepare()
        attach_ahead.prepare(pid)
        preread.prepare(pid)
        allocators.locate_main_arena_ahead(pid)
        first = _first_command().split()
        if first[:1] == ["py-memtop"] and not any(a.startswith("--watch") for a in first):
            # (not with --watch: its document comes after the window, the target run meanwhile)
            from .commands.memtop import TOP_PROCESSES
            from .host import accounting, residency

            accounting.read_ahead(pid, top=TOP_PROCESSES)
            residency.read_ahead(pid)
            gdb.events.cont.connect(_forget_read_ahead)
            gdb.events.exited.connect(_forget_read_ahead)


_HOOK_ATTACH = """define hook-attach
python
try:
    __import__("sys").modules[%r].note_user_stops()
except BaseException:
    pass
end
end
document hook-attach
gdb-memleak's: notes which processes their users stopped, so that its keeper does not continue them.
end"""


def _hook_attach() -> None:
    """Before each `attach` typed or scripted (gdb tells a hook no argument): the processes their users
    stopped.  A keeper continues a target that stops once its gdb is gone, unless the stop was there
    before the attach (inject/keeper.py); gdb's `-p` is read in _load, and runs no hook.  A user's own
    hook-attach is left alone (limits.md).  Nothing in the hook may fail: an error there cancels the attach."""
    try:
        gdb.execute("show user hook-attach", to_string=True)
        return
    except gdb.error:  # "Undefined command": none yet
        pass
    gdb.execute(_HOOK_ATTACH % __name__, to_string=True)


def note_user_stops() -> None:
    """hook-attach: a target in a group stop now was stopped by its user (the one gdb traces keeps its entry)."""
    from .host import procfs
    from .inject import keeper

    stopped = procfs.stopped_processes()
    ours = {inferior.pid for inferior in gdb.inferiors() if inferior.pid}
    for pid in [pid for pid in keeper.STOPPED_BEFORE_ATTACH if pid not in stopped and pid not in ours]:
        del keeper.STOPPED_BEFORE_ATTACH[pid]
    keeper.STOPPED_BEFORE_ATTACH.update(stopped)


def _continued_by_its_user(event: object) -> None:
    """A SIGCONT that reaches the target ends its user's stop: a keeper may continue it again."""
    if getattr(event, "stop_signal", None) != "SIGCONT":
        return
    from .inject import keeper

    keeper.STOPPED_BEFORE_ATTACH.pop(gdb.selected_inferior().pid, None)


def _give_owed_sigints(*_event: object) -> None:
    """A SIGINT the target got from another process during a command, once gdb no longer traces it
    (inject/foreign_sigint.py)."""
    from .inject import foreign_sigint

    try:
        traced = {inferior.pid for inferior in gdb.inferiors() if inferior.pid}
    except (gdb.error, RuntimeError):  # (gdb finalized)
        traced = set()
    foreign_sigint.give_owed(traced)


# pid -> its start time (/proc/PID/stat), while gdb's attach from its command line may still be under way
_ATTACHING: dict[int, int] = {}


def _attach_over(*_event: object) -> None:
    """gdb's first prompt: the attach is over (a command of ours starting says the same).  The int3s
    a killed gdb left on the dynamic linker's events go, before a `continue` makes them gdb's own."""
    from .gdbside import hangup, shlib_events
    from .inject import keeper

    keeper.attach_over()
    pids = list(_ATTACHING)
    _ATTACHING.clear()
    for pid in pids:
        try:
            if gdb.selected_inferior().pid == pid:
                shlib_events.put_back(pid)
        except (gdb.error, OSError):  # (a prompt shows no traceback: the next command of ours looks again)
            pass
    hangup.attach_over()  # last: a SIGTERM or SIGHUP held during the attach makes gdb quit, from its prompt


def _attach_stopped(_event: object) -> None:
    """The stop that ends gdb's attach, every thread's SIGSTOP taken (a batch script shows no prompt).
    A signal held meanwhile goes to the first prompt or command of ours; to gdb now if neither comes."""
    from .gdbside import hangup
    from .inject import keeper

    gdb.events.stop.disconnect(_attach_stopped)
    keeper.attach_over()
    batch = any(arg in ("-batch", "--batch") for arg in _gdb_arguments())
    if _first_command().split()[:1] in [[command.name] for command in _command_classes()] or not batch:
        hangup.end_hold()
    else:
        hangup.attach_over()


def _continue_if_left_stopped(pid: int) -> None:
    """gdb quitting (SIGTERM, SIGHUP) while it attached leaves the SIGSTOP of its attach pending, and
    the target, running before, stops for good once gdb has gone: 7 of 7 SIGHUPs 0.2-0.4 s into
    `gdb -ix gdbinit.example -p PID` (a helper's trial, 2026-12-05; plain gdb does the same).  Run as
    gdb's Python is finalized, after gdb has detached: a target no longer traced and stopped, or about
    to be, is continued.  Not when a SIGINT waits there too (gdb's interrupt of its attach, when the
    signal came within about 2 ms of it): continued, the target would take it as a Ctrl-C; it is left
    stopped, and said so."""
    from .gdbside import invocation
    from .host import procfs

    if pid not in _ATTACHING or invocation.any_started() or procfs.start_time(pid) != _ATTACHING[pid]:
        return  # the attach was over (a stop since then is someone else's), or the pid is another process's now
    status = procfs.read_small_file("/proc/%d/status" % pid) or ""
    stopped, interrupted = procfs.stop_state(pid)
    if "\nTracerPid:\t0\n" not in status or not stopped:
        return
    if interrupted:
        sys.stderr.write("gdb-memleak: gdb quit while attaching to pid %d, which is left stopped with a SIGINT "
                         "pending (gdb's own interrupt of the attach): `kill -CONT %d` would deliver it\n" % (pid, pid))
        return
    try:
        os.kill(pid, signal.SIGCONT)
    except OSError:
        pass


def _forget_read_ahead(_event: object) -> None:
    """What was read before the attach stops being true once the target runs (or is gone)."""
    from .host import accounting, residency

    accounting.forget_ahead()
    residency.forget_ahead()


def _gdb_arguments() -> list[str]:
    try:
        with open("/proc/self/cmdline", "rb") as f:
            return f.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return []


def _first_command() -> str:
    """The first command gdb's command line gives with -ex (or --eval-command), "" if none."""
    args = _gdb_arguments()
    for i, arg in enumerate(args[:-1]):
        if arg in ("-ex", "--ex", "-eval-command", "--eval-command"):
            return args[i + 1].strip()
        if arg.startswith(("--eval-command=", "-eval-command=")):
            return arg.split("=", 1)[1].strip()
    return ""


def _pid_to_attach() -> Optional[int]:
    """The PID of `gdb -p PID` (--pid PID, --pid=PID) when gdb has not attached yet: loaded
    from ~/.gdbinit or -ix, gdb-memleak can prepare while the target still runs."""
    if gdb.selected_inferior().pid:
        return None
    args = _gdb_arguments()
    for i, arg in enumerate(args):
        if arg in ("--args", "-args"):
            return None  # the rest is the program's command line: `gdb --args app -p 8000`
        value = None
        if arg in ("-p", "-pid", "--pid") and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(("--pid=", "-pid=")):
            value = arg.split("=", 1)[1]
        if value is not None:
            return int(value) if value.isdigit() else None
    return None
