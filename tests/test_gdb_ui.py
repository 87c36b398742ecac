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


def test_help_shows_the_current_timeout_and_verbose_shows_both_tracebacks(start_target):
    """Settings are read when used (issue 15): help after `set py-memleak timeout 7` says 7."""
    run = run_gdb("help py-heap", "set py-memleak timeout 7", "help py-heap", "show py-memleak timeout")
    helps = run.stdout.split("usage: py-heap")
    assert "'set py-memleak timeout', 30)" in helps[1].replace("\n", " ").replace("  ", " ")
    assert "'set py-memleak timeout', 7)" in helps[2].replace("\n", " ").replace("  ", " ")
    assert "gdb-memleak waits up to 7 seconds for a safe point." in run.stdout


def test_verbose_errors_show_the_gdb_side_and_the_target_traceback(start_target, tmp_path):
    target = start_target(PYTHON_311, SEED_CYCLES, "50")
    script = tmp_path / "raising.gdb"
    script.write_text(
        "python\n"
        "from gdb_memleak.commands.base import MemleakCommand\n"
        "from gdb_memleak.inject import session\n"
        "class Raising(MemleakCommand):\n"
        "    name = 'py-memleak-test-raise'\n"
        "    def build_parser(self):\n"
        "        return self.new_parser('raise in the target')\n"
        "    def run(self, inv, args):\n"
        "        session.run_source(inv, 'def gdb_memleak_payload(args):\\n    raise KeyError(\"deep\")\\n', {})\n"
        "Raising()\n"
        "end\n"
    )
    quiet = run_gdb("source %s" % script, "py-memleak-test-raise", pid=target.pid)
    loud = run_gdb("source %s" % script, "set py-memleak verbose on", "py-memleak-test-raise", pid=target.pid)
    line = "py-memleak-test-raise: the payload raised in the target: KeyError: deep"
    assert line in quiet.stderr and line in loud.stderr
    assert "Traceback" not in quiet.stderr and "In the target:" not in quiet.stderr
    assert "Traceback (most recent call last):" in loud.stderr and "session.py" in loud.stderr  # the gdb side
    assert "In the target:" in loud.stderr and "in gdb_memleak_payload" in loud.stderr  # and the target's
    assert target.wait_for_ticks(1)
