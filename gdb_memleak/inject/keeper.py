"""A keeper process for the length of a command: what gdb leaves in the target if it is killed
meanwhile, put back from outside both (issue 17, docs/safety.md).

A SIGKILLed gdb runs nothing more, and two things of gdb's own outlive it in a target that runs:
- its int3s on the dynamic linker's events (the next dlopen dies of SIGTRAP);
- the SIGSTOPs it sends to stop the other threads when one stops (gdb's all-stop), when it is killed
  before it took them: the target then stops for good (a CI run, 2026-12-05: test_gdb_dies'
  waiting-1 kill, a service with no heartbeat for 20 s and alive).
The payloads put the int3s' bytes back themselves when they see their gdb gone; nothing in the
target can continue a stopped process.  So a small shell script (keeper.sh) runs beside gdb, in a
session of its own (a terminal's Ctrl-C, `timeout`, a killed process group do not reach it), and
blocks on a socket whose other end gdb holds.  gdb says "done" at the command's end; if the
socket closes without that, or gdb's pid is no longer that gdb (a fork of gdb that never execs holds
the socket too), gdb is gone: once the kernel has let go of the target, the keeper
writes back the bytes under the int3s still there and, for half a second, continues a target that
stops.  It is a shell script because gdb's embedded Python has no executable of its own to run.
Pure: imports nothing of gdb.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

from ..host import procfs

SCRIPT = Path(__file__).with_name("keeper.sh")
SHELL = "/bin/sh"
# The keeper's own tools (dd, od, sleep), wherever gdb was started from.
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin:/run/current-system/sw/bin", "LC_ALL": "C"}
# pid -> start time: targets seen in a group stop before gdb attached (plugin.py): their stop is
# the user's, and a keeper must not continue them.
STOPPED_BEFORE_ATTACH: dict[int, int] = {}


def start(pid: int, traps: list[list[int]]) -> Optional[socket.socket]:
    """A keeper for target `pid` and the [address, byte] of gdb's event int3s; gdb's end of its
    socket, or None where none could be started (no /bin/sh): the command runs as before."""
    start_time = procfs.start_time(pid)
    if start_time <= 0:
        return None
    running = "0" if STOPPED_BEFORE_ATTACH.get(pid) == start_time else "1"
    return _spawn([str(pid), str(start_time), str(os.getpid()), running] + [trap_argument(pid, a, b) for a, b in traps])


def trap_argument(pid: int, address: int, byte: int) -> str:
    """ADDRESS:BYTE:INODE@OFFSET for keeper.sh: it writes the byte back only where the address still maps
    that place of that file (an exec meanwhile maps another program there)."""
    return "%d:%d:%s" % (address, byte, procfs.mapping_identity(pid, address) or "-")


def _spawn(arguments: list[str]) -> Optional[socket.socket]:
    if not os.access(SHELL, os.X_OK):
        return None
    ours, theirs = socket.socketpair()
    argv = [SHELL, str(SCRIPT)] + arguments
    try:
        shell = subprocess.Popen(argv, stdin=theirs.fileno(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 cwd="/", env=_ENV, start_new_session=True)
    except (OSError, subprocess.SubprocessError):
        ours.close()
        return None
    finally:
        theirs.close()
    try:
        # The shell puts the keeper in the background and ends at once: reaped here, before gdb
        # next waits for its inferiors (children.py: gdb's waitpid(-1) would reap it, and its pid
        # could be a target thread's by the time subprocess polls it again).
        shell.wait(timeout=5)
    except BaseException as e:  # a loaded machine, Ctrl-C: ended and reaped now, while it is still ours
        shell.kill()
        shell.wait()
        ours.close()
        if isinstance(e, subprocess.TimeoutExpired):
            return None
        raise
    if shell.returncode != 0:
        ours.close()
        return None
    return ours


def stop(ours: Optional[socket.socket]) -> None:
    """The command is over and gdb is alive: the keeper ends without doing anything."""
    if ours is None:
        return
    try:
        ours.send(b"done\n", socket.MSG_NOSIGNAL)
    except OSError:
        pass  # the keeper is gone (killed): nothing to tell
    finally:
        ours.close()


# pid -> gdb's end of the keeper for gdb's attach from its command line (plugin.py).
_ATTACHING: dict[int, socket.socket] = {}


def keep_the_attach(pid: int) -> None:
    """A keeper for gdb's attach to a running `pid`: gdb killed before it has taken the SIGSTOP its
    PTRACE_ATTACH sent each thread leaves that SIGSTOP pending, and the target stops for good."""
    ours = start(pid, [])
    if ours is not None:
        _ATTACHING[pid] = ours


# gdb's end of the keeper started before an attach command, and the pid told it so far (0: none).
_AHEAD: list[tuple[socket.socket, int]] = []


def keep_an_attach_to_come(guess: Optional[int] = None) -> None:
    """A keeper started before an attach command, whose pid gdb-memleak learns for sure only once gdb
    has attached (tell_the_attach): starting it then took 1-2 ms, and a gdb killed in them left the
    target stopped (3 of 5 kills at the attach, 2026-12-06).  `guess`, told at once: the pid the
    command most likely names (attaching.py), so that even the microseconds before gdb's first
    thread event are kept (a CI run under load, 2026-12-06: gdb killed in them, the target stopped)."""
    forget_the_attach_to_come()
    ours = _spawn(["-", "0", str(os.getpid()), "0"])
    if ours is not None:
        _AHEAD.append((ours, 0))
        if guess:
            _tell(guess)


def tell_the_attach(pid: int) -> None:
    """The keeper started ahead now keeps gdb's attach to `pid` (as keep_the_attach)."""
    if not _AHEAD:
        keep_the_attach(pid)
        return
    if _AHEAD[-1][1] != pid:
        _tell(pid)
    if _AHEAD:
        _ATTACHING[pid] = _AHEAD.pop()[0]


def _tell(pid: int) -> None:
    """Tell the keeper ahead its target (again, when a guess was wrong: the last line counts)."""
    ours = _AHEAD[-1][0]
    start_time = procfs.start_time(pid)
    running = 0 if STOPPED_BEFORE_ATTACH.get(pid) == start_time else 1
    try:
        ours.send(b"%d %d %d\n" % (pid, start_time, running), socket.MSG_NOSIGNAL)
    except OSError:  # the keeper is gone (killed)
        _AHEAD.pop()
        ours.close()
        return
    _AHEAD[-1] = (ours, pid)


def forget_the_attach_to_come() -> None:
    """The attach command is over without a target told (it failed): its keeper ends."""
    while _AHEAD:
        stop(_AHEAD.pop()[0])


def attach_over() -> None:
    """gdb's first prompt or first command of ours: every thread's attach stop was taken."""
    forget_the_attach_to_come()
    for pid in list(_ATTACHING):
        stop(_ATTACHING.pop(pid))


@contextlib.contextmanager
def keeping(pid: int, traps: list[list[int]]) -> Iterator[None]:
    """A keeper for the block (see start)."""
    attach_over()
    ours = start(pid, traps)
    try:
        yield
    finally:
        stop(ours)
