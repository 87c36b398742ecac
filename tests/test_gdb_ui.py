"""In gdb (issue 6): tab completion that runs nothing in the target, and gdb's styling only when gdb styles."""

from __future__ import annotations

from support.gdb import assert_no_traceback, run_gdb, run_gdb_on_a_terminal
from support.interpreters import PYTHON_311
from support.targets import SEED_CYCLES


def completions(run, command: str) -> list[str]:
    return [line[len(command) + 1:] for line in run.stdout.splitlines() if line.startswith(command + " ")]


def test_options_complete_without_a_target(tmp_path):
    (tmp_path / "graph-a.svg").write_text("")
    (tmp_path / "sub").mkdir()
    run = run_gdb(
        "complete py-heap --la", "complete py-memtop --w", "complete py-heap --backend c",
        "complete py-cycles --gra", "complete py-cycles Obj", "complete py-cycles --top ",
        "complete py-cycles --graph %s/" % tmp_path,
    )
    assert_no_traceback(run)
    lines = run.stdout.splitlines()
    assert "py-heap --largest" in lines
    assert "py-memtop --watch" in lines and "py-memtop --watch-stop" in lines
    assert "py-heap --backend census" in lines
    assert "py-cycles --graph" in lines
    assert not [line for line in lines if line.startswith(("py-cycles Obj", "py-cycles --top "))]  # nothing known yet
    assert "py-cycles --graph %s/graph-a.svg" % tmp_path in lines and "py-cycles --graph %s/sub/" % tmp_path in lines


def test_type_names_complete_from_the_last_result(start_target):
    target = start_target(PYTHON_311, SEED_CYCLES, "500")
    before = target.wait_for_ticks(1)
    run = run_gdb("complete py-cycles Obj", "py-heap --json --top 1000", "complete py-cycles Obj",
                  "complete py-cycles __main__.Obj", "complete py-cycles --depth 2 ObjectB", pid=target.pid)
    assert_no_traceback(run)
    lines = run.stdout.splitlines()
    first = lines.index(next(line for line in lines if line.startswith("{")))
    assert not any(line.startswith("py-cycles ") for line in lines[:first])  # no cache yet: nothing, and nothing run
    assert "py-cycles ObjectA" in lines and "py-cycles ObjectB" in lines
    assert "py-cycles __main__.ObjectA" in lines and "py-cycles __main__.ObjectB" in lines
    assert "py-cycles --depth 2 ObjectB" in lines
    assert before and target.wait_for_ticks(1)


def test_batch_output_is_plain(start_target):
    target = start_target(PYTHON_311, SEED_CYCLES, "500")
    run = run_gdb("py-memtop", "py-heap --top 3", pid=target.pid)
    assert_no_traceback(run)
    assert "Index  Count" in run.stdout and "seed_cycles.py:" in run.stdout
    assert "\x1b" not in run.stdout + run.stderr


def test_terminal_output_uses_gdb_styles(start_target):
    target = start_target(PYTHON_311, SEED_CYCLES, "500")
    out = run_gdb_on_a_terminal(target.pid, "py-memtop --stack 1", "py-heap --top 3")
    assert "Traceback" not in out
    assert "\x1b[1mIndex  Count" in out  # bold table header
    assert "\x1b[32m%s\x1b[0m:" % SEED_CYCLES in out  # the file in gdb's filename style (green)
    plain = run_gdb_on_a_terminal(target.pid, "set style enabled off", "py-heap --top 3")
    assert "Index  Count" in plain and "\x1b[1mIndex" not in plain
    assert target.wait_for_ticks(1)
