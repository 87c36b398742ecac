"""Issue 17: a signal that reaches the target during a command is handled as without us.

A thread gdb-memleak parks in a system call the kernel would restart resumes, if a signal with
a handler is pending then, through that handler, with the call made to return EINTR.  The way
back used to restart it anyway, as "system call -4": time.sleep and select raised OSError
(ENOSYS) and glibc aborted the target on a lock's futex, in every trial under a 10 ms timer
(2026-12-05).  Real targets, real gdb; each target checks itself by running on.
"""

from __future__ import annotations

import re

import pytest
from support.gdb import assert_no_traceback, run_gdb
from support.heartbeat import latest_match
from support.interpreters import PYTHON_311, PYTHON_NODEBUG, PYTHON_NODEBUG_MISSING
from support.interpreters import find as pyenv_python
from support.targets import TIMER_SIGNALS

PY313, WHY_313 = pyenv_python("3.13")
TICK = re.compile(r"^tick (\d+) alarms=(\d+)$")


def alarms(target) -> int:
    return int(latest_match(target, TICK).group(2))


@pytest.mark.parametrize("python, wait, command", [
    pytest.param(PYTHON_311, "sleep", "py-heap --top 3", id="pyenv-3.11-sleep-heap"),
    pytest.param(PYTHON_311, "lock", "py-cycles --top 2", id="pyenv-3.11-lock-cycles"),
    pytest.param(PYTHON_311, "select", "py-heap --largest 2 --top 2", id="pyenv-3.11-select-largest"),
    pytest.param(PY313, "sleep", "py-heap --top 3", id="pyenv-3.13-sleep-heap",
                 marks=pytest.mark.skipif(bool(WHY_313), reason=WHY_313 or "present")),
    # Debian's 3.11 has no debug info: py-memtop runs its payload in the main thread
    pytest.param(PYTHON_NODEBUG, "lock", "py-memtop", id="debian-3.11-lock-memtop",
                 marks=pytest.mark.skipif(bool(PYTHON_NODEBUG_MISSING), reason=PYTHON_NODEBUG_MISSING or "present")),
])
def test_a_timer_s_signals_during_commands_leave_the_target_s_waits_as_they_were(start_target, python, wait, command):
    target = start_target(python, TIMER_SIGNALS, wait)
    before = alarms(target)
    run = run_gdb(command, command, command, pid=target.pid, timeout=180)
    assert_no_traceback(run)
    assert "exited" not in run.stderr and "exec()" not in run.stderr, \
        (run.stderr, target.proc.poll(), target.lines[-3:], target.stderr[-20:])
    after = alarms(target)
    assert after > before, (before, after)
    assert not [line for line in target.stderr if "Error" in line or "futex" in line], target.stderr[-20:]
