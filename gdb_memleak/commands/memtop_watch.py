"""py-memtop --watch SECONDS: let the target run, then say what grew and which lines allocated it.

The target runs freely for the window with CPython's allocation tracing on
(payloads/watch.py, one frame per allocation), started for the window only and
stopped afterwards unless it was already on.  RSS and each thread's CPU time
are read from /proc before and after.  Ctrl-C ends the window early.  If gdb
dies meanwhile, the target turns the tracing off by itself after a deadline
(switch_after), and a later --watch takes tracing left on that way for its own.
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any, Optional

import gdb

from ..errors import MemleakError, Refused, TargetReplaced, UsageError
from ..gdbside import inferior as inf
from ..gdbside.invocation import Invocation, note
from ..host import procfs
from ..inject import session
from ..render import text as render

MAX_WINDOW = 600.0  # tracing a busy target longer than this costs too much memory
ALLOCATION_LINES = 10
MAX_FRAMES = 32  # each frame traced slows every allocation of the window further
# gdb's own steps between the window's end and the "stop" payload running, besides the wait for
# a safe point: the payload compiled by a child process of gdb, /proc read, a loaded machine.
GDB_SLACK = 10.0


def switch_after(seconds: float, timeout: float) -> float:
    """Seconds after "start" at which the target turns tracing off by itself (payloads/watch.py's
    dead man's switch, for a gdb that died in the window): the window, then the "stop" payload's
    wait for a safe point (up to the command's timeout), then GDB_SLACK.  A live gdb is back well
    before; a dead one's tracing costs the target that long at most (and only until its next
    garbage collection after it)."""
    return seconds + timeout + GDB_SLACK


def _mem_available() -> Optional[int]:
    try:
        with open("/proc/meminfo") as f:
            match = re.search(r"^MemAvailable:\s+(\d+) kB", f.read(), re.M)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def require_affordable(pid: int, seconds: float) -> None:
    """Refuse a window the target cannot afford.

    tracemalloc keeps a record (about 40-80 bytes) for every block allocated in
    the window and still alive, on top of the blocks themselves: a target that
    doubles its live blocks needs that much again.  So the window is at most
    MAX_WINDOW, and the machine must have free at least half the target's RSS.
    """
    if seconds > MAX_WINDOW:
        raise UsageError("--watch %g: at most %g s (allocation tracing grows with the window)" % (seconds, MAX_WINDOW))
    rss = procfs.proc_status(pid).get("VmRSS") or 0
    available = _mem_available()
    if available is not None and available < max(64 << 20, rss // 2):
        raise Refused("--watch refused: the machine has %s available and the target uses %s; allocation tracing "
            "could need half the target's size again" % (render.human_size(available), render.human_size(rss)))


def _cpu_times(pid: int) -> dict[int, float]:
    times = {}
    for thread in gdb.selected_inferior().threads():
        tid = thread.ptid[1] or pid
        proc = procfs.thread_proc(pid, tid)
        if proc is not None:
            times[tid] = proc.cpu_seconds
    return times


def watch(inv: Invocation, seconds: float, frames: int = 1) -> tuple[dict[str, Any], dict[int, float]]:
    """Run the window; returns the "growth" document and each thread's CPU seconds in it."""
    target = inf.require_live_stopped()
    version = inf.require_python()
    if version < (3, 4):
        raise Refused("--watch needs tracemalloc, Python 3.4+; the target runs %d.%d" % version)
    require_affordable(target.pid, seconds)
    rss_before = procfs.proc_status(target.pid).get("VmRSS")
    cpu_before = _cpu_times(target.pid)
    after = switch_after(seconds, inv.timeout)
    started = session.run_payload(inv, "watch", {"op": "start", "deadline": after, "window": seconds, "frames": frames}).result
    window_start = time.time()
    if started.get("left_on"):
        since = started.get("left_on_since")
        note("tracemalloc was left on by an earlier --watch whose gdb went away%s; what it traced is cleared, "
             "and tracing is turned off after this window"
             % (" (%s ago)" % _ago(window_start - since) if isinstance(since, (int, float)) else ""))
    switch = Switch(started.get("deadline"), window_start + after)
    try:
        ran, early = session.let_run(seconds)
    except (MemleakError, gdb.error) as e:
        if gdb.selected_inferior().pid != 0 and not isinstance(e, TargetReplaced):  # (the new program has none)
            stop_tracing(inv, started["was_tracing"], switch=switch)
        raise
    if early:
        note("the window ended early, after %.1f s" % ran)
    stopped = stop_tracing(inv, started["was_tracing"], ALLOCATION_LINES, switch=switch)
    rss_after = procfs.proc_status(target.pid).get("VmRSS")
    cpu_after = _cpu_times(target.pid)
    rss_delta = rss_after - rss_before if rss_after is not None and rss_before is not None else None
    growth = {
        "seconds": round(ran, 3),
        "started_at": round(window_start, 3),
        "ended_early": early,
        "rss_before": rss_before,
        "rss_delta": rss_delta,
        "rss_rate": round(rss_delta / ran) if rss_delta is not None and ran > 0 else None,
        "traced": stopped["traced"],
        "tracemalloc_memory": stopped["tracemalloc_memory"],
        "outside_python": outside_python_bytes(rss_delta, stopped["traced"], stopped["tracemalloc_memory"]),
        "tracing_before": started["was_tracing"],
        "frames": frames,
        "allocations": stopped["allocations"],
    }
    if stopped.get("left_out"):
        note("allocations charged to %s:%d, where the payload ran, are left out (they include its own)"
             % (stopped["left_out"][0], stopped["left_out"][1]))
    if stopped.get("top_in_library") and frames == 1 and not started["was_tracing"]:
        note("the top allocation line is in a library; --frames 8 also shows the line of your code that called it")
    if started["was_tracing"]:
        note("tracemalloc was already on in the target: allocations from before the window count too")
    outside = _grown_outside_python(rss_delta, stopped["traced"], stopped["tracemalloc_memory"])
    if outside:
        note(outside)
    cpu = {tid: round(cpu_after[tid] - cpu_before.get(tid, 0.0), 2) for tid in cpu_after}
    return growth, cpu


# RSS moves by a few MB on its own (the allocators' free space, pages touched again).
OUTSIDE_GROWTH_WORTH_SAYING = 4 * 1024 * 1024


def outside_python_bytes(rss_delta: Optional[int], traced: int, tracing_costs: int) -> Optional[int]:
    """What RSS grew by in the window beyond the Python allocations still alive and tracemalloc's
    own tables (never below 0); None when /proc gave no RSS."""
    if rss_delta is None:
        return None
    return max(0, rss_delta - traced - tracing_costs)


def _grown_outside_python(rss_delta: Optional[int], traced: int, tracing_costs: int) -> Optional[str]:
    """A line when RSS grew in the window mostly by memory Python's allocators did not hand out
    (issue 14: a ctypes leak showed "RSS +24.5 MiB ... still alive 39.5 KiB" and nothing more)."""
    if rss_delta is None:
        return None
    outside = rss_delta - traced - tracing_costs  # tracemalloc's own tables grew RSS too
    if outside < OUTSIDE_GROWTH_WORTH_SAYING or outside * 2 < rss_delta:
        return None
    return ("RSS grew by %s in the window, and Python allocations still alive account for %s of it (tracemalloc's "
            "own tables %s): the rest grew outside Python's allocators (native memory of C extensions or ctypes), "
            "which tracemalloc cannot see (docs/usage.md)"
            % (render.human_size(rss_delta), render.human_size(traced), render.human_size(tracing_costs)))


@dataclasses.dataclass(frozen=True)
class Switch:
    """The dead man's switch "start" armed: its deadline on the target's monotonic clock (None when
    the tracing is the target's own), and the same moment on this machine's wall clock."""
    deadline: Optional[float]
    wall: float


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return "%d s" % seconds if seconds < 120 else "%d min" % (seconds // 60)


def stop_tracing(inv: Invocation, was_tracing: bool, top: int = 0, switch: Optional[Switch] = None) -> dict[str, Any]:
    """The window's allocations; tracing goes off again unless it was on before.  Never left on silently: a stop
    payload that fails may have failed before or after turning tracing off, so the message says "may"."""
    deadline = switch.deadline if switch is not None else None
    try:
        # force: the start ran (the target did not opt out, or --force), so the tracing it turned on goes off.
        stopped = session.run_payload(dataclasses.replace(inv, force=True), "watch",
                                      {"op": "stop", "was_tracing": was_tracing, "top": top, "deadline": deadline}).result
    except MemleakError as e:
        if was_tracing:
            raise
        by_itself = ""
        if switch is not None and deadline is not None:
            left = switch.wall - time.time()
            by_itself = " (the target turns it off itself at its first garbage collection after %s, %s)" % (
                time.strftime("%H:%M:%S", time.localtime(switch.wall)), "in " + _ago(left) if left > 0 else "passed")
        raise MemleakError("%s; tracemalloc may still be on in the target%s" % (e, by_itself),
                           hint="run py-memtop --watch-stop") from e
    if "off" in stopped:  # tracing was already off: nothing of the window is left to read
        raise MemleakError(str(stopped["off"]))
    return stopped
