"""Issue 12: PEP 768 gives 3.14+ processes an opt-out from remote code execution.

A target started with PYTHON_DISABLE_REMOTE_DEBUG=1 or `-X disable-remote-debug` gets
nothing run in it unless the user passes --force: py-heap and py-cycles read its memory
instead where they can (issue 16), py-heap's marks and py-memtop --watch refuse in one line
that says why, and the target is untouched (its registers are as gdb found them).
py-memtop reads memory only (the helper where it can read the frames, the debug builds
here; else the interpreter's own _Py_DebugOffsets): it shows the memory and the locations.  The targets are
forky's interpreters run as host processes (.roots/hostrun, made by `make setup`).
"""

from __future__ import annotations

import os
import re
import time

import pytest
from support.gdb import READ_UNASKED, assert_no_traceback, gdb_reads_the_tree_s_debug_info, run_gdb
from support.heartbeat import assert_beating
from support.paths import HOSTRUN
from support.targets import CONTAINER_HEAP, CONTAINER_LOOP_LINES, Target

# (interpreter, how it opts out, the reason the refusal gives)
OPT_OUTS = [
    pytest.param("python3.14d", "env", "PYTHON_DISABLE_REMOTE_DEBUG is set", id="3.14d-env"),
    pytest.param("python3.15d", "-X", "it runs with -X disable-remote-debug", id="3.15d-X"),
    pytest.param("python3.14", "-X", "it runs with -X disable-remote-debug", id="3.14-X"),
]


@pytest.fixture
def opted_out(processes):
    """start(build, how): container_heap.py run by forky's `build` on the host, opted out `how`."""

    def start(build: str, how: str) -> Target:
        python = HOSTRUN / build
        if not python.exists():
            pytest.skip("no %s (make setup makes it)" % python)
        argv = [str(python), str(CONTAINER_HEAP)]
        env = dict(os.environ)
        if how == "env":
            env["PYTHON_DISABLE_REMOTE_DEBUG"] = "1"
        else:
            argv[1:1] = ["-X", "disable-remote-debug"]
        return processes.argv(argv, env=env, cwd=str(CONTAINER_HEAP.parent))

    return start


def _refusal(command: str, why: str) -> str:
    return ("%s: the target opted out of remote code execution (%s, PEP 768); nothing was run in it "
            "(--force runs the command anyway)" % (command, why))


def _alive(target: Target) -> None:
    assert_beating(target, "held=20000")


@pytest.mark.parametrize("build, how, why", OPT_OUTS)
def test_commands_that_run_code_read_memory_or_refuse_and_leave_the_target_untouched(opted_out, build, how, why):
    """Issue 16: py-heap and py-cycles read the opted-out target's memory instead, saying why: through
    the debug info (the debug builds; the release build with a gdb that finds its debug files) or,
    without it, through the release build's _Py_DebugOffsets and the layout kept for 3.14 (before
    that, they refused there).  Marks and --watch keep data in the target: they refuse."""
    target = opted_out(build, how)
    run = run_gdb(READ_UNASKED, "p/x $pc", "py-heap", "py-cycles", "py-heap --mark a", "py-memtop --watch 1", "p/x $pc",
                  pid=target.pid)
    assert_no_traceback(run)
    said = [line for line in run.stderr.splitlines() if "opted out" in line]
    assert said == [_instead(c, why) for c in ("py-heap", "py-cycles")] + [_refusal(c, why) for c in ("py-heap", "py-memtop")], run.stderr
    assert run.stdout.count("(memory backend: read from the stopped process's memory, nothing run in the target") == 2
    assert "bytearray" in run.stdout and "Pair.other -> Pair.other -> Pair" in run.stdout
    pcs = re.findall(r"^\$\d+ = (0x[0-9a-f]+)$", run.stdout, re.M)
    assert len(pcs) == 2 and pcs[0] == pcs[1], run.stdout  # never resumed, nothing called
    _alive(target)


def _instead(command: str, why: str) -> str:
    return ("%s: the target opted out of remote code execution (%s, PEP 768); --force runs %s in it anyway; "
            "read from memory instead, as --read-only (the whole process stopped meanwhile)" % (command, why, command))


def test_a_release_build_stopped_in_a_sleep_is_read(processes):
    """CI, 2026-12-02: forky's release 3.14 stopped in clock_nanosleep, gdb 16/18 reading its debug
    files: `&_dummy_struct` (the set dummy) was "optimized out" there, and --read-only refused."""
    python = HOSTRUN / "python3.14"
    if not python.exists() or not gdb_reads_the_tree_s_debug_info():
        pytest.skip("needs %s and a gdb that reads its debug files (make setup; the gdb 16/18 pass)" % python)
    code = "import time\nprint('ready', flush=True)\nwhile True:\n    time.sleep(60)\n"
    target = processes.argv([python, "-X", "disable-remote-debug", "-c", code])
    time.sleep(0.3)  # into the sleep
    run = run_gdb("py-heap --read-only", "py-cycles --read-only", pid=target.pid)
    assert_no_traceback(run)
    assert "cannot read" not in run.stderr, run.stderr
    assert run.stdout.count("(memory backend: read from the stopped process's memory, nothing run in the target") == 2
    assert target.alive()


@pytest.mark.parametrize("build, how, why", OPT_OUTS[:2])
def test_memtop_still_shows_memory_and_locations_from_the_helper(opted_out, build, how, why):
    target = opted_out(build, how)
    run = run_gdb("p/x $pc", "py-memtop --json", "p/x $pc", pid=target.pid)
    assert_no_traceback(run)
    doc = run.document()
    assert doc["rss"] > 20_000_000 and doc["frames_source"] == "libpython", run.stderr
    main = next(t for t in doc["threads"] if t["tid"] == target.pid)
    assert main["frames"][0]["file"] == str(CONTAINER_HEAP) and main["frames"][0]["line"] in CONTAINER_LOOP_LINES, main
    pcs = re.findall(r"^\$\d+ = (0x[0-9a-f]+)$", run.stdout, re.M)
    assert len(pcs) == 2 and pcs[0] == pcs[1], run.stdout
    _alive(target)


def test_memtop_without_a_readable_helper_reads_the_locations_with_the_debug_offsets(opted_out):
    """A release build: the helper reads nothing here, and the payload fallback may not run.
    Its own _Py_DebugOffsets place the threads with memory reads only: nothing runs in the
    target (its registers are as gdb found them).  Until 2026-12-04 the locations were
    missing here (and before, py-memtop's only output was the fallback's refusal)."""
    if gdb_reads_the_tree_s_debug_info():
        pytest.skip("this gdb reads the release build's debug info: the helper answers")
    target = opted_out("python3.14", "env")
    run = run_gdb("p/x $pc", "py-memtop --json", "p/x $pc", pid=target.pid)
    assert_no_traceback(run)
    doc = run.document()
    assert doc["rss"] > 20_000_000 and doc["frames_source"] == "debug_offsets", run.stderr
    main = next(t for t in doc["threads"] if t["tid"] == target.pid)
    assert main["source"] == "debug_offsets", main
    assert main["frames"][0]["file"] == str(CONTAINER_HEAP) and main["frames"][0]["line"] in CONTAINER_LOOP_LINES, main
    pcs = re.findall(r"^\$\d+ = (0x[0-9a-f]+)$", run.stdout, re.M)
    assert len(pcs) == 2 and pcs[0] == pcs[1], run.stdout
    _alive(target)


@pytest.mark.parametrize("build, how, why", OPT_OUTS[:2])
def test_force_runs_them(opted_out, build, how, why):
    target = opted_out(build, how)
    run = run_gdb("py-heap --force --json", "py-cycles --force --json", "py-memtop --force --watch 1 --json", pid=target.pid)
    assert_no_traceback(run)
    heap, cycles, watched = run.json_documents()
    assert 1 <= watched["growth"]["seconds"] <= 10, watched["growth"]
    assert heap["rows"][0]["kind"] == "bytearray"
    assert any(c["path"] == "Pair.other -> Pair.other -> Pair" for c in cycles["cycles"]), cycles["cycles"][:3]
    assert "opted out" not in run.stderr
    _alive(target)


@pytest.mark.parametrize("argv,expected", [
    (["python3.14", "-X", "disable-remote-debug", "app.py"], ([b"disable-remote-debug"], False)),
    (["python3.14", "-Xdisable-remote-debug", "app.py"], ([b"disable-remote-debug"], False)),
    (["python3.14", "app.py", "-X", "disable-remote-debug"], ([], False)),  # the program's own argument
    (["python3.14", "-E", "app.py"], ([], True)),
    (["python3.14", "-Ic", "import x"], ([], True)),
    (["python3.14", "-c", "x", "-X", "disable-remote-debug"], ([], False)),
])
@pytest.mark.unit
def test_only_the_interpreters_own_options_count(argv, expected):
    """Found by a test target that passed -X disable-remote-debug to its script, and one under
    -E with the variable set: both were refused though the interpreter had not opted out."""
    from gdb_memleak.inject.landing import _interpreter_options

    assert _interpreter_options([a.encode() for a in argv]) == expected
