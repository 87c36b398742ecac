"""Issue 17 #2: no automatic collection, and so no finalizer of the target's cyclic garbage, runs in the payload's thread.

Loading a payload's code makes thousands of containers.  With gc on, that started a
collection in the payload's thread before the quiet block could pause gc (3.11 and before:
inside the load; 3.12 and after: at the module's first instruction), so the target's gc
callbacks and its garbage's finalizers ran there (2026-12-05: 3 of 3 trials).  From 3.6 on
gdb pauses gc before the load, with a fork guard of its own (inject/gc_pause.py), and resumes it
after the payload (the thread's own way back does, if gdb is gone).  No guard may stay behind.

The target (young_cycles.py) makes cyclic garbage with finalizers in one worker thread under a
first threshold of 50; its main thread makes no container.  Any collection or finalizer outside
the worker is ours.  Real targets, real gdb.
"""

from __future__ import annotations

import re
import time

import pytest
from support.gdb import assert_no_traceback, run_gdb
from support.heartbeat import latest_match
from support.interpreters import (
    PYTHON_311,
    PYTHON_311_MISSING,
    PYTHON_314D,
    PYTHON_314D_MISSING,
    PYTHON_315D,
    PYTHON_315D_MISSING,
    PYTHON_NODEBUG,
    PYTHON_NODEBUG_MISSING,
)
from support.interpreters import find as pyenv_python
from support.targets import DANGLING_ITERATOR, YOUNG_CYCLES

PY36, WHY_36 = pyenv_python("3.6")
PY37, WHY_37 = pyenv_python("3.7")
PY38, WHY_38 = pyenv_python("3.8")
PY39, WHY_39 = pyenv_python("3.9")
PY310, WHY_310 = pyenv_python("3.10")
PY312, WHY_312 = pyenv_python("3.12")
PY313, WHY_313 = pyenv_python("3.13")
TICK = re.compile(r"^tick \d+ collections=(\d+) finalizers=(\d+) other_collections=(\d+) other_finalizers=(\d+) gc=(\w+) guards=(\d+) alive=(\d+) modules=(\d+) gc_modules=(\d+)$")


def counts(target) -> tuple[int, int, int, int, str, int, int, int, int]:
    m = latest_match(target, TICK)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)), m.group(5), int(m.group(6)), int(m.group(7)),
            int(m.group(8)), int(m.group(9)))


@pytest.mark.parametrize("python, commands", [
    pytest.param(PYTHON_311, ("py-heap --top 3", "py-cycles --top 2", "py-heap --largest 2 --top 2"), id="pyenv-3.11"),
    # 3.6-3.9 have no PyGC_Disable: gdb calls the C functions behind gc.disable() and gc.enable()
    pytest.param(PY36, ("py-heap --top 3", "py-cycles --top 2"), id="pyenv-3.6",
                 marks=pytest.mark.skipif(bool(WHY_36), reason=WHY_36 or "present")),
    pytest.param(PY37, ("py-heap --top 3", "py-cycles --top 2"), id="pyenv-3.7",
                 marks=pytest.mark.skipif(bool(WHY_37), reason=WHY_37 or "present")),
    pytest.param(PY38, ("py-heap --top 3", "py-cycles --top 2"), id="pyenv-3.8",
                 marks=pytest.mark.skipif(bool(WHY_38), reason=WHY_38 or "present")),
    pytest.param(PY39, ("py-heap --top 3", "py-cycles --top 2"), id="pyenv-3.9",
                 marks=pytest.mark.skipif(bool(WHY_39), reason=WHY_39 or "present")),
    pytest.param(PY310, ("py-heap --top 3", "py-cycles --top 2"), id="pyenv-3.10",
                 marks=pytest.mark.skipif(bool(WHY_310), reason=WHY_310 or "present")),
    pytest.param(PY312, ("py-heap --top 3", "py-cycles --top 2"), id="pyenv-3.12",
                 marks=pytest.mark.skipif(bool(WHY_312), reason=WHY_312 or "present")),
    pytest.param(PY313, ("py-heap --top 3", "py-cycles --top 2"), id="pyenv-3.13",
                 marks=pytest.mark.skipif(bool(WHY_313), reason=WHY_313 or "present")),
    # Debian forky's 3.14 and 3.15 debug builds (their WeakSet has no _iterating; 3.14's gc is incremental)
    pytest.param(PYTHON_314D, ("py-heap --top 3", "py-cycles --top 2"), id="forky-3.14d",
                 marks=pytest.mark.skipif(bool(PYTHON_314D_MISSING), reason=PYTHON_314D_MISSING or "present")),
    pytest.param(PYTHON_315D, ("py-heap --top 3", "py-cycles --top 2"), id="forky-3.15d",
                 marks=pytest.mark.skipif(bool(PYTHON_315D_MISSING), reason=PYTHON_315D_MISSING or "present")),
    # no debug info: py-memtop runs a payload too
    pytest.param(PYTHON_NODEBUG, ("py-memtop", "py-heap --top 3"), id="debian-3.11",
                 marks=pytest.mark.skipif(bool(PYTHON_NODEBUG_MISSING), reason=PYTHON_NODEBUG_MISSING or "present")),
])
def test_no_collection_or_finalizer_runs_in_the_payload_s_thread(start_target, python, commands):
    target = start_target(python, YOUNG_CYCLES)
    collections, finalizers, *others, _, _, _, _, _ = counts(target)  # others: the main thread's start-up
    assert collections > 0 and finalizers > 0, "the worker's garbage is not being collected: the test would see nothing"
    run = run_gdb(*commands, pid=target.pid, timeout=180)
    assert_no_traceback(run)
    assert run.stdout.count("census backend, run in ") == sum(c.startswith("py-heap") for c in commands), run.stdout + run.stderr
    after = counts(target)
    assert after[0] > collections and after[1] > finalizers, (collections, finalizers, after)  # it goes on collecting
    assert list(after[2:4]) == others and after[4] == "True", "outside the worker: %s, then %s; gc on: %s" % (others, after[2:4], after[4])
    assert after[5] == 0, "fork guards left in threading._dangling: %d" % after[5]
    # gdb's guard dies with gdb's last reference (the guard kept alive on purpose is a rare case:
    # a verbose target, or a weak reference of the target's own to it)
    assert after[6] == 0, "fork guards still alive after %d commands: %d" % (len(commands), after[6])


# Not 3.6-3.9: gc stays on while gdb makes the module there, a few dozen containers, so a collection
# can still start in the payload's thread then (limits.md)
@pytest.mark.parametrize("python", [
    pytest.param(PYTHON_311, id="pyenv-3.11"),
    pytest.param(PY310, id="pyenv-3.10", marks=pytest.mark.skipif(bool(WHY_310), reason=WHY_310 or "present")),
    pytest.param(PY313, id="pyenv-3.13", marks=pytest.mark.skipif(bool(WHY_313), reason=WHY_313 or "present")),
    pytest.param(PYTHON_315D, id="forky-3.15d", marks=pytest.mark.skipif(bool(PYTHON_315D_MISSING), reason=PYTHON_315D_MISSING or "present")),
    pytest.param(PYTHON_NODEBUG, id="debian-3.11", marks=pytest.mark.skipif(bool(PYTHON_NODEBUG_MISSING), reason=PYTHON_NODEBUG_MISSING or "present")),
])
def test_the_first_command_in_a_target_that_never_imported_gc_runs_no_finalizer_of_its_own(start_target, python):
    """Most services never import gc (gunicorn's and uvicorn's workers, the standard library's servers),
    so gdb found no gc module to pause with: the first command's payload loaded with gc on, and a
    collection there ran the target's finalizers in the payload's thread."""
    target = start_target(python, YOUNG_CYCLES, "nogc")
    _, finalizers, _, others, gc_state, *_ = counts(target)
    assert finalizers > 0 and others == 0 and gc_state == "unknown", counts(target)
    run = run_gdb("py-heap --top 3", "py-heap --top 3", pid=target.pid, timeout=180)
    assert_no_traceback(run)
    assert run.stdout.count("census backend, run in ") == 2, run.stdout + run.stderr
    after = counts(target)
    assert after[1] > finalizers, (finalizers, after)  # it goes on collecting
    assert after[3] == 0, "finalizers of the target's that ran outside its worker: %d" % after[3]
    # gc is imported now, as the quiet block always left it (a built-in module, loaded without import hooks),
    # once: the module gdb made for the first command is the one in sys.modules
    assert after[4] == "True" and after[5] == 0 and after[6] == 0 and after[8] == 1, after


def test_the_census_leaves_gdb_s_fork_guard_out(start_target):
    """gdb's guard is alive while the payload runs: the census must not count it (nor its dict) as
    one of the target's modules, which would look like a module leaking one a command."""
    target = start_target(PYTHON_311, YOUNG_CYCLES)
    for _ in range(2):
        run = run_gdb("py-heap --json --top 500", pid=target.pid, timeout=180)
        assert_no_traceback(run)
        rows = {r["kind"]: r["count"] for r in run.document()["rows"]}
        modules = counts(target)[7]
        assert rows["module"] == modules and rows["dict of module"] == modules, (rows["module"], rows["dict of module"], modules)


# gdb SIGKILLs itself right after it starts the block that makes the named call.
KILL_AT = '''python
import os
from gdb_memleak.inject import calls as _calls
_armed = [False]
_many, _set_rip = _calls.Caller.call_many, _calls.set_rip
def _trap(self, calls, **kwargs):
    if any(name == %r for name, _ in calls):
        _armed[0] = True
    return _many(self, calls, **kwargs)
def _started(value):
    _set_rip(value)
    if _armed[0]:
        os.kill(os.getpid(), 9)
_calls.Caller.call_many = _trap
_calls.set_rip = _started
end
'''


def killed_at(version: str, calls: tuple[str, ...]) -> list:
    """Test parameters (python, call) for the pyenv interpreter `version`, one per call gdb dies at."""
    python, why = {"3.11": (PYTHON_311, PYTHON_311_MISSING), "3.9": (PY39, WHY_39), "3.6": (PY36, WHY_36)}[version]
    return [pytest.param(python, call, id="%s-%s" % (version, call), marks=pytest.mark.skipif(bool(why), reason=why or "present"))
            for call in calls]


@pytest.mark.parametrize("python, call", killed_at("3.11", ("PyGC_Disable", "PySet_Add", "PyEval_EvalCode", "PySet_Discard"))
                         + killed_at("3.9", ("gc.disable", "PyEval_EvalCode", "PySet_Discard"))
                         + killed_at("3.6", ("gc.disable", "PyEval_EvalCode")))
def test_gdb_killed_while_gc_is_paused_leaves_gc_on_and_no_guard(start_target, tmp_path, python, call):
    """Crash-only: gc paused, the guard going in, the payload running, or the resume under way when gdb
    dies; the thread's way back puts gc on and takes the guard out."""
    target = start_target(python, YOUNG_CYCLES)
    counts(target)
    trap = tmp_path / "kill.gdb"
    trap.write_text(KILL_AT % call)
    run = run_gdb("py-heap --top 3", pid=target.pid, after=("-x", str(trap)))
    assert run.returncode == -9, run.stdout + run.stderr  # it did die at that call
    deadline = time.monotonic() + 30
    after = counts(target)
    while after[4:6] != ("True", 0) and time.monotonic() < deadline:  # a payload left running ends by itself
        after = counts(target)
    assert after[4:6] == ("True", 0), after
    again = run_gdb("py-heap --top 3", pid=target.pid)
    assert "Partition of a set" in again.stdout, again.stdout + again.stderr
    assert counts(target)[4:6] == ("True", 0)


# (3.9's gc puts itself in sys.modules as it is made, single-phase: gdb takes it out in that block)
@pytest.mark.parametrize("python, call", killed_at("3.11", ("PyModule_New", "PyObject_Call", "PyModule_ExecDef", "PySet_Add"))
                         + killed_at("3.9", ("PyObject_Call",)))
def test_gdb_killed_while_it_loads_gc_leaves_gc_on(start_target, tmp_path, python, call):
    """Crash-only, in a target that never imported gc: gdb dies while it loads gc for it (gc off
    meanwhile, 3.10+), or at its pause right after; the thread's way back puts gc on, lets go of what
    gdb made (the stand-in spec, the module) and leaves no gc in sys.modules: the payload never ran to
    give it its spec."""
    target = start_target(python, YOUNG_CYCLES, "nogc")
    trap = tmp_path / "kill.gdb"
    trap.write_text(KILL_AT % call)
    run = run_gdb("py-heap --top 3", pid=target.pid, after=("-x", str(trap)))
    assert run.returncode == -9, run.stdout + run.stderr  # it did die at that call
    finalizers = counts(target)[1]
    deadline = time.monotonic() + 30
    while counts(target)[1] < finalizers + 1000 and time.monotonic() < deadline:  # only collections run them
        time.sleep(0.3)
    assert counts(target)[1] >= finalizers + 1000, "the worker's garbage is no longer collected: gc left off"
    assert counts(target)[4] == "unknown", counts(target)
    again = run_gdb("py-heap --top 3", pid=target.pid)
    assert "census backend, run in " in again.stdout, again.stdout + again.stderr
    after = counts(target)
    assert after[4:6] == ("True", 0), after
    # One gc module, the one in sys.modules: no other but the one a guard of gdb's holds where the kill
    # left that guard alive (its gc.enable; gdb drops its guard only after checks, never on its way back),
    # and on 3.9 the one the killed command made, which the interpreter keeps (a single-phase module's
    # state: modules_by_index) when the next import makes gc anew from its cached copy
    assert after[8] == (2 if python == PY39 else 1 + after[6]), after
    if python != PY39:  # (3.9: gc is on while gdb makes the module, in both commands)
        assert after[3] == 0, after


DANGLING_TICK = re.compile(r"^tick \d+ errors=(\d+) passes=(\d+) dangling=(\d+)$")


@pytest.mark.parametrize("python", [
    pytest.param(PYTHON_311, id="pyenv-3.11"),
    pytest.param(PY313, id="pyenv-3.13", marks=pytest.mark.skipif(bool(WHY_313), reason=WHY_313 or "present")),
])
def test_a_thread_iterating_threading_dangling_loses_at_most_one_pass_a_command(start_target, python):
    """The fork guard goes into threading._dangling and out again; a thread of the target iterating
    that set meanwhile got "Set changed size during iteration" both times (10 errors in 5 commands,
    3.11, 2026-12-06).  The way out now waits for the set's own end of iteration, as the WeakSet defers
    its removals.  The way in does not: a child forked during the payload must get gc back (limits.md),
    so an iteration under way as a payload starts still gets one error."""
    commands = ("py-heap --top 1",) * 5
    target = start_target(python, DANGLING_ITERATOR)
    m = latest_match(target, DANGLING_TICK)
    errors, passes, size = (int(x) for x in m.groups())
    run = run_gdb(*commands, pid=target.pid, timeout=180)
    assert_no_traceback(run)
    assert run.stdout.count("Partition of a set") == len(commands), run.stdout + run.stderr
    m = latest_match(target, DANGLING_TICK)
    after = [int(x) for x in m.groups()]
    assert after[1] > passes, "the iterating thread stopped"
    assert after[0] - errors <= len(commands), "%d errors in %d commands" % (after[0] - errors, len(commands))
    assert after[2] == size, "threading._dangling holds %d items, %d before" % (after[2], size)
