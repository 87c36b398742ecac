"""Messages that tell the truth (issue 17 #12): what stopped the target, in one line."""

import subprocess
import time

import pytest
from support.gdb import assert_no_traceback, run_gdb
from support.interpreters import PYTHON_311
from support.targets import AUDIT_REFUSES, script_line
from support.targets import BUSY_WITH_RT_HANDLER as BUSY


def _result(target, timeout: float = 120) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(line.startswith("result") for line in target.lines):
        time.sleep(0.1)
    return [line for line in target.lines if line.startswith("result")]


def test_a_stream_of_realtime_signals_is_named_not_called_an_interruption(start_target):
    target = start_target(PYTHON_311, BUSY, str(6 * 10**8))
    sender = subprocess.Popen(["bash", "-c", "while kill -s RTMIN %d 2>/dev/null; do sleep 0.05; done" % target.pid])
    try:
        run = run_gdb("py-heap --timeout 20", pid=target.pid, timeout=120)
    finally:
        sender.kill()
        sender.wait()
    assert_no_traceback(run)
    assert ("py-heap: the target received SIGRTMIN+0, which gdb stops on (gdb's 'handle SIG34 nostop noprint' "
            "lets it through) before a safe point was reached; nothing was run in the target") in run.stderr, run.stderr
    assert _result(target) == ["result True"]  # the target finished its work, correctly


def test_with_realtime_signals_let_through_the_command_answers(start_target):
    """The advice in the message works."""
    target = start_target(PYTHON_311, BUSY, str(6 * 10**8))
    sender = subprocess.Popen(["bash", "-c", "while kill -s RTMIN %d 2>/dev/null; do sleep 0.05; done" % target.pid])
    try:
        run = run_gdb("handle SIG34 nostop noprint", "py-heap --timeout 60 --json", pid=target.pid, timeout=180)
    finally:
        sender.kill()
        sender.wait()
    assert_no_traceback(run)
    assert run.document()["kind"] == "heap", run.stderr
    assert _result(target) == ["result True"]


@pytest.mark.parametrize("event,message", [
    ("marshal.loads", "py-heap: the target could not load the payload's code: it raised RuntimeError (an audit hook "
                      "refusing marshal.loads can do that); the target is unchanged"),
    ("sys._getframe", "py-heap: the payload failed before it could report: the target raised RuntimeError while loading "
                      "it (replaced builtins, an unusual sys.path or an audit hook can do that); the target is unchanged"),
    ("gc.get_objects", "the target's own hook (%s, line %d) raised RuntimeError: this service refuses gc.get_objects "
                       "inside the payload" % (AUDIT_REFUSES, script_line(AUDIT_REFUSES, "raise RuntimeError"))),
])
def test_an_audit_hook_that_refuses_is_named_in_one_line(start_target, event, message):
    """Each stage a strict audit hook can stop: loading the code, running its first lines, its work."""
    target = start_target(PYTHON_311, AUDIT_REFUSES, event)
    run = run_gdb("py-heap --top 2", pid=target.pid)
    assert_no_traceback(run)
    assert message in run.stderr, run.stderr
    assert "Partition of a set" not in run.stdout
    assert target.alive() and target.wait_for_ticks(2)
