"""The fault matrix, target side: wherever the target is and whatever it does meanwhile,
a command gives its answer or a clear one-line error in time, and the target
carries on unharmed (issue 3, conditions 1-4 and 9).

Each target checks its own data in every heartbeat ("ok=True"), so a test can
tell that a command left it correct, not just alive.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support.gdb import READ_UNASKED, assert_no_traceback, run_gdb, run_source_script, start_gdb
from support.heartbeat import assert_carries_on, latest_match, service_state, wait_for_line, wait_for_line_prefix
from support.interpreters import (
    INTERPRETERS,
    PYTHON_27,
    PYTHON_27_MISSING,
    PYTHON_311,
    PYTHON_311_MISSING,
    PYTHON_312,
    PYTHON_312_MISSING,
    PYTHON_313,
    PYTHON_313_MISSING,
    PYTHON_NODEBUG,
    host_build,
    param,
)
from support.paths import TARGETS
from support.targets import (
    CATCHES_STOP_SIGNALS,
    FOREIGN_SLEEP,
    IDLE,
    LONG_C_CALL,
    SEED_CYCLES,
    SERVICE,
    SERVICE_65MB,
    assert_service_kinds,
    script_line,
)

# A payload that tells the test it is running, then holds the call open.
SLOW_PAYLOAD = '''
def gdb_memleak_payload(args):
    import sys, time
    sys.stdout.write("payload running\\n")
    sys.stdout.flush()
    time.sleep(args["seconds"])
    return {"slept": args["seconds"]}
'''


def write_script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def wait_for_result(target, timeout: float = 120) -> None:
    """long_c_call.py prints its result when the sum is done: it must be the right one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(line.startswith("result") for line in target.lines):
        time.sleep(0.1)
    assert "result True" in target.lines, target.lines


# Condition 1: the GIL held in one long C call.


def test_gil_held_in_a_long_c_call_times_out_cleanly(start_target):
    target = start_target(PYTHON_311, LONG_C_CALL)
    started = time.monotonic()
    run = run_gdb("py-heap --timeout 1", pid=target.pid)
    elapsed = time.monotonic() - started
    assert_no_traceback(run)
    line = script_line(LONG_C_CALL, "total = sum(range(N))")
    assert "py-heap: no safe point within 1 s" in run.stderr
    assert "Python at %s:%d in <module>" % (LONG_C_CALL, line) in run.stderr
    assert "nothing was run in the target" in run.stderr
    assert elapsed < 30
    wait_for_result(target)


def test_calls_that_do_not_finish_alone_finish_with_every_thread(start_target):
    """A call first runs with only its thread resumed, up to calls.SOLO_LIMIT (a continue of every
    thread stops each again after it: 25 ms a call with 300 busy threads), then with every thread
    (it may wait for a lock another holds).  At 20 microseconds nearly every call takes that second
    way: the answers, and the service's data, are as with the first."""
    target = start_target(PYTHON_311, SERVICE, "busy")
    before = service_state(target.wait_for_ticks(1)[-1])
    run = run_gdb("python from gdb_memleak.inject import calls; calls.SOLO_LIMIT = 0.00002",
                  "py-heap --top 5", "py-cycles", "py-heap --top 5", pid=target.pid)
    assert_no_traceback(run)
    assert run.stdout.count("Partition of a set") == 2 and "reference cycles" in run.stdout.lower(), run.stdout + run.stderr
    ticks = assert_carries_on(target, 3)
    assert service_state(ticks[-1]) == before, (ticks[-1], before)


def test_commands_that_find_no_safe_point_leave_the_padding_free(start_target):
    """Each command queues its pending call from a stub in the padding after one file's code. With no
    safe point the stub stayed, and a later gdb cannot tell it from a call under way: after one
    command per site (11 here), every command refused with "no free padding" (a user's trial)."""
    from gdb_memleak.inject import landing

    target = start_target(PYTHON_311, LONG_C_CALL, str(10**11))
    sites = landing.padding_sites(target.pid)
    run = run_gdb(*["py-heap --timeout 1 --top 1"] * (len(sites) + 1), pid=target.pid, timeout=300)
    assert_no_traceback(run)
    assert "no free padding" not in run.stderr, run.stderr
    assert run.stderr.count("py-heap: no safe point within 1 s") == len(sites) + 1, run.stderr
    assert target.alive()


def test_a_target_that_catches_both_stop_signals_is_refused_with_the_way_to_read_it(start_target):
    """No signal is left to stop its threads with: nothing runs in it, and the one line says how to
    read its heap anyway (it did not: a user's trial)."""
    target = start_target(PYTHON_311, CATCHES_STOP_SIGNALS)
    run = run_gdb("py-heap --top 3", "py-heap --read-only --top 3", pid=target.pid)
    assert_no_traceback(run)
    assert ("py-heap: the target catches or blocks both SIGURG and SIGWINCH, the signals gdb-memleak stops threads "
            "with; nothing was run in the target (py-heap --read-only and py-cycles --read-only read its memory "
            "instead)") in run.stderr, run.stderr
    assert "dict (no owner)" in run.stdout  # the --read-only census
    assert target.wait_for_ticks(1)[-1].endswith(" caught=0"), target.ticks()[-1]


# Condition 2: gdb stopped inside the allocator or the collector.

ALLOCATOR_STOPS = {
    "glibc _int_malloc (arena lock held)": "break _int_malloc",
    "glibc free": "break __libc_free",
    "the middle of PyObject_Malloc": (
        "python import gdb; start = int(gdb.parse_and_eval('(long)&PyObject_Malloc')); "
        "gdb.execute('break *%d' % gdb.selected_inferior().architecture().disassemble(start, count=4)[-1]['addr'])"
    ),
    "the cyclic collector": "break gc_collect_main",
}


@pytest.mark.parametrize("where", list(ALLOCATOR_STOPS))
def test_stopped_inside_the_allocator_moves_to_a_safe_point(start_target, where):
    target = start_target(PYTHON_311, SERVICE, "churn")
    run = run_gdb(ALLOCATOR_STOPS[where], "continue", "bt 1", "delete", "py-heap --json --top 5", pid=target.pid)
    assert_no_traceback(run)
    assert "Breakpoint 1, " in run.stdout, run.stdout + run.stderr  # gdb really was stopped there
    doc = run.document()
    assert_service_kinds(doc)
    assert_carries_on(target)


# Condition 3: the main thread blocked for good; other threads busy, or all idle.


@pytest.mark.parametrize("python", INTERPRETERS)
@pytest.mark.parametrize("mode", ["event", "join", "select", "busy"])
def test_commands_work_while_the_main_thread_is_blocked(start_target, python, mode):
    target = start_target(python, SERVICE, mode)
    before = target.wait_for_ticks(1)
    run = run_gdb("py-heap --json --top 5", "py-cycles --json", pid=target.pid, timeout=120)
    assert_no_traceback(run)
    heap, cycles = run.json_documents()
    assert_service_kinds(heap)
    assert "cycles" in cycles
    after = assert_carries_on(target)
    assert service_state(after[-1]) == service_state(before[-1])


@pytest.mark.parametrize("python", INTERPRETERS)
def test_commands_work_when_every_thread_is_idle(start_target, python):
    target = start_target(python, SERVICE, "idle")
    run = run_gdb("py-heap --json --top 5", pid=target.pid, timeout=120)
    assert_no_traceback(run)
    assert_service_kinds(run.document())
    # The main thread went back to waiting: a signal still finds it there, and its data intact.
    os.kill(target.pid, signal.SIGUSR1)
    wait_for_line_prefix(target, "checked ok=True")
    assert target.alive() and "main thread returned" not in target.lines


# Condition 4: the process exits or is killed while a command runs.


def _wait_until_traced_and_running(pid: int, timeout: float = 60) -> None:
    """Until gdb has attached and lets the target run again (it waits for a safe point): a
    tracer, and the target out of its tracing stop for 0.3 s in a row."""
    deadline = time.monotonic() + timeout
    since = None
    while time.monotonic() < deadline:
        status = dict(line.split(":", 1) for line in open("/proc/%d/status" % pid).read().splitlines() if ":" in line)
        if status["TracerPid"].strip() != "0" and status["State"].split()[0] in ("R", "S"):
            since = since or time.monotonic()
            if time.monotonic() - since >= 0.3:
                return
        else:
            since = None
        time.sleep(0.02)
    raise AssertionError("gdb did not start waiting for a safe point within %d s" % timeout)


def test_target_killed_while_waiting_for_a_safe_point(start_target):
    target = start_target(PYTHON_311, LONG_C_CALL)
    gdb = start_gdb("py-heap --timeout 60", pid=target.pid)
    _wait_until_traced_and_running(target.pid)  # (a fixed 1.5 s once killed it while gdb still attached)
    target.stop()  # SIGKILL, by pid
    started = time.monotonic()
    stdout, stderr = gdb.finish(timeout=30)
    assert time.monotonic() - started < 10
    assert "Traceback" not in stdout + stderr
    assert "py-heap: the target exited while waiting for a safe point" in stderr, stderr


def test_target_killed_during_a_call(start_target, tmp_path):
    """One line, and gdb's settings are the user's again (they stayed changed: the user's breakpoint
    disabled, our catchpoint kept, thread events not printed)."""
    target = start_target(PYTHON_311, SERVICE, "event")
    script = run_source_script(tmp_path, SLOW_PAYLOAD, {"seconds": 30})
    gdb = start_gdb("break PyObject_Free", "source %s" % script, "info breakpoints", "show print thread-events",
                    pid=target.pid)
    wait_for_line(target, "payload running")
    target.stop()
    stdout, stderr = gdb.finish(timeout=30)
    assert "Traceback" not in stdout + stderr
    # The payload runs as marshalled code (PyEval_EvalCode), or as source where it cannot be precompiled.
    assert re.search(r"ERROR the target exited during a call to (PyEval_EvalCode|PyRun_StringFlags)\(\)", stdout), stdout + stderr
    assert re.search(r"breakpoint\s+keep y .*PyObject_Free", stdout) and "catchpoint" not in stdout, stdout
    assert "Printing of thread events is on." in stdout, stdout


# Condition 9: Ctrl-C in gdb; commands in a row; the same process inspected again and again.


def test_ctrl_c_while_waiting_gives_up_cleanly(start_target):
    target = start_target(PYTHON_311, LONG_C_CALL, str(6 * 10**8))
    gdb = start_gdb("py-heap --timeout 60", pid=target.pid)
    _wait_until_traced_and_running(target.pid)
    os.kill(gdb.proc.pid, signal.SIGINT)  # what Ctrl-C at gdb's terminal sends
    started = time.monotonic()
    stdout, stderr = gdb.finish(timeout=30)
    assert time.monotonic() - started < 10
    assert "Traceback" not in stdout + stderr
    assert "py-heap: interrupted before a safe point was reached; nothing was run in the target" in stderr, stderr
    wait_for_result(target)


def test_a_sigint_to_the_target_while_waiting_ends_the_command_and_reaches_the_target(start_target):
    """A `kill -INT` to the target (not gdb's Ctrl-C) while the command waits for a safe point: the
    command ends and says so, and the signal is given to the target once gdb has let go of it (at
    its exit here), so the target still gets its KeyboardInterrupt (it was lost: gdb never passes a
    SIGINT on)."""
    target = start_target(PYTHON_311, LONG_C_CALL, str(6 * 10**8))
    gdb = start_gdb("py-heap --timeout 60", pid=target.pid)
    _wait_until_traced_and_running(target.pid)
    os.kill(target.pid, signal.SIGINT)
    stdout, stderr = gdb.finish(timeout=30)
    assert "Traceback" not in stdout + stderr
    assert ("py-heap: the target received SIGINT from process %d before a safe point was reached; nothing was run "
            "in the target" % os.getpid()) in stderr, stderr
    assert "so gdb-memleak sends one to the target once gdb lets go of it" in stderr, stderr
    assert target.proc.wait(timeout=60) == -signal.SIGINT, target.lines[-3:]
    assert "KeyboardInterrupt" in "".join(target.stderr), target.stderr[-5:]


def test_ctrl_c_during_a_call_lets_it_finish(start_target, tmp_path):
    target = start_target(PYTHON_311, SERVICE, "event")
    script = run_source_script(tmp_path, SLOW_PAYLOAD, {"seconds": 2})
    gdb = start_gdb("source %s" % script, pid=target.pid)
    wait_for_line(target, "payload running")
    os.kill(gdb.proc.pid, signal.SIGINT)
    stdout, stderr = gdb.finish(timeout=60)
    assert "Traceback" not in stdout + stderr
    # One Ctrl-C leaves a call in flight to finish, and says so: a second would leave it to finish by itself.
    assert 'RESULT {"slept": 2}' in stdout, stdout + stderr
    assert "is still running; Ctrl-C again leaves it to finish in the target by itself" in stderr, stderr
    assert_carries_on(target)


@pytest.mark.parametrize("python", INTERPRETERS)
def test_commands_in_a_row_leave_a_busy_target_correct(start_target, python):
    """The seed's case 1 allocates nonstop on its main thread. Several commands in one
    session, five times over: a leftover exception or a damaged heap would kill it (as
    malloc_trim after each payload once did)."""
    target = start_target(python, SEED_CYCLES, "300")
    for _ in range(5):
        run = run_gdb("py-heap --json", "py-heap --json", "py-memtop --json", "py-cycles --json", pid=target.pid, timeout=120)
        assert_no_traceback(run)
        assert len(run.json_documents()) == 4
    assert target.wait_for_ticks(3) and target.alive(), target.stderr[-5:]
    assert not any("Error" in line for line in target.stderr), target.stderr[-5:]


def proc_threads(pid: int) -> int:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads line")


def inspect_ten_times(target) -> None:
    for _ in range(10):
        # Two commands in a row in one gdb, ten times over.
        run = run_gdb("py-heap --json --largest 2", "py-cycles --json", pid=target.pid, timeout=120)
        assert_no_traceback(run)
        assert len(run.json_documents()) == 2


@pytest.mark.parametrize("python", INTERPRETERS)
def test_ten_inspections_leave_no_thread_module_path_or_gc_change(start_target, python):
    target = start_target(python, SERVICE, "event")
    before = target.wait_for_ticks(1)
    threads = proc_threads(target.pid)
    inspect_ten_times(target)
    after = assert_carries_on(target)
    assert proc_threads(target.pid) == threads
    assert service_state(after[-1]) == service_state(before[-1])


# forky's release 3.14, no debug info: routed since 2026-12-07 (counter_scan.py)
@pytest.mark.parametrize("python", [*INTERPRETERS, param(*host_build("python3.14"), "forky-3.14-nodebug")])
def test_ten_inspections_leave_rss_within_four_percent(start_target, python):
    """Measured 2026-11-27 on a 65 MB service: +0.1% (pyenv 3.11) and +0.1% (Debian 3.11) after ten.

    2026-12-01, after the payloads stopped running finalizers in their own thread (issue 17 #2):
    +1.2 to +1.3 MB (+1.7 to +1.9%) in four runs of ten sessions on pyenv 3.11, against +0.27 MB
    just before; most of it is one step of about 0.8 MB in one session of the ten (a glibc heap
    that cannot shrink back: cause not found yet, issue 17 left open).  The bound follows: 2.5%.

    2026-12-02, with --largest measuring retained sizes (a payload 14 KB longer, 0.3-0.5 s
    longer here): +2.57 to +2.66% (pyenv 3.11, three runs) and +1.94 to +1.97% (Debian 3.11).
    The 0.8 MB step, found: the service's heartbeat thread builds an 800 KB sorted list every
    half second, and its glibc arena (not the main one) comes out of a session with that much
    free at its top, which malloc_trim never gives back for such an arena; a session made
    1.5 s longer by a sleep alone, with the previous payloads, did the same.  The rest is
    the main heap, about +0.04 MB per 1 KB of payload source (ten sessions).  The bound: 3%.

    2026-12-02, payloads in a thread of their own (inject/own_thread.py, issue 13): +3.11 to
    +3.45% (pyenv 3.11, four runs) against +1.98 to +2.00% with the same code holding the safe
    point's thread: that thread's glibc arena keeps about 0.8 MB resident after the first session
    (the payload's leftovers, interned names and the like, spread over its pages; its top chunk is
    given back), and every later session reuses it.  The bound: 4%."""
    target = start_target(python, SERVICE, "event", env=SERVICE_65MB)
    target.wait_for_ticks(1)
    rss_before = target.rss()
    inspect_ten_times(target)
    time.sleep(1)
    growth = (target.rss() - rss_before) / rss_before
    print("RSS %d kB, %+.2f%% after ten inspections" % (rss_before // 1024, 100 * growth))
    assert growth < 0.04, "RSS grew by %.2f%% (%d kB)" % (100 * growth, (target.rss() - rss_before) // 1024)
    assert_carries_on(target)


@pytest.mark.parametrize("python", INTERPRETERS)
def test_ten_inspections_of_a_small_service_leave_a_bounded_fixed_cost(start_target, python):
    """What is left is a fixed cost, whatever the heap's size: CPython's free lists and glibc's
    per-thread cache keep some of the payload's last freed blocks, and their pages stay.

    Measured 2026-11-27 on a 25 MB service, ten sessions: +0.6 to +0.9 MB (pyenv 3.11, 2.4-3.5%)
    and +0.7 MB (Debian 3.11, 3.3%).  Before the payload's temporaries were kept out of pymalloc:
    +1.35 MB and +1.05 MB; earlier that day, +1.5 and +2.5 MB.  (The 65 MB test above is the one
    that fails if the routing stops happening.)

    2026-12-02, with the retained walk's 14 KB of payload source: +1.29 to +1.63 MB (pyenv 3.11)
    and +1.00 to +1.26 MB (Debian 3.11), four runs each; that much more source alone left a 65 MB
    service's main heap 0.43 MB bigger after ten py-heap sessions.  A clean-clone CI run went past
    1.5 MB (its figure not kept).  The bound: 2 MB.

    2026-12-02, py-heap and py-cycles in a thread of their own (inject/own_thread.py): +2.5 MB in
    one run (pyenv 3.11): that thread's glibc arena keeps about 0.8 MB after the first session,
    reused by the later ones (the 65 MB test above measures it).  The bound: 3 MB."""
    target = start_target(python, SERVICE, "event")
    target.wait_for_ticks(1)
    rss_before = target.rss()
    inspect_ten_times(target)
    time.sleep(1)
    growth = target.rss() - rss_before
    print("RSS %d kB, %+d kB after ten inspections" % (rss_before // 1024, growth // 1024))
    assert growth < 3072 * 1024, "RSS grew by %d kB" % (growth // 1024)


RECORDS_27 = TARGETS / "records27.py"


# Python 2.7's int blocks (intobject.c's block_list), counted by gdb from the debug info.
INT_BLOCKS_27 = (
    "python\n"
    "block, count = gdb.parse_and_eval(\"'intobject.c'::block_list\"), 0\n"
    "while int(block) and count < 10**7:\n"
    "    block, count = block['next'], count + 1\n"
    "print('int blocks: %d' % count)\n"
    "end"
)


def test_a_python2_target_keeps_no_int_blocks_of_ours_and_is_told_what_it_kept(start_target, tmp_path):
    """Issue 17 #10: 2.7 has no allocator hooks, so a payload's temporaries go through pymalloc,
    and 2.7 kept every int block for good: one py-cycles on this 30 MB service took its int blocks
    from 1,023 to 3,511-3,553 (2.4 MB that only ints could use again), 2026-12-02; with the fix,
    1,023 in eight runs of nine, 1,267 in one.  The injector now
    empties the int and float free lists after each payload, as 2.7's full collection does.
    RSS: +2.9-3.0 MB after the first py-cycles before, +0.6-1.9 MB after (the worker makes it
    swing by 1.3 MB, too much for a bound here); each command says what it kept (below)."""
    if PYTHON_27_MISSING:
        pytest.skip(PYTHON_27_MISSING)
    target = start_target(PYTHON_27, RECORDS_27)
    time.sleep(1)
    script = tmp_path / "int_blocks.gdb"
    script.write_text(INT_BLOCKS_27 + "\n")
    run = run_gdb("source %s" % script, "py-cycles --json", "py-heap --largest 2 --json", "source %s" % script,
                  pid=target.pid, timeout=120)
    assert_no_traceback(run)
    assert len(run.json_documents()) == 2
    before, after = (int(n) for n in re.findall(r"^int blocks: (\d+)$", run.stdout, re.M))
    # Blocks that also hold a live int of the worker's stay (up to 244 of them seen in nine runs)
    assert after - before < 500, "int blocks %d before, %d after" % (before, after)
    for said in re.findall(r"^py-(?:cycles|heap): warning: the target's RSS grew by .*$", run.stderr, re.M):
        assert said.endswith("Python 2.7's allocator keeps part of what a payload used (docs/safety.md, row 5g)"), said
    assert target.alive()


def test_a_python2_command_warns_exactly_when_the_target_grew(start_target):
    """Issue 17: a 2.7 target is left within the bounds of the others "or the command says what it costs".
    On a quiet service (no worker: its RSS moves only while a command runs, its main thread asleep),
    the RSS read while gdb holds it stopped between commands grew by 256 KiB or more in a command
    exactly when that command's document warns (since 2026-12-07; the first py-cycles: +1.3 MiB and
    the warning, the next commands +0.1-0.2 MiB and none, by hand on the busy service)."""
    if PYTHON_27_MISSING:
        pytest.skip(PYTHON_27_MISSING)
    target = start_target(PYTHON_27, RECORDS_27, "quiet")
    rss = "python print('rss %%d' %% procfs.proc_status(%d)['VmRSS'])" % target.pid
    commands = ("py-cycles --json", "py-heap --largest 2 --json", "py-cycles --json")
    run = run_gdb("python from gdb_memleak.host import procfs", rss,
                  *(line for command in commands for line in (command, rss)), pid=target.pid, timeout=120)
    assert_no_traceback(run)
    documents = run.json_documents()
    assert len(documents) == 3
    sizes = [int(n) for n in re.findall(r"^rss (\d+)$", run.stdout, re.M)]
    for command, document, grown in zip(commands, documents, (b - a for a, b in zip(sizes, sizes[1:]))):
        said = [n for n in document.get("notes") or [] if n.startswith("warning: the target's RSS grew by")]
        # The command reads the RSS at its safe point and before its last steps: a page or two of its
        # own can fall between the two readings (the stub's, text pages it drops), so within 32 KiB of
        # the threshold either answer is right (seen: 0.9 and 0.4 MiB, 52 KiB, far from it).
        if abs(grown - 256 * 1024) > 32 * 1024:
            assert bool(said) == (grown >= 256 * 1024), (command, grown, document.get("notes"))
    assert target.alive()


def file_backed_text_kb(pid: int) -> int:
    """kB of the target's RSS that are pages of its program and library files (read-only mappings)."""
    total, counting = 0, False
    with open("/proc/%d/smaps" % pid) as smaps:
        for line in smaps:
            fields = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+$", fields[0]):
                counting = fields[1] in ("r-xp", "r--p") and len(fields) > 5 and fields[5].startswith("/")
            elif counting and fields[0] in ("Rss:", "Anonymous:"):
                total += int(fields[1]) if fields[0] == "Rss:" else -int(fields[1])
    return total


@pytest.mark.parametrize("python", INTERPRETERS)
def test_program_text_a_command_brought_in_is_dropped_again(start_target, python):
    """The payloads run interpreter code the service never ran: on Debian's python3.11 those
    pages added 0.55 MB to its RSS until the injector started dropping them again."""
    target = start_target(python, SERVICE, "event")
    target.wait_for_ticks(1)
    before = file_backed_text_kb(target.pid)
    run = run_gdb("py-heap --json --largest 2", "py-cycles --json", pid=target.pid, timeout=120)
    assert_no_traceback(run)
    after = file_backed_text_kb(target.pid)
    print("program text in RSS: %d kB before, %d kB after" % (before, after))
    # 2026-12-02, py-heap and py-cycles in a thread of their own (inject/own_thread.py): 64 to 192 kB on
    # Debian's 3.11, +128 kB of it libc's text (+8 kB of python3.11's): that thread's way out (its thread
    # state deleted, the thread ending in libc) runs after the pages are dropped.  Shared, clean pages.
    assert after - before < 256, (before, after)
    assert_carries_on(target)


# At a safe point: errno set to 77, then a call that fails with EINVAL (madvise of an
# unaligned address); the thread's errno must read 77 afterwards.
ERRNO_CHECK = """
import gdb
from gdb_memleak.gdbside import inferior
from gdb_memleak.inject import landing, safepoint
from gdb_memleak.inject.calls import Caller
from gdb_memleak.inject.gdbstate import SavedGdbState
pid = gdb.selected_inferior().pid
calls = Caller(pid, inferior.require_python())
calls.prepare([pid])
saved = SavedGdbState()
saved.save(landing.STOP_SIGNALS[calls.signal])
try:
    point = safepoint.run_to_safe_point(calls, pid, 30)
    errno_at = calls.call("__errno_location")
    memory = gdb.selected_inferior()
    before = memory.read_memory(errno_at, 4).tobytes()
    memory.write_memory(errno_at, (77).to_bytes(4, "little"))
    failed = calls.call("madvise", 1, 4096, 4, ret="int")
    inside = int.from_bytes(memory.read_memory(errno_at, 4).tobytes(), "little")
    safepoint.back_to_safe_point(calls, point, pid)
    print("errno %d parked; madvise returned %d, errno %d inside, %d back in the thread" % (
        int.from_bytes(before, "little"), failed, inside, int.from_bytes(memory.read_memory(errno_at, 4).tobytes(), "little")))
finally:
    saved.restore()
"""


@pytest.mark.parametrize("python", INTERPRETERS)
def test_calls_into_the_target_leave_errno_as_it_was(start_target, python, tmp_path):
    """Code stopped at a safe point may rely on errno (CPython sets errno = 0 before releasing
    the GIL around readdir() and reads it after); a failing call of ours must not change it."""
    target = start_target(python, SERVICE, "event")
    target.wait_for_ticks(1)
    script = write_script(tmp_path, "errno_check.py", ERRNO_CHECK)
    run = run_gdb("source %s" % script, pid=target.pid, timeout=60)
    assert_no_traceback(run)
    # Inside the park errno is the stub's own; the stub puts the thread's errno back on its way out.
    match = re.search(r"errno (\d+) parked; madvise returned (-?\d+), errno (\d+) inside, (\d+) back in the thread", run.stdout)
    assert match, run.stdout[-2000:] + run.stderr[-2000:]
    parked, returned, inside, back = match.groups()
    assert (returned, inside) == ("-1", "22"), match.group(0)  # the call did set errno
    assert back == parked, match.group(0)  # and the thread got its own back
    assert_carries_on(target)


def own_block_count(target, reading: int) -> tuple[int, int]:
    """The target's own reading (service.py, SIGUSR2; no gdb): sys.getallocatedblocks() as it is, then
    after a full collection of its own, which empties CPython's free lists."""
    os.kill(target.pid, signal.SIGUSR2)
    pattern = re.compile(r"blocks#%d as_is=(\d+) collected=(\d+)" % reading)  # (a heartbeat may share its line)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = [m for m in map(pattern.search, list(target.lines)) if m]
        if found:
            return int(found[0].group(1)), int(found[0].group(2))
        time.sleep(0.05)
    raise AssertionError("no reading %d: %s" % (reading, target.lines[-5:]))


# issue 17 saw the drift on 3.13 too (since 2026-12-07 here); forky's 3.14 without debug info is routed
# since 2026-12-07 (its counter found by counter_scan.py)
@pytest.mark.parametrize("python", [*INTERPRETERS, param(PYTHON_313, PYTHON_313_MISSING, "pyenv-3.13"),
                                    param(*host_build("python3.14"), "forky-3.14-nodebug")])
def test_the_allocated_block_count_is_kept(start_target, python):
    """Issue 17 #8: over ten sessions on a busy target, sys.getallocatedblocks() stays within 1%
    of what it would be without us.  Stop 10 routed every thread's blocks to malloc and wrote the
    count back: it fell by about 50k a session (-326k after 8 on 3.11).  Now only the payload's
    thread is routed, and its blocks are counted as pymalloc counts its own raw ones."""
    target = start_target(python, SERVICE, "busy", env={"SERVICE_BLOCKS_ON_USR2": "1"})
    target.wait_for_ticks(1)
    before = own_block_count(target, 0)
    run = run_gdb("py-heap --json --largest 2", "py-cycles --json", pid=target.pid, timeout=120)
    assert_no_traceback(run)
    first = own_block_count(target, 1)
    inspect_ten_times(target)
    after = own_block_count(target, 2)
    print("sys.getallocatedblocks() (as is, after a full collection): %s before, %s after one session, %s after ten more"
          % (before, first, after))
    # After a full collection of the target's own, all eleven sessions move the count by less than 1%:
    # what is left is, on 3.12+, the payloads' names, interned for good as their code loads (helper-81,
    # 2026-12-07, 3.13: about +790 blocks, once; +6 on 3.11).
    assert abs(after[1] - before[1]) < before[1] / 100, (before, first, after)
    # As it is, ten more sessions move it by less than 1%.  The first one leaves a step: the payload's
    # short-lived tuples, lists and dicts fill CPython's free lists (2,000 tuples of each size at most),
    # which the target's next full collection empties (1,670-1,864 blocks, 2026-12-07, helper-81);
    # measured 2026-12-07 from before any session, 3 runs: +1,705 to +1,710 (pyenv's 3.11), +2,132 to +2,146 (Debian's),
    # +2,459 to +3,580 (3.13: up to 1.9%).
    assert abs(after[0] - first[0]) < before[0] / 100, (before, first, after)
    assert abs(after[0] - before[0]) < before[0] * 2.5 / 100, (before, first, after)
    assert_carries_on(target)


# The payload's small objects, and where they are: a routed thread's come from glibc's malloc (the
# main thread's, from its main arena: the [heap] mapping), pymalloc's from arenas of their own.
WHERE_SMALL_OBJECTS_ARE = '''
def gdb_memleak_payload(args):
    objects = [[i] for i in range(200)]
    with open("/proc/self/maps") as f:
        heap = [line.split()[0] for line in f if line.rstrip().endswith("[heap]")]
    low, high = (int(x, 16) for x in heap[0].split("-")) if heap else (0, 0)
    return {"in_heap": sum(low <= id(o) < high for o in objects), "of": len(objects)}
'''


@pytest.mark.parametrize("python", [*INTERPRETERS, param(PYTHON_313, PYTHON_313_MISSING, "pyenv-3.13"),
                                    param(*host_build("python3.14"), "forky-3.14-nodebug"),
                                    param(*host_build("python3.15"), "forky-3.15-nodebug")])
def test_the_payload_s_small_objects_stay_out_of_pymalloc_s_arenas(start_target, tmp_path, python):
    """The payload's thread is routed to malloc (allocator.py) wherever the block count's counter is
    found: up to 3.11 from debug info or _Py_GetAllocatedBlocks' code; from 3.12 on by what it does
    (counter_scan.py).  Builds of 3.12+ without debug info were never routed before 2026-12-07: the
    payload's temporaries went to pymalloc, whose pools they kept resident (safety.md)."""
    target = start_target(python, IDLE)
    run = run_gdb("source %s" % run_source_script(tmp_path, WHERE_SMALL_OBJECTS_ARE, {}), pid=target.pid)
    found = re.search(r"RESULT (\{.*\})", run.stdout)
    assert found, run.stdout + run.stderr
    assert json.loads(found.group(1)) == {"in_heap": 200, "of": 200}, found.group(1)
    assert target.alive()


@pytest.mark.parametrize("allocators", ["pymalloc", "pymalloc_debug", "malloc"])
@pytest.mark.parametrize("python", INTERPRETERS)
def test_the_target_keeps_its_memory_allocators(start_target, python, allocators):
    """The target's allocators are never changed (stop 10 routed the payload's temporaries to
    malloc; under the debug hooks a block from the wrong allocator is a fatal error)."""
    target = start_target(python, SERVICE, "event", env={"PYTHONMALLOC": allocators})
    before = target.wait_for_ticks(1)
    assert "alloc=%s" % allocators in before[-1]
    for _ in range(2):
        run = run_gdb("py-heap --json --largest 2", "py-cycles --json", "py-heap --json", pid=target.pid, timeout=120)
        assert_no_traceback(run)
        assert len(run.json_documents()) == 3
    # --watch turns tracemalloc on (its hooks wrap the allocators) and off again.
    run = run_gdb("py-memtop --watch 1 --json", pid=target.pid, timeout=120)
    assert_no_traceback(run)
    assert run.document()["growth"]["seconds"] > 0
    after = assert_carries_on(target)
    # (--watch leaves the builtin _tracemalloc imported, as docs/safety.md lists: modules differ by one.)
    assert after[-1].split(" alloc=")[1] == allocators, after[-1]
    assert not any("Fatal Python error" in line or "Debug memory block" in line for line in target.stderr), target.stderr[-5:]


@contextlib.contextmanager
def memory_cgroup(limit: int):
    """A child of the test's own memory cgroup (v1 or v2) limited to `limit` bytes, like a
    container's; yields its directory (write a pid to cgroup.procs to move it in).
    Whoever moved a process in must end it before the block ends."""
    own = open("/proc/self/cgroup").read().splitlines()
    v1 = [line.split(":", 2)[2] for line in own if "memory" in line.split(":", 2)[1].split(",")]
    v2 = [line.split(":", 2)[2] for line in own if line.startswith("0::")]
    if v1 and os.path.isdir("/sys/fs/cgroup/memory" + v1[0]):
        parent, limit_file = "/sys/fs/cgroup/memory" + v1[0], "memory.limit_in_bytes"
    elif v2 and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        parent, limit_file = "/sys/fs/cgroup" + v2[0], "memory.max"
    else:
        pytest.skip("no memory cgroup to make a child of")
    child = os.path.join(parent, "gdb-memleak-test-%d" % os.getpid())
    try:
        os.mkdir(child)
    except OSError as e:
        pytest.skip("cannot make a memory cgroup here: %s" % e)
    try:
        try:
            with open(os.path.join(child, limit_file), "w") as f:
                f.write(str(limit))
        except OSError as e:
            pytest.skip("cannot limit a memory cgroup here: %s" % e)
        yield child
    finally:
        for _ in range(50):  # the kernel lets go of a cgroup shortly after its last process
            try:
                os.rmdir(child)
                break
            except OSError:
                time.sleep(0.1)


@pytest.mark.parametrize("python", INTERPRETERS)
def test_commands_that_would_not_fit_under_a_memory_limit_refuse(start_target, python):
    """Inside a container with 20 MB to spare, guppy's bookkeeping for a 65 MB service (about
    46 MB) would get the service OOM-killed: it refuses in one line and leaves it running. The
    census (up to about 14 MB there) and py-cycles still answer, each within what it counts on,
    and refuse in turn when there is less room than that. (py-cycles refused there too until
    2026-12-03, when it kept every tracked object in its maps: about 25 MB for the service's
    213k; 16 MB to spare until 2026-12-02, when the census's thread of its own raised what it
    counts on.)"""
    target = start_target(python, SERVICE, "event", env=SERVICE_65MB)
    target.wait_for_ticks(1)
    with memory_cgroup(20 << 20) as cgroup:
        try:
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write(str(target.pid))
        except OSError as e:
            pytest.skip("cannot move a process into a memory cgroup here: %s" % e)
        run = run_gdb("py-heap --backend guppy", pid=target.pid, timeout=120)
        assert_no_traceback(run)
        assert "py-heap: --backend guppy refused: it would need about" in run.stderr, run.stderr[-2000:]
        peak = cgroup_peak(cgroup)
        peaks = {}
        for command, kind in (("py-heap --json", "heap"), ("py-cycles --json", "cycles")):
            before = peak.reset()
            run = run_gdb(command, pid=target.pid, timeout=120)
            assert_no_traceback(run)
            assert run.document()["kind"] == kind, run.stderr[-2000:]
            peaks[kind] = peak.read() - before
            assert_carries_on(target)
        # With less room than their guards count on, both refuse (the container OOM-killed
        # this service once when the census counted on "a few MB" and took 14).
        peak.limit(peak.usage() + (6 << 20))
        for command in ("py-heap", "py-heap --mark before", "py-cycles"):
            run = run_gdb(command, pid=target.pid, timeout=120)
            assert_no_traceback(run)
            refused = re.search(r"py-(heap|cycles): refused: (it|listing its objects) would need (about|up to) \d+ MiB in the target "
                                r".*, and \d+ MiB are available .*--force runs it anyway", run.stderr)
            assert refused, (command, run.stderr[-2000:])
        # With room for the listing (10 bytes a block: about 8.4 MB here) but not for the census's
        # 48 bytes a tracked object and 6 MiB (about 16 MB), its refusal says how many there are.
        peak.limit(peak.usage() + (13 << 20))
        run = run_gdb("py-heap", pid=target.pid, timeout=120)
        refused = re.search(r"py-heap: refused: it would need about \d+ MiB in the target for its (\d+) tracked objects", run.stderr)
        assert refused, run.stderr[-2000:]
        tracked = int(refused.group(1))
        assert_carries_on(target)
        target.stop()
    # What they count on covers their peaks: the census 48 bytes a tracked object and 6 MiB
    # (payloads/heap.py); py-cycles 12 bytes a tracked object, 128 for each one in its maps (at
    # most all of them) and 6 MiB (payloads/cycles.py).
    print("peaks %s, %d tracked" % (peaks, tracked))
    assert peaks["heap"] <= tracked * 48 + (6 << 20), (peaks, tracked)
    assert peaks["cycles"] <= tracked * (12 + 128) + (6 << 20), (peaks, tracked)


ADDRESS_TICK = re.compile(r"^tick \d+ ok=True errors=0 modules=(\d+)$")


# The targets' limits: RLIMIT_AS 40 MB above VmSize with the churn; 100 MB (a new arena's 64 MiB
# fits, but glibc maps twice that to align it: no arena was made with 74-124 MiB of room, a
# reviewer's trial); RLIMIT_DATA 4 MB above VmData.
ADDRESS_LIMITS = {"as": ("as", "40", "churn"), "as-100": ("as", "100"), "data": ("data", "4")}


@pytest.mark.parametrize("case", list(ADDRESS_LIMITS))
def test_commands_that_would_not_fit_under_the_targets_own_address_space_limit_refuse(start_target, case):
    """A service that limits its own address space (RLIMIT_AS 40 MB above its VmSize), with a thread
    that allocates and frees 25 MB every 50 ms.  The census's thread alone reserves a glibc arena (128 MB
    mapped while glibc aligns it, 64 MB after) and an 8 MB stack: its allocations failed, the service's
    thread got 964 MemoryErrors, and the payload's thread retried the arena's mmap for minutes holding
    the GIL (2026-12-05).  Now the
    commands that run a payload in a thread of their own refuse before anything runs, and so does
    guppy when its peak would not fit; the service's data, errors and modules stay as they were.
    RLIMIT_DATA counts private writable mappings (Linux 4.7+): the thread's stack alone is too much there."""
    limit, *args = ADDRESS_LIMITS[case]
    target = start_target(PYTHON_311, TARGETS / "address_limit.py", *args, env={"LIMIT": limit})
    modules = latest_match(target, ADDRESS_TICK).group(1)
    name = "RLIMIT_AS" if limit == "as" else "RLIMIT_DATA"
    # guppy (in a thread of its own since 2026-12-06): 70% of this 45 MB RSS and the thread fit in 40 MB, not in 4.
    guppy = ("py-heap --backend guppy",) if limit == "data" else ()
    run = run_gdb("py-heap --top 3", "py-heap --mark m", "py-heap --marks", "py-cycles", *guppy, pid=target.pid, timeout=120)
    assert_no_traceback(run)
    refusals = [line for line in run.stderr.splitlines() if line.startswith(("py-heap:", "py-cycles:"))]
    assert len(refusals) == 4 + len(guppy), run.stderr[-3000:]
    for line in refusals[:4]:
        assert re.match(r"py-(heap|cycles): refused: it would need about [\d.]+ MiB of (address space|data) in the target "
                        r"\(6\.0 MiB to start, and .*for a thread of its own.*\), and its %s of [\d.]+ MiB leaves "
                        r"[\d.]+ MiB above the [\d.]+ MiB it maps; --force runs it anyway$" % name, line), line
    if guppy:
        assert re.match(r"py-heap: --backend guppy refused: it would need about [\d.]+ MiB of data in the target \(70% of "
                        r"its RSS, and a stack of [\d.]+ MiB for a thread of its own\), and its RLIMIT_DATA .*; --backend "
                        r"census needs far less", refusals[4]), refusals[4]
    assert run.stdout.count("Index") == 0, run.stdout
    for _ in range(4):
        assert latest_match(target, ADDRESS_TICK).group(1) == modules


def test_a_generous_address_space_limit_still_answers(start_target):
    """Under an RLIMIT_AS 400 MB above its VmSize, the census (its thread, 136 MB while its arena is made, and its bookkeeping) fits."""
    target = start_target(PYTHON_311, TARGETS / "address_limit.py", "400", "churn")
    latest_match(target, ADDRESS_TICK)
    run = run_gdb("py-heap --json --top 3", "py-cycles --json", pid=target.pid, timeout=120)
    assert_no_traceback(run)
    heap, cycles = run.json_documents()
    assert heap["kind"] == "heap" and heap["total_count"] > 20000, heap
    assert cycles["kind"] == "cycles"
    # No MemoryError in the churning thread.  (Not the module count: the first command leaves gc
    # imported in a target that had not imported it, a known cost: limits.md.)
    for _ in range(4):
        latest_match(target, ADDRESS_TICK)


class cgroup_peak:
    """The peak memory use of a memory cgroup (v1 memory.max_usage_in_bytes, v2 memory.peak)."""

    def __init__(self, cgroup: str):
        self.cgroup = cgroup
        self.v1 = os.path.exists(os.path.join(cgroup, "memory.max_usage_in_bytes"))

    def _path(self, v1: str, v2: str) -> str:
        return os.path.join(self.cgroup, v1 if self.v1 else v2)

    def usage(self) -> int:
        return int(open(self._path("memory.usage_in_bytes", "memory.current")).read())

    def reset(self) -> int:
        """Start the peak afresh (v2 before 6.12 cannot: then the peak since the move); the usage now."""
        try:
            with open(self._path("memory.max_usage_in_bytes", "memory.peak"), "w") as f:
                f.write("0")
        except OSError:
            pass
        return self.usage()

    def read(self) -> int:
        return int(open(self._path("memory.max_usage_in_bytes", "memory.peak")).read())

    def limit(self, limit: int) -> None:
        with open(self._path("memory.limit_in_bytes", "memory.max"), "w") as f:
            f.write(str(limit))



@pytest.mark.parametrize("call", ["sleep", "read"])
@pytest.mark.parametrize("waiter", [True, False], ids=["another-thread-waits", "no-other-thread"])
def test_a_foreign_c_call_is_never_interrupted(start_target, waiter, call):
    """Issue 17 #7: the EINTR wake woke the main thread's blocking call by its system call
    number: a ctypes libc.sleep(30) returned with 26 s left, a ctypes read on a pipe failed with
    errno 4.  Now a command uses another thread's CPython wait, or waits for the pending call, and
    the sleep runs its full time; the read returns the 5 bytes a child writes 6 s later."""
    target = start_target(PYTHON_311, FOREIGN_SLEEP, "6", *(["waiter"] if waiter else []), env={"FOREIGN_CALL": call})
    run = run_gdb("py-heap --top 1 --timeout 2", pid=target.pid, timeout=120)
    assert_no_traceback(run)
    if waiter:
        assert "Partition of a set of" in run.stdout, run.stderr
    else:
        assert "py-heap: no safe point within 2 s" in run.stderr, run.stderr
    result = "left " if call == "sleep" else "read "
    wait_for_line_prefix(target, result, 30)
    line = next(line for line in target.lines if line.startswith(result))
    assert line.startswith("left 0 after " if call == "sleep" else "read 5 errno 0 after "), line
    assert float(line.split()[-2]) >= 5.9, line



# An event loop written in C (gevent's libev, uvloop's libuv) in miniature: the main thread waits
# in poll() in a library of its own, 5 ms at a time, and runs a little Python at each wakeup.
EVENT_LOOP_C = "#include <poll.h>\nint wait_ms(int ms) { return poll(0, 0, ms); }\n"
EVENT_LOOP_TARGET = r"""
import ctypes, sys, time
wait_ms = ctypes.CDLL(sys.argv[1]).wait_ms
data = [{"k": [i]} for i in range(50000)]
print("ready")
sys.stdout.flush()
n, last, worst = 0, time.monotonic(), 0.0
while True:
    wait_ms(5)
    now = time.monotonic()
    worst, last = max(worst, now - last), now
    n += 1
    if n % 100 == 0:
        print("tick %d worst=%.3f" % (n // 100, worst))
        sys.stdout.flush()
        worst = 0.0
"""


@pytest.mark.parametrize("python", [PYTHON_311, PYTHON_NODEBUG], ids=["pyenv-3.11", "debian-3.11-nodebug"])
def test_a_main_thread_in_an_event_loop_of_c_code_gets_a_safe_point(start_target, tmp_path, python):
    """A monkey-patched gevent service (a helper's trial, 2026-12-05): the main thread waits in
    libev's epoll_wait, a call CPython did not make, and runs Python for microseconds at each
    wakeup.  Looks, spaced by the target's CPU time, found it 0 times in 11 in 10 s; the command
    fell back to reading memory with the whole process stopped (1.8 s).  Now the queue call is made
    from the waiting main thread, and the pending call runs at its next wakeup."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc to build the event loop's library")
    (tmp_path / "wait.c").write_text(EVENT_LOOP_C)
    library = tmp_path / "libwait.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(library), str(tmp_path / "wait.c")], check=True)
    script = tmp_path / "event_loop.py"
    script.write_text(EVENT_LOOP_TARGET)
    target = start_target(python, script, str(library))
    target.wait_for_ticks(1)
    run = run_gdb("py-heap --top 2 --timeout 10", "py-cycles --top 1 --timeout 10", pid=target.pid, timeout=120)
    assert_no_traceback(run)
    assert "read from memory" not in run.stderr + run.stdout and "no safe point" not in run.stderr, run.stderr
    assert "census backend" in run.stdout and "pending-call safe point" in run.stdout, run.stdout
    assert "no objects live only in reference cycles" in run.stdout, run.stdout
    ticks = target.wait_for_ticks(2)
    assert target.alive() and ticks, target.stderr[-20:]

def test_a_thread_that_blocks_the_stop_signals_is_never_called_from(start_target):
    """CI, 2026-12-03: py-heap on a uWSGI worker under load hung gdb past its --timeout 30 (killed at
    120 s).  uWSGI's worker threads block every signal; when one of them was the first to enter the
    queue point, the pending call was queued from it, and the stub's stop, a tgkill it blocks, never
    came: gdb waited for it (600 s; here it hung until the target exited).  Now the only thread
    running Python blocks SIGURG and SIGWINCH and the main thread sleeps in C: a thread that blocks
    the stop signal is passed over at the queue point, the wait ends after a few such hits, the
    heap is read from memory, the message says why, and the target runs on, its sleep whole."""
    target = start_target(PYTHON_311, FOREIGN_SLEEP, "8", "masked-worker")
    started = time.monotonic()
    run = run_gdb(READ_UNASKED, "py-heap --top 1 --timeout 5", pid=target.pid, timeout=60)
    assert time.monotonic() - started < 30
    assert_no_traceback(run)
    assert ("\npy-heap: no safe point: the threads found running CPython's code, 50 times in a row, block "
            "SIGURG, which gdb-memleak stops threads with (as uWSGI's worker threads do)") in run.stderr, run.stderr
    assert "(memory backend: read from the stopped process's memory" in run.stdout, run.stdout
    wait_for_line_prefix(target, "left ", 30)
    line = next(line for line in target.lines if line.startswith("left "))
    assert line.startswith("left 0 after "), line
    assert target.alive()


@pytest.mark.parametrize("python", [param(PYTHON_311, PYTHON_311_MISSING, "pyenv-3.11"),
                                    param(PYTHON_312, PYTHON_312_MISSING, "pyenv-3.12"),
                                    param(PYTHON_313, PYTHON_313_MISSING, "pyenv-3.13")])
def test_an_asyncio_service_s_free_list_is_never_traversed(start_target, python):
    """CPython 3.12.0-3.12.4 (gh-122695; pyenv's 3.12 is 3.12.1): gc.get_referents(_asyncio) hands out the
    freed iterators of its free list, and letting go of them made the list loop.  The next py-heap then
    appended for ever: a leaked-tasks service grew to 24 GB and the OOM killer ended it (2026-12-02).
    The payloads leave that module out.  Here the target caps itself at 2 GiB: four commands, and it
    is alive, ticking and its RSS as it was."""
    target = start_target(python, TARGETS / "asyncio_free_list.py")
    before = target.rss()
    run = run_gdb("py-heap --top 3", "py-cycles", "py-heap --largest 2", "py-heap --json", pid=target.pid, timeout=300)
    assert_no_traceback(run)
    assert run.document()["total_count"] > 1000
    assert target.alive() and len(target.wait_for_ticks(2)) == 2
    assert target.rss() < before + (32 << 20), (before, target.rss())
