"""A target's heartbeat: the "tick ..." lines it prints every half second, and what tests read in them.

Each target prints "ready" once set up, then a tick line every half second; a
reader thread per stream (``read_lines``, started by ``Target``) collects the
lines so that the pipe never fills.  The rest reads those lines.
"""

from __future__ import annotations

import os
import re
import threading
import time


def read_lines(stream, sink: list, ready: threading.Event | None = None) -> None:
    """Append each line of `stream` to `sink` (without its newline); set `ready` on a "ready" line."""
    for line in stream:
        sink.append(line.rstrip("\n"))
        if ready is not None and line.strip() == "ready":
            ready.set()


def ticks(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("tick ")]


def wait_for_ticks(target, more: int, timeout: float = 20) -> list[str]:
    """Wait until `more` new heartbeat lines arrive (or the target ends): the new ones."""
    start = len(target.ticks())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(target.ticks()) < start + more:
        if not target.alive():
            break
        time.sleep(0.05)
    return target.ticks()[start:]


def latest_tick(target) -> str:
    """A fresh heartbeat line: the target is still making progress."""
    new = target.wait_for_ticks(1)
    assert new, "the target made no progress: %s" % "\n".join(target.stderr[-20:])
    return new[-1]


def latest_match(target, pattern: re.Pattern) -> re.Match:
    """The newest of two fresh heartbeat lines, matched by `pattern`: the target is alive and working."""
    new = target.wait_for_ticks(2)
    assert target.alive() and new, "the target died or stopped: %s" % "\n".join(target.stderr[-20:])
    m = pattern.match(new[-1])
    assert m, new[-1]
    return m


def assert_beating(target, ending: str = "") -> list[str]:
    """Two fresh heartbeats from a live target, the last one ending with `ending`."""
    new = target.wait_for_ticks(2)
    assert target.alive() and len(new) == 2, (target.proc.returncode, target.stderr[-10:])
    assert new[-1].endswith(ending), new
    return new


def gc_fields(tick: str) -> str:
    """The gc settings part of a heartbeat line (the seed's examples, seed_cases.py)."""
    return tick[tick.index("gc="):]


# --- tests/targets/service.py: "tick N ok=True threads=T modules=M path=P gc=... alloc=A" ---


def service_state(tick: str) -> str:
    """The part of a service heartbeat that must not change: threads, modules, sys.path, gc, allocators."""
    return tick[tick.index("threads="):]


def assert_carries_on(target, ticks: int = 2) -> list[str]:
    """The service is alive, its main thread still waits, and its data still checks out."""
    new = target.wait_for_ticks(ticks)
    assert target.alive(), target.stderr
    assert len(new) >= ticks, (target.lines[-5:], thread_states(target.pid))
    assert all(" ok=True " in t for t in new), new
    assert "main thread returned" not in target.lines
    return new


def thread_states(pid: int) -> list[str]:
    """Who traces the process and its pending signals, then each thread's state letter, kernel wait
    channel and system call ("T" stopped, "t" traced, "S futex_wait_queue 202 ..."): what a target
    that stopped beating, or a gdb that hangs on it, was doing."""
    states = []
    try:
        tids = sorted(os.listdir("/proc/%d/task" % pid), key=int)
        with open("/proc/%d/status" % pid) as f:
            states += [line.strip() for line in f if line.startswith(("TracerPid:", "SigPnd:", "ShdPnd:"))]
    except OSError as e:
        return [str(e)]
    for tid in tids:
        task = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(task + "stat") as f:
                state = f.read().rpartition(")")[2].split()[0]
            with open(task + "wchan") as f, open(task + "syscall") as g:
                states.append("thread %s: state %s, wchan %s, syscall %s" % (tid, state, f.read(), g.read().strip()))
        except OSError:
            continue
    return states


def tracer_of(pid: int) -> int:
    """The TracerPid of `pid` (0: nobody traces it)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return 0


def process_state(pid: int) -> str:
    """The process's state letter: "T" in a group stop, "t" stopped by its tracer, "S", "R" ..."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rpartition(")")[2].split()[0]


# --- tests/targets/hostile_objects.py: "tick N checksum=C traps=T gc=..." ---

HOSTILE_TICK = re.compile(r"^tick (\d+) checksum=([0-9a-f]{8}) traps=(\d+) gc=(\w+)")


def hostile_state(target) -> tuple[str, int]:
    """(checksum, traps) of the hostile target's latest heartbeat, after waiting for a fresh one."""
    new = target.wait_for_ticks(2)
    assert target.alive(), "the target died: %s" % "\n".join(target.stderr[-20:])
    assert new, "the target stopped beating"
    match = HOSTILE_TICK.match(new[-1])
    assert match, new[-1]
    return match.group(2), int(match.group(3))


# --- waiting for other lines ---


def wait_for_line(target, text: str, timeout: float = 20) -> None:
    """A line containing `text`: the target's threads print concurrently, so a heartbeat
    may share the line (print writes the text and its newline separately)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(text in line for line in target.lines):
        time.sleep(0.02)
    assert any(text in line for line in target.lines), target.lines[-5:]


def wait_for_line_prefix(target, prefix: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(line.startswith(prefix) for line in target.lines):
        time.sleep(0.02)
    assert any(line.startswith(prefix) for line in target.lines), target.lines[-5:]


CPROFILE_TICK = re.compile(r"^tick \d+ same=(\w+) calls=(\d+) payload=(\d+)$")


def cprofile_counts(target) -> tuple[int, int]:
    """targets/cprofiled.py's latest counts: (calls of work(), calls of payload code); its profiler still in place."""
    m = latest_match(target, CPROFILE_TICK)
    assert m.group(1) == "True", "the target's profiler is no longer in place: %s" % m.group(0)
    return int(m.group(2)), int(m.group(3))
