"""Loading as a user would, and gdb's state put back after a command."""

import subprocess
import sys

from support.gdb import assert_no_traceback, run_gdb
from support.interpreters import PYTHON_311
from support.paths import REPO
from support.targets import SEED_STRING


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
