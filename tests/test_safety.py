"""The first law: no safe point means a clean error in time, and the target unharmed."""

import time

from conftest import PYENV_311, TARGETS, assert_no_traceback, run_gdb, script_line

LONG_C_CALL = TARGETS / "long_c_call.py"


def test_gil_held_in_a_long_c_call_times_out_cleanly(start_target):
    target = start_target(PYENV_311, LONG_C_CALL)
    started = time.monotonic()
    run = run_gdb("py-heap --timeout 1", pid=target.pid)
    elapsed = time.monotonic() - started
    assert_no_traceback(run)
    line = script_line(LONG_C_CALL, "total = sum(range(N))")
    assert "py-heap: no safe point within 1 s" in run.stderr
    assert "Python at %s:%d in <module>" % (LONG_C_CALL, line) in run.stderr
    assert "nothing was run in the target" in run.stderr
    assert elapsed < 30
    # The computation finishes, with the right answer.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(l.startswith("result") for l in target.lines):
        time.sleep(0.1)
    assert "result True" in target.lines
