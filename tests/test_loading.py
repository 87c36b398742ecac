"""Loading as a user would, and gdb's state put back after a command."""

import os
import re
import subprocess
import sys

import pytest
from support.gdb import assert_no_traceback, gdb_argv, gdb_env, run_gdb
from support.interpreters import PYTHON_311, PYTHON_314D, PYTHON_314D_MISSING, PYTHON_315D, PYTHON_315D_MISSING, libpython, param
from support.paths import REPO
from support.targets import SEED_STRING, SERVICE

from gdb_memleak.host.images import gnu_build_id


def test_gdbinit_lines_load_the_plugin_and_gdb_state_is_restored(start_target, tmp_path):
    lines = subprocess.run([sys.executable, "-m", "gdb_memleak", "gdbinit"], cwd=str(REPO), capture_output=True, text=True, check=True).stdout
    assert str(REPO) in lines
    gdbinit = tmp_path / "gdbinit"
    gdbinit.write_text(lines)
    target = start_target(PYTHON_311, SEED_STRING, "2")
    run = run_gdb(
        "break PyList_Append",
        "set scheduler-locking on",
        "set py-memleak timeout 7",
        "thread 1",
        "py-heap --json --top 1",
        "info breakpoints",
        "show scheduler-locking",
        "show py-memleak timeout",
        "info signals SIGINT",
        pid=target.pid,
        gdbinit=gdbinit,
    )
    assert_no_traceback(run)
    assert run.document()["rows"][0]["kind"] == "str"
    # The user's breakpoint is still there and enabled; settings as the user left them.
    assert any(line.split()[:4] == ["1", "breakpoint", "keep", "y"] for line in run.stdout.splitlines()), run.stdout
    assert 'Mode for locking scheduler during execution is "on".' in run.stdout
    assert "waits up to 7 seconds" in run.stdout
    assert any(line.split()[:4] == ["SIGINT", "Yes", "Yes", "No"] for line in run.stdout.splitlines())
    assert target.wait_for_ticks(1)


def test_loaded_before_the_attach_with_ix(start_target):
    """README's `gdb -ix gdbinit.example -p PID`: loaded while the target still runs, then attached."""
    target = start_target(PYTHON_311, SEED_STRING, "2")
    run = run_gdb("py-heap --json --top 1", pid=target.pid, gdbinit=None, before=("-ix", str(REPO / "gdbinit.example")))
    assert_no_traceback(run)
    assert run.document()["rows"][0]["kind"] == "str"
    assert target.wait_for_ticks(1)


@pytest.mark.parametrize("form", ["program-pid", "program-p-pid"])
def test_loaded_before_gdb_program_pid_asks_nothing(start_target, form):
    """`gdb -ix gdbinit.example PROGRAM PID` (or PROGRAM -p PID), not in batch mode: gdb loads PROGRAM
    after -ix, and the plugin's reading ahead of the attach loaded the target's program before it, so
    gdb asked "Load new symbol table from ...?" (a reviewer's trial, 2026-12-06)."""
    target = start_target(PYTHON_311, SEED_STRING, "2")
    program = (PYTHON_311, str(target.pid)) if form == "program-pid" else (PYTHON_311, "-p", str(target.pid))
    run = run_gdb("py-heap --json --top 1", "detach", gdbinit=None, batch=False,
                  before=("-q", "-ix", str(REPO / "gdbinit.example")), after=program)
    assert_no_traceback(run)
    assert "Load new symbol table" not in run.stdout + run.stderr, run.stdout + run.stderr
    assert run.document()["rows"][0]["kind"] == "str"
    assert target.wait_for_ticks(1)


def test_its_hook_attach_leaves_the_user_s_own_and_gdb_s_errors(start_target, tmp_path):
    """The plugin defines hook-attach (it notes which processes their users stopped, test_keeper.py),
    unless the user has one: theirs stays and runs.  gdb says the same as without the plugin, for an
    attach, a detach and an attach that fails; a hook that fails does not cancel the attach (an error
    in a hook would)."""
    target = start_target(PYTHON_311, SEED_STRING, "2")
    mine = tmp_path / "mine.gdb"
    mine.write_text("define hook-attach\necho the user's hook\\n\nend\n")
    run = run_gdb("show user hook-attach", "attach %d" % target.pid, "detach", gdbinit=None,
                  before=("-x", str(mine), "-x", str(REPO / "gdbinit.example")))
    assert_no_traceback(run)
    assert run.stdout.count("the user's hook") == 2 and "note_user_stops" not in run.stdout, run.stdout + run.stderr
    commands = ("attach %d" % target.pid, "detach", "attach 0")
    run, plain = run_gdb("show user hook-attach", *commands), run_gdb(*commands, gdbinit=None)
    assert_no_traceback(run)
    assert "note_user_stops" in run.stdout, run.stdout
    ours = run.stdout[run.stdout.index("end\n", run.stdout.index("note_user_stops")) + 4:].lstrip("\n")  # (show user ends in a blank line)
    assert _where_it_stopped_left_out(ours) == _where_it_stopped_left_out(plain.stdout) and run.stderr.strip().splitlines()[-1] == plain.stderr.strip().splitlines()[-1], (
        run.stdout, plain.stdout, run.stderr, plain.stderr)
    broken = "python import gdb_memleak.inject.attaching as a; a.note_user_stops = lambda: 1 / 0"
    run = run_gdb(broken, "attach %d" % target.pid, "python print('attached', gdb.selected_inferior().pid)", "detach")
    assert "attached %d" % target.pid in run.stdout and "ZeroDivisionError" not in run.stdout + run.stderr, run.stdout + run.stderr
    assert target.wait_for_ticks(1)


def _where_it_stopped_left_out(stdout: str) -> list[str]:
    """gdb's output lines but the frame and source line an attach stopped in (the target runs: they vary)."""
    kept, attaching = [], False
    for line in stdout.splitlines():
        if line.startswith("[Inferior"):
            attaching = False
        if not attaching:
            kept.append(line)
        if line.startswith("Using host libthread_db"):
            attaching = True
    return kept


@pytest.mark.parametrize("how", ["-ex source", "interactive source"])
def test_sourced_by_its_absolute_path_from_another_directory(tmp_path, how):
    """`source /abs/gdbinit.example` from elsewhere: neither gdb's arguments nor the current directory name
    the checkout (it was "cannot find the checkout"); the descriptor gdb holds open on the file does."""
    source = "source %s" % (REPO / "gdbinit.example")
    env = {k: v for k, v in gdb_env().items() if k != "GDB_MEMLEAK_HOME"}
    if how == "-ex source":
        done = subprocess.run(gdb_argv(source, "help py-heap", gdbinit=None), cwd=str(tmp_path), env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    else:
        done = subprocess.run(gdb_argv(gdbinit=None, batch=False, before=("-q",)), cwd=str(tmp_path), env=env,
                              input="%s\nhelp py-heap\nquit\n" % source, capture_output=True, text=True, timeout=120)
    assert_no_traceback(done)
    assert "cannot find the checkout" not in done.stderr, done.stderr
    assert "usage: py-heap" in done.stdout, done.stdout + done.stderr


def _index_cache_stats(stdout: str) -> tuple[int, int]:
    hits = re.search(r"Cache hits \(this session\): (\d+)", stdout)
    misses = re.search(r"Cache misses \(this session\): (\d+)", stdout)
    assert hits and misses, stdout
    return int(hits.group(1)), int(misses.group(1))


LIBPYTHON_OBJFILES = "python print('libpython objfiles: %d' % sum('libpython' in (o.filename or '') for o in gdb.objfiles()))"


def test_loaded_before_the_attach_it_turns_on_gdb_s_index_cache(start_target, tmp_path):
    """Issue 13: the first attach writes the shared libraries' indexes to gdb's index cache, the next one reads
    them from it instead of building them with the target stopped; the commands see the same target."""
    target = start_target(PYTHON_311, SEED_STRING, "2")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    commands = ("py-memtop", "show index-cache stats", LIBPYTHON_OBJFILES)
    runs = [run_gdb(*commands, pid=target.pid, gdbinit=None, before=("-ix", str(REPO / "gdbinit.example")), extra_env=env)
            for _ in range(2)]
    for run in runs:
        assert_no_traceback(run)
        assert "seed_string.py:" in run.stdout, run.stdout
        assert "libpython objfiles: 1" in run.stdout, run.stdout
    entry = tmp_path / "cache" / "gdb" / (gnu_build_id(libpython(PYTHON_311)) + ".gdb-index")
    assert entry.is_file()
    hits, misses = _index_cache_stats(runs[1].stdout)
    assert hits >= 1 and misses == 0  # everything the second attach read came from the cache
    assert target.wait_for_ticks(1)


@pytest.mark.parametrize("python", [param(PYTHON_314D, PYTHON_314D_MISSING, "host-3.14d"),
                                    param(PYTHON_315D, PYTHON_315D_MISSING, "host-3.15d")])
def test_the_helper_reads_frames_when_the_index_comes_from_the_cache(start_target, python, tmp_path):
    """The second attach reads python3.14d's index from gdb's index cache, which has no `_PyInterpreterFrame`
    typedef for a plain lookup (gdb 13.1 and 18.1): the 3.14 helper then decoded no frame, and py-memtop
    ran its payload in the target instead (2026-12-03). Both attaches read the frames from memory. (The main
    thread waits in select(): the stop location's unit, which gdb expands at the attach, is then the select
    module's, which does not declare the typedef; from time.sleep's, it was found.)"""
    target = start_target(python, SERVICE, "select")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    for attach in range(2):
        run = run_gdb("py-memtop --json", "show index-cache stats", pid=target.pid, gdbinit=None,
                      before=("-ix", str(REPO / "gdbinit.example")), extra_env=env)
        assert_no_traceback(run)
        doc = run.document()
        assert doc["frames_source"] == "libpython", run.stdout + run.stderr
        main = next(t for t in doc["threads"] if t["tid"] == target.pid)
        assert any(f["file"].endswith("service.py") for f in main["frames"]), main
        if attach:  # the index came from the cache
            hits, _ = _index_cache_stats(run.stdout)
            assert hits >= 1, run.stdout
    assert any(name.endswith(".gdb-index") for name in os.listdir(tmp_path / "cache" / "gdb"))
    assert target.wait_for_ticks(1)


def test_the_index_cache_is_left_alone_when_switched_off(start_target, tmp_path):
    target = start_target(PYTHON_311, SEED_STRING, "2")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "GDB_MEMLEAK_INDEX_CACHE": "off"}
    run = run_gdb("py-memtop", "show index-cache enabled", pid=target.pid, gdbinit=None,
                  before=("-ix", str(REPO / "gdbinit.example")), extra_env=env)
    assert_no_traceback(run)
    assert "The index cache is off." in run.stdout, run.stdout
    assert not (tmp_path / "cache" / "gdb").exists()
    assert target.wait_for_ticks(1)


BFD_LINE = re.compile(r"^(\d+)\s+0x[0-9a-f]+\s+(/\S+)\s*$", re.M)


def test_loaded_before_the_attach_it_reads_the_shared_libraries_ahead(start_target):
    """Issue 13: the shared libraries are read into a holding inferior while the target runs, and the attach's
    objfiles share those files (one BFD each, read once); the commands see only the target's program space."""
    target = start_target(PYTHON_311, SEED_STRING, "2")
    run = run_gdb("py-memtop", LIBPYTHON_OBJFILES, "maint info bfds", "info inferiors", pid=target.pid, gdbinit=None,
                  before=("-ix", str(REPO / "gdbinit.example")))
    assert_no_traceback(run)
    assert "seed_string.py:" in run.stdout, run.stdout
    assert "libpython objfiles: 1" in run.stdout, run.stdout
    bfds = {path: int(count) for count, path in BFD_LINE.findall(run.stdout)}
    assert bfds.get(libpython(PYTHON_311), 0) >= 2, run.stdout  # the holding inferior's objfile and the attach's
    assert not any(path.startswith("/usr/lib/x86_64-linux-gnu/libc.so") for path in bfds), run.stdout
    assert "<null>" in run.stdout  # gdb -batch never prompts: the holding inferior stays until gdb exits
    assert target.wait_for_ticks(1)


def test_reading_ahead_is_left_out_when_switched_off(start_target):
    target = start_target(PYTHON_311, SEED_STRING, "2")
    run = run_gdb("py-memtop", "info inferiors", pid=target.pid, gdbinit=None,
                  before=("-ix", str(REPO / "gdbinit.example")), extra_env={"GDB_MEMLEAK_PREREAD": "off"})
    assert_no_traceback(run)
    assert "seed_string.py:" in run.stdout, run.stdout
    assert "<null>" not in run.stdout, run.stdout
    assert target.wait_for_ticks(1)
