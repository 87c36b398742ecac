"""Messages that tell the truth (issue 17 #12): what stopped the target, in one line."""

import subprocess
import time

from support.gdb import assert_no_traceback, run_gdb
from support.interpreters import PYTHON_311
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
