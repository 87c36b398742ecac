"""Messages that tell the truth (issue 17 #12): what stopped the target, in one line."""

import os
import signal
import subprocess
import time

import pytest
from support.gdb import assert_no_traceback, run_gdb
from support.heartbeat import wait_for_line
from support.interpreters import PYTHON_311, PYTHON_311_MISSING, PYTHON_313, PYTHON_313_MISSING, param
from support.targets import AUDIT_REFUSES, EXECS_WHEN_TRACED, ODD_BUILTINS, script_line
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


# The hook's own line, which each stage names (the loading stages since 2026-12-07: before, "(an audit hook
# that refuses can do that)" without saying which).
HOOK_AT = "%s, line %d" % (AUDIT_REFUSES, script_line(AUDIT_REFUSES, "raise RuntimeError"))


@pytest.mark.parametrize("event,message", [
    ("marshal.loads", "py-heap: the target could not load the payload's code: the target's own code (%s) raised "
                      "RuntimeError as the payload loaded (an audit hook refusing it); the target is unchanged" % HOOK_AT),
    ("sys._getframe", "py-heap: the payload failed before it could report: the target's own code (%s) raised "
                      "RuntimeError as the payload loaded (an audit hook refusing it); the target is unchanged" % HOOK_AT),
    ("gc.get_objects", "the target's own hook (%s) raised RuntimeError: this service refuses gc.get_objects "
                       "inside the payload" % HOOK_AT),
])
@pytest.mark.parametrize("python", [param(PYTHON_311, PYTHON_311_MISSING, "pyenv-3.11"), param(PYTHON_313, PYTHON_313_MISSING, "pyenv-3.13")])
def test_an_audit_hook_that_refuses_is_named_in_one_line(start_target, event, message, python):
    """Each stage a strict audit hook can stop: loading the code, running its first lines, its work."""
    target = start_target(python, AUDIT_REFUSES, event)
    run = run_gdb("py-heap --top 2", pid=target.pid)
    assert_no_traceback(run)
    assert message in run.stderr, run.stderr
    assert "Partition of a set" not in run.stdout
    assert target.alive() and target.wait_for_ticks(2)


@pytest.mark.parametrize("command", ["py-heap", "py-cycles"])
def test_an_exec_while_waiting_for_a_safe_point_is_named_and_the_new_program_runs(start_target, command):
    """Issue 17 #12: this said "no safe point ... Python at <string>:1", the new program's line
    (and, at other instants, "internal error: MemoryError: Cannot access memory at address")."""
    target = start_target(PYTHON_311, EXECS_WHEN_TRACED)
    run = run_gdb("%s --timeout 15" % command, pid=target.pid, timeout=120)
    assert_no_traceback(run)
    assert ("%s: the target executed a new program (exec) while waiting for a safe point; what it ran before "
            "is gone, with anything of gdb-memleak's, and nothing was run in the new one" % command) in run.stderr, run.stderr
    wait_for_line(target, "new program 42", 20)
    time.sleep(0.5)
    assert target.alive()


# gdb runs this before the command: the target's file appears 50 ms into the n-th payload's call.
FILE_DURING_PAYLOAD = """python
import threading
from gdb_memleak.inject import calls as _calls
_many = _calls.Caller.call_many
_seen = []
def _trap(self, calls, **kwargs):
    if any(name in ("PyEval_EvalCode", "PyRun_StringFlags") for name, _ in calls):
        _seen.append(1)
        if len(_seen) == %d:
            threading.Timer(0.05, open, (%r, "w")).start()
    return _many(self, calls, **kwargs)
_calls.Caller.call_many = _trap
end
"""


# guppy's census runs in the main thread, its second payload (the first checks that guppy imports)
@pytest.mark.parametrize("command,n", [("py-heap --top 3", 1), ("py-heap --backend guppy --top 3", 2)],
                         ids=["own-thread", "main-thread"])
def test_an_exec_during_a_payload_is_named_and_the_new_program_runs(start_target, tmp_path, command, n):
    """The other instant of issue 17 #12's exec: the payload running when another thread execs, in a
    thread of its own (the census) or in the main thread (guppy's).  gdb waited for good before."""
    flag = tmp_path / "exec-now"
    target = start_target(PYTHON_311, EXECS_WHEN_TRACED, env={"EXEC_WHEN_FILE": str(flag)})
    trap = tmp_path / "trap.gdb"
    trap.write_text(FILE_DURING_PAYLOAD % (n, str(flag)))
    run = run_gdb(command, "info breakpoints", pid=target.pid, after=("-x", str(trap)), timeout=120)
    assert_no_traceback(run)
    assert flag.exists(), run.stdout + run.stderr
    assert ("py-heap: the target executed a new program (exec) during the command; what it ran before is gone, "
            "with anything of gdb-memleak's, and nothing was run in the new one") in run.stderr, run.stdout + run.stderr
    assert "No breakpoints or watchpoints." in run.stdout, run.stdout  # its `catch exec` gone with the command
    wait_for_line(target, "new program 42", 20)
    time.sleep(0.5)
    assert target.alive()


# gdb runs this before py-memtop --watch: the target's file appears 1 s into the window.
FILE_DURING_WINDOW = """python
import threading
from gdb_memleak.inject import session as _session
_let_run = _session.let_run
def _trap(*args, **kwargs):
    threading.Timer(1.0, open, (%r, "w")).start()
    return _let_run(*args, **kwargs)
_session.let_run = _trap
end
"""


def test_an_exec_during_a_watch_window_is_named_and_nothing_is_run_in_the_new_program(start_target, tmp_path):
    """gdb's `catch exec` ends the window at the exec: the window ended early, then "not a CPython
    process ... tracemalloc is still on" (a review's trial, 2026-12-06), both untrue, and the stop
    payload was sent into the new program."""
    flag = tmp_path / "exec-now"
    target = start_target(PYTHON_311, EXECS_WHEN_TRACED, env={"EXEC_WHEN_FILE": str(flag)})
    trap = tmp_path / "trap.gdb"
    trap.write_text(FILE_DURING_WINDOW % str(flag))
    run = run_gdb("py-memtop --watch 4", "info breakpoints", pid=target.pid, after=("-x", str(trap)), timeout=120)
    assert_no_traceback(run)
    assert ("py-memtop: the target executed a new program (exec) during the watch window; what it ran before is "
            "gone, with anything of gdb-memleak's, and nothing was run in the new one") in run.stderr, run.stderr
    assert "tracemalloc" not in run.stderr and "ended early" not in run.stderr, run.stderr
    assert "No breakpoints or watchpoints." in run.stdout, run.stdout
    wait_for_line(target, "new program 42", 20)
    time.sleep(0.5)
    assert target.alive()


def _calls(tick: str) -> int:
    return int(tick.split("calls=")[1].split()[0])


def test_replaced_builtins_are_named_and_none_of_them_runs(start_target):
    """Issue 17 #12: this said "the payload failed before it could report ... (replaced builtins, an
    unusual sys.path or an audit hook can do that)", after running the target's len() for it."""
    target = start_target(PYTHON_311, ODD_BUILTINS, "builtins")
    before = target.wait_for_ticks(1)[-1]
    run = run_gdb("py-heap", "py-cycles", pid=target.pid, timeout=120)
    assert_no_traceback(run)
    for command in ("py-heap", "py-cycles"):
        assert ("%s: the target replaced builtins the payloads use (isinstance, len), so its code would run in "
                "their place; the payload did not run" % command) in run.stderr, run.stderr
    after = target.wait_for_ticks(2)[-1]
    assert _calls(after) == _calls(before), (before, after)  # its len and isinstance did not run for us
    assert after.endswith("words=30000")


def test_a_tuple_sys_path_still_gets_an_answer(start_target):
    target = start_target(PYTHON_311, ODD_BUILTINS, "tuple_path")
    target.wait_for_ticks(1)
    run = run_gdb("py-heap --json --top 3", "py-cycles --json", pid=target.pid, timeout=120)
    assert_no_traceback(run)
    heap, cycles = run.json_documents()
    assert heap["rows"][0]["kind"] == "str", heap["rows"][0]
    assert cycles["kind"] == "cycles"
    assert target.wait_for_ticks(2)[-1].endswith("words=30000")


def test_a_target_stopped_with_sigstop_is_named_and_left_stopped(start_target):
    """Issue 17 #12: this said "interrupted before a safe point"."""
    target = start_target(PYTHON_311, BUSY, str(3 * 10**8))
    os.kill(target.pid, signal.SIGSTOP)
    try:
        run = run_gdb("py-heap --timeout 10", pid=target.pid, timeout=120)
        assert_no_traceback(run)
        assert ("py-heap: the target was stopped with SIGSTOP by another process (kill -CONT resumes it) before a "
                "safe point was reached; nothing was run in the target") in run.stderr, run.stderr
        with open("/proc/%d/stat" % target.pid) as stat:
            assert stat.read().rpartition(")")[2].split()[0] == "T"  # as it was found
    finally:
        os.kill(target.pid, signal.SIGCONT)
    assert _result(target, 120) == ["result True"]
