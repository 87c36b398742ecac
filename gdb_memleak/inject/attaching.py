"""gdb's attach kept safe: a keeper (keeper.py) while gdb attaches, SIGTERM and SIGHUP held through
`-p`'s attach (gdbside/hangup.py), the processes their users stopped noted before an attach command,
and a target left stopped by a gdb that quit mid-attach continued.  Connected by the plugin as it loads."""

from __future__ import annotations

import atexit
import os
import re
import signal
import sys
from typing import Optional

import gdb

from ..gdbside import hangup, invocation, shlib_events
from ..host import gdb_command_line as command_line
from ..host import procfs
from . import keeper

_OUR_COMMANDS: list[str] = []  # py-memtop, py-heap, py-cycles: a batch gdb's first command of ours ends the attach's hold


def install(command_names: list[str]) -> None:
    """hook-attach (unless the user has one), and the end of a user's stop seen through gdb."""
    _OUR_COMMANDS[:] = command_names
    _define_hook_attach()
    gdb.events.stop.connect(_continued_by_its_user)
    gdb.events.before_prompt.connect(_at_a_prompt)


def keep_the_command_line_attach(pid: int) -> None:
    """gdb's `-p PID`, still to come (the plugin loaded first): a keeper and the signals held for a target
    that runs; the stop of one its user stopped noted, for the keepers to leave."""
    stop_state = procfs.stop_state(pid)
    if stop_state == (False, False):
        _attach_over_at_prompts()  # first: a Ctrl-C in between leaves nothing armed
        atexit.register(_continue_if_left_stopped, pid)
        _ATTACHING[pid] = procfs.start_time(pid)
        _STOP_SEEN.discard(pid)
        keeper.keep_the_attach(pid)
        hangup.hold_during_attach()  # until the attach's stop (gdb resumes threads 45 times before it)
        gdb.events.stop.connect(_attach_stopped)
    elif stop_state[0]:  # the user's stop: a keeper must leave it so
        keeper.STOPPED_BEFORE_ATTACH[pid] = procfs.start_time(pid)


_HOOK_ATTACH = """define hook-attach
python
try:
    __import__("sys").modules[%r].note_user_stops()
except BaseException:
    pass
end
end
document hook-attach
gdb-memleak's: a keeper for the attach, and a note of the processes their users stopped, which keepers leave stopped.
end"""


def _define_hook_attach() -> None:
    """Before each `attach` typed or scripted (gdb tells a hook no argument): the processes their users
    stopped.  A keeper continues a target that stops once its gdb is gone, unless the stop was there
    before the attach (inject/keeper.py); gdb's `-p` runs no hook: keep_the_command_line_attach.  A user's own
    hook-attach is left alone (limits.md).  Nothing in the hook may fail: an error there cancels the attach.
    A Ctrl-C in the hook's milliseconds is lost too (raised, it would cancel the attach with a Python
    traceback: gdb prints one for any exception out of a `python` block)."""
    try:
        gdb.execute("show user hook-attach", to_string=True)
        return
    except gdb.error:  # "Undefined command": none yet
        pass
    gdb.execute(_HOOK_ATTACH % __name__, to_string=True)


def note_user_stops() -> None:
    """hook-attach: a target in a group stop now was stopped by its user (the one gdb traces keeps its entry)."""
    stopped = procfs.stopped_processes()
    ours = {inferior.pid for inferior in gdb.inferiors() if inferior.pid}
    for pid in [pid for pid in keeper.STOPPED_BEFORE_ATTACH if pid not in stopped and pid not in ours]:
        del keeper.STOPPED_BEFORE_ATTACH[pid]
    keeper.STOPPED_BEFORE_ATTACH.update(stopped)
    _keep_the_next_attach(ours)


_ARMED: list = []  # the new_thread handler waiting for the attach under way, if any


def _keep_the_next_attach(traced: set[int]) -> None:
    """A keeper for the attach this hook precedes, as -p has one.  The hook is told no pid: the keeper
    starts now, and is told its target when gdb adds the attach's first thread, just after its
    PTRACE_ATTACH, the SIGSTOPs still pending.  Ended untold at the next prompt (no attach came)."""
    _disarm_attach_keeper()
    keeper.keep_an_attach_to_come(_guess_the_pid())

    def first_thread(event: object) -> None:
        try:  # (a traceback here would come in the middle of gdb's attach)
            _disconnect_armed()
            pid = event.inferior_thread.inferior.pid  # type: ignore[attr-defined]
            if not pid or pid in traced or pid in _ATTACHING:
                keeper.forget_the_attach_to_come()  # not an attach's first thread (a program gdb started)
                return
            _ATTACHING[pid] = procfs.start_time(pid)
            _STOP_SEEN.discard(pid)
            keeper.tell_the_attach(pid)
            if pid not in keeper.STOPPED_BEFORE_ATTACH:
                atexit.register(_continue_if_left_stopped, pid)
            gdb.events.stop.connect(_attach_stopped)
            _attach_over_at_prompts()
        except Exception:
            pass

    gdb.events.new_thread.connect(first_thread)
    _ARMED.append(first_thread)


_ATTACH_PID = re.compile(r"\s*at(?:t(?:a(?:c(?:h)?)?)?)?\s+([1-9][0-9]*)\s*$")
_GUESSES = {"prompted": False, "from_the_command_line": 0}


def _guess_the_pid() -> Optional[int]:
    """The pid the attach under way most likely names, for the keeper to know before gdb's first thread
    event corrects it: before gdb's first prompt, the next `attach N` of gdb's -ex and -iex in order;
    after it, the last line of gdb's command history (a typed attach).  None when neither reads so."""
    if not _GUESSES["prompted"]:
        given = command_line.commands(("ex", "eval-command", "iex", "init-eval-command"))
        attaches = [int(m.group(1)) for m in map(_ATTACH_PID.match, given) if m]
        n = _GUESSES["from_the_command_line"]
        _GUESSES["from_the_command_line"] = n + 1
        return attaches[n] if n < len(attaches) else None
    try:
        history = gdb.execute("show commands", to_string=True).strip().splitlines()
    except gdb.error:
        return None
    last = history[-1].split(None, 1) if history else []
    match = _ATTACH_PID.match(last[1]) if len(last) == 2 else None
    return int(match.group(1)) if match else None


def _disconnect_armed() -> None:
    armed = list(_ARMED)
    del _ARMED[:]
    for handler in armed:
        try:
            gdb.events.new_thread.disconnect(handler)
        except (SystemError, RuntimeError, ValueError):  # (gdb 13 raises SystemError for one not connected)
            pass


def _at_a_prompt(*_event: object) -> None:
    _GUESSES["prompted"] = True
    _disarm_attach_keeper()


def _disarm_attach_keeper() -> None:
    """At each prompt, and before each attach: a handler no attach used, and its keeper, go."""
    _disconnect_armed()
    keeper.forget_the_attach_to_come()


def _continued_by_its_user(event: object) -> None:
    """A SIGCONT that reaches the target ends its user's stop: a keeper may continue it again."""
    if getattr(event, "stop_signal", None) != "SIGCONT":
        return

    keeper.STOPPED_BEFORE_ATTACH.pop(gdb.selected_inferior().pid, None)


# pid -> its start time (/proc/PID/stat), while gdb's attach (from its command line or a command) may still be under way
_ATTACHING: dict[int, int] = {}
_STOP_SEEN: set[int] = set()  # targets whose attach's stop came: every SIGSTOP of the attach taken (gdb's detach takes any left)


def _attach_over_at_prompts() -> None:
    if not _PROMPTS_END_ATTACHES:
        _PROMPTS_END_ATTACHES.append(True)
        gdb.events.before_prompt.connect(_attach_over)


_PROMPTS_END_ATTACHES: list = []


def _attach_over(*_event: object) -> None:
    """gdb's first prompt: the attach is over (a command of ours starting says the same).  The int3s
    a killed gdb left on the dynamic linker's events go, before a `continue` makes them gdb's own."""
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
    try:
        _STOP_SEEN.add(gdb.selected_inferior().pid)
    except (RuntimeError, gdb.error):
        pass
    try:
        gdb.events.stop.disconnect(_attach_stopped)
    except (SystemError, RuntimeError, ValueError):
        pass
    keeper.attach_over()
    batch = any(arg in ("-batch", "--batch") for arg in command_line.gdb_arguments())
    if command_line.first_command().split()[:1] in [[name] for name in _OUR_COMMANDS] or not batch:
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
    if (pid not in _ATTACHING or pid in _STOP_SEEN or invocation.any_started()
            or procfs.start_time(pid) != _ATTACHING[pid]):
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
