"""Benchmark for issue 13: how long each command stops the target, beside the tools users would pick instead.

    .venv/bin/python benchmarks/pauses.py [--sizes 0,100000] [--repeats 3] [--tools KEY,...] [--no-write]
    make bench [PAUSES_ARGS='--sizes 0 --repeats 1 --no-write']

Issue 13: no thread of the target may be stopped for more than 100 ms at a time by any
command.  For each target size (benchmarks/heap_target.py serve N on pyenv's 3.11: N
records, four 4 MB strs, two 1 ms heartbeats) and each tool, a fresh target, and:

  - the longest gap between two wakeups of each heartbeat (a thread sleeping 1 ms in a
    loop, and the main thread between 1 ms polls of its stdin), from just before the tool
    starts until one second after it ends: the longer one is the thread that ran the
    payload, held for all of it; the shorter one what the other threads went through;
  - the wall time of the tool;
  - whether the target survived (and answered) afterwards.

The tools: plain `gdb -batch -nx -p PID` (attach and detach: the floor of any gdb-based
tool; and once more without reading the shared libraries' symbols, to see how much of
that floor they are), py-memtop, py-heap --top 10, py-heap --largest 5 and py-cycles through
`gdb -batch -nx -ix gdbinit.example -p PID -ex CMD` (the plugin loaded before gdb attaches,
as the README and `gdb-memleak report` load it), `py-spy dump --pid PID`,
`pystack remote PID`, `memray attach -o FILE --duration 1 PID`, and guppy3's
hpy().heap() and objgraph's show_most_common_types() run in the target's main thread
(the in-process baseline a pyrasite user gets, without pyrasite's own gdb attach).
py-spy, pystack, memray, guppy3 and objgraph come from the venv `make bench` makes
(.venv-bench, on the target's interpreter: memray, guppy3 and objgraph are imported
into the target from it).  Each cell is measured --repeats times, round robin over the
tools so that the machine's noise falls on all of them; the tables give the median and
the max, and ratios of the medians to plain gdb attach and to py-spy dump.

For the gdb-based tools, gdb also runs small command files that print time.monotonic()
(the same clock as the target's heartbeats): with -ix, before the attach, once gdb's
Python is up and once the plugin is loaded; with -x, once gdb has attached and read the
symbols; and after the command (a hookpost).  With the heartbeats' gap starts they split
each command's time: gdb starting and loading the plugin (both before the attach, the
target running: outside the pause), the attach, the command, detaching and exiting.

It prints a markdown report and writes it to docs/benchmarks-pauses.md (unless --no-write).
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_SCRIPT = REPO / "benchmarks" / "heap_target.py"
GDBINIT = REPO / "gdbinit.example"
DOC = REPO / "docs" / "benchmarks-pauses.md"
INDEX = REPO / "docs" / "benchmarks.md"  # benchmarks/heap.py's report, which links to this one
PYTHON = "/root/.pyenv/versions/3.11.7/bin/python3.11"
BENCH_VENV = REPO / ".venv-bench"

DEFAULT_SIZES = (0, 100_000)
LIMIT = 0.100  # issue 13: no thread stopped for longer than this at a time
SETTLE_BEFORE = 0.5  # seconds between the target's "ready" and the tool
SETTLE_AFTER = 1.0  # seconds the heartbeats keep measuring after the tool has ended
IDLE_WINDOW = 1.0  # the "no tool" row: the machine's own noise over a window of this length
MEMRAY_DURATION = 1  # seconds memray tracks after attaching (measured until it has stopped, plus SETTLE_AFTER)
READY_TIMEOUT = 600.0
TOOL_TIMEOUT = 300.0
ANSWER_TIMEOUT = 30.0  # a target that does not answer by then is recorded as unresponsive


@dataclass(frozen=True)
class Tool:
    key: str  # for --tools
    label: str
    kind: str  # idle | gdb | memleak | exec | memray | inproc
    command: str = ""  # the gdb-memleak command, the executable's arguments, the in-process tool, or gdb's options split by |


TOOLS = (
    Tool("idle", "nothing (1 s window: the noise floor)", "idle"),
    Tool("gdb", "gdb attach+detach", "gdb"),
    # Not a tool anyone would pick: how much of the floor above is reading the shared libraries' symbols.
    Tool("gdb-nosyms", "gdb attach+detach, no shared-library symbols", "gdb", "-iex|set auto-solib-add off"),
    Tool("memtop", "py-memtop", "memleak", "py-memtop"),
    Tool("heap-top", "py-heap --top 10", "memleak", "py-heap --top 10"),
    Tool("heap-largest", "py-heap --largest 5", "memleak", "py-heap --largest 5"),
    Tool("cycles", "py-cycles", "memleak", "py-cycles"),
    Tool("py-spy", "py-spy dump", "exec", "py-spy dump --pid {pid}"),
    Tool("pystack", "pystack remote", "exec", "pystack remote {pid}"),
    Tool("memray", "memray attach --duration %d" % MEMRAY_DURATION, "memray"),
    Tool("guppy", "guppy hpy().heap(), in-process", "inproc", "guppy"),
    Tool("objgraph", "objgraph show_most_common_types, in-process", "inproc", "objgraph"),
)
REFERENCES = ("gdb", "py-spy")  # the ratios' denominators


@dataclass
class Run:
    """One measurement of one tool against one fresh target."""

    wall: float
    outcome: str = "ok"  # ok | "tool failed: ..." | "target died: ..." | "target unresponsive: ..."
    pause: float | None = None  # the longer heartbeat's longest gap (the thread that ran the payload)
    other_pause: float | None = None  # the shorter one's (the other threads)
    rss: int = 0
    phases: dict[str, float] = field(default_factory=dict)  # seconds, gdb-based tools only
    in_target: float | None = None  # py-heap's own "s in the target", or the in-process tool's time
    gaps: str = ""

    @property
    def target_harmed(self) -> bool:
        return self.outcome.startswith("target")

    @property
    def measured(self) -> bool:
        return self.pause is not None and self.other_pause is not None


# ------------------------------------------------------------------ processes


def kill_group(proc: subprocess.Popen) -> None:
    """End a process started in its own session, with whatever it started (memray's gdb), by its id."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=60)


class Target:
    """heap_target.py serve N, in its own session (Ctrl-C reaches only the benchmark, which ends it)."""

    def __init__(self, size: int, tmp: Path, site_packages: str | None) -> None:
        self.stderr_path = tmp / "target.stderr"
        with open(self.stderr_path, "w") as stderr:
            self.proc = subprocess.Popen(
                [PYTHON, str(TARGET_SCRIPT), "serve", str(size)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, cwd=str(tmp), bufsize=0,
                start_new_session=True,
            )
        self.pid = self.proc.pid
        self._buffer = b""
        try:
            self.expect("ready", READY_TIMEOUT)
            if site_packages:
                self.ask("path " + site_packages, "ok")
        except BaseException:
            self.stop()
            raise

    def readline(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise TimeoutError("target %d: no answer in %.0f s" % (self.pid, timeout))
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise EOFError("target %d ended: %s" % (self.pid, self.stderr_path.read_text()[-500:]))
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def expect(self, answer: str, timeout: float = ANSWER_TIMEOUT) -> str:
        line = self.readline(timeout)
        if not line.startswith(answer):
            raise RuntimeError("target %d: expected %r, got %r" % (self.pid, answer, line))
        return line

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((command + "\n").encode())

    def ask(self, command: str, answer: str, timeout: float = ANSWER_TIMEOUT) -> str:
        self.send(command)
        return self.expect(answer, timeout)

    def death(self) -> str | None:
        """Why the target is gone, or None while it lives."""
        code = self.proc.poll()
        if code is None:
            return None
        return "target died: signal %d" % -code if code < 0 else "target died: exit status %d" % code

    def state(self) -> str:
        try:
            return open("/proc/%d/stat" % self.pid).read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return "?"

    def stop(self) -> None:
        kill_group(self.proc)


def rss_of(pid: int) -> int:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# ------------------------------------------------------------------ the tools

# -ix, before the attach: gdb's Python is up (and, for the gdb-memleak rows, the plugin's loading starts).
MARK_STARTED = '''python
import time
def _bench_mark(name):
    print("@@bench %s %.6f" % (name, time.monotonic()))
_bench_mark("started")
end
'''
# -ix, after -ix gdbinit.example: the plugin is loaded; still before the attach.
MARK_LOADED = '''python _bench_mark("loaded")
define hookpost-{command}
python _bench_mark("done")
end
'''
# -x, the first command gdb runs once it has attached and read the symbols.
MARK_ATTACHED = 'python _bench_mark("attached")\n'
PHASE_STARTING = "gdb starting (target runs)"
PHASE_PLUGIN = "plugin loading, -ix before the attach (target runs)"
PHASE_ATTACH = "attach (target stopped)"
PHASE_COMMAND = "command"
PHASE_DETACH = "detach and exit"
MARK_RE = re.compile(r"^@@bench (\w+) ([0-9.]+)$", re.M)
IN_TARGET_RE = re.compile(r"safe point, ([0-9.]+) s in the target\)")


def tool_argv(tool: Tool, pid: int, tmp: Path, venv: Path, index: int) -> list[str]:
    if tool.kind == "gdb":
        options = tool.command.split("|") if tool.command else []
        return ["gdb", "-batch", "-nx", *options, "-ix", str(tmp / "mark-started.gdb"),
                "-x", str(tmp / "mark-attached.gdb"), "-p", str(pid)]
    if tool.kind == "memleak":
        # As users load it (README, gdbinit.example, `gdb-memleak report`): -ix, before gdb attaches.
        hooks = tmp / ("mark-%s.gdb" % tool.key)
        hooks.write_text(MARK_LOADED.format(command=tool.command.split()[0]))
        return ["gdb", "-batch", "-nx", "-ix", str(tmp / "mark-started.gdb"), "-ix", str(GDBINIT), "-ix", str(hooks),
                "-x", str(tmp / "mark-attached.gdb"), "-p", str(pid), "-ex", tool.command]
    if tool.kind == "exec":
        words = tool.command.format(pid=pid).split()
        return [str(venv / "bin" / words[0]), *words[1:]]
    if tool.kind == "memray":
        return [str(venv / "bin" / "memray"), "attach", "-o", str(tmp / ("memray-%d.bin" % index)),
                "--duration", str(MEMRAY_DURATION), str(pid)]
    raise ValueError(tool.kind)


def missing_executable(tool: Tool, venv: Path) -> str | None:
    if tool.kind == "exec":
        name = tool.command.split()[0]
    elif tool.kind == "memray":
        name = "memray"
    else:
        return None
    return None if (venv / "bin" / name).exists() else str(venv / "bin" / name)


def run_tool_process(argv: list[str], tmp: Path) -> tuple[int, str, str]:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=str(tmp), text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        stdout, stderr = proc.communicate()
        return -1, stdout, "timed out after %.0f s; %s" % (TOOL_TIMEOUT, stderr)
    finally:
        kill_group(proc)
    return proc.returncode, stdout, stderr


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:160] if lines else ""


def parse_gaps(text: str) -> list[tuple[float, float]]:
    """'gaps main S:D ... worker S:D ...' -> every (start, seconds), both heartbeats."""
    gaps = []
    for word in text.split()[1:]:
        if ":" in word:
            start, seconds = word.split(":")
            gaps.append((float(start), float(seconds)))
    return gaps


def phases_of(marks: dict[str, float], gaps: list[tuple[float, float]], started: float, ended: float) -> dict[str, float]:
    """Split a gdb-based tool's time with its marks and the gap that held the target while gdb attached.

    The plugin loads with -ix, before the attach: its time ("started" to "loaded") is taken out of
    gdb starting, both of them with the target running.
    """
    if "attached" not in marks:
        return {}
    plugin = marks["loaded"] - marks["started"] if "loaded" in marks and "started" in marks else None
    # Both heartbeats are stopped while gdb attaches: the gap that holds the "attached" mark began at the stop.
    holding = [start for start, seconds in gaps if start <= marks["attached"] <= start + seconds]
    phases: dict[str, float] = {}
    if holding:
        stopped = min(holding)
        phases[PHASE_STARTING] = stopped - started - (plugin or 0.0)
        if plugin is not None:
            phases[PHASE_PLUGIN] = plugin
        phases[PHASE_ATTACH] = marks["attached"] - stopped
    elif plugin is not None:
        phases[PHASE_PLUGIN] = plugin
    if "loaded" in marks:
        if "done" in marks:
            phases[PHASE_COMMAND] = marks["done"] - marks["attached"]
            phases[PHASE_DETACH] = ended - marks["done"]
    else:
        phases[PHASE_DETACH] = ended - marks["attached"]
    return phases


def measure(tool: Tool, size: int, tmp: Path, venv: Path, site_packages: str | None, index: int) -> Run:
    """One fresh target, one run of the tool, the heartbeats' verdict."""
    target = Target(size, tmp, site_packages)
    try:
        time.sleep(SETTLE_BEFORE)
        rss = rss_of(target.pid)
        target.ask("reset", "ok")
        run = Run(wall=0.0, rss=rss)
        marks: dict[str, float] = {}
        started = time.monotonic()
        if tool.kind == "idle":
            time.sleep(IDLE_WINDOW)
        elif tool.kind == "inproc":
            try:
                answer = target.ask("run " + tool.command, "", TOOL_TIMEOUT)
            except (TimeoutError, EOFError) as e:
                answer = "error %s" % e
            if answer.startswith("done "):
                run.in_target = float(answer.split()[1])
            else:
                run.outcome = "tool failed: %s" % answer[:160]
        else:
            returncode, stdout, stderr = run_tool_process(tool_argv(tool, target.pid, tmp, venv, index), tmp)
            if returncode != 0:
                run.outcome = "tool failed (exit status %d): %s" % (returncode, last_line(stderr) or last_line(stdout))
            marks = {m.group(1): float(m.group(2)) for m in MARK_RE.finditer(stdout)}
            found = IN_TARGET_RE.search(stdout)
            if found:
                run.in_target = float(found.group(1))
        ended = time.monotonic()
        run.wall = ended - started
        time.sleep(SETTLE_AFTER + (MEMRAY_DURATION if tool.kind == "memray" else 0))
        harmed = target.death()
        stall = gaps = ""
        if harmed is None:
            try:
                stall = target.ask("stall", "stall")
                gaps = target.ask("gaps", "gaps")
            except (TimeoutError, EOFError, RuntimeError) as e:
                harmed = target.death() or "target unresponsive (state %s): %s" % (target.state(), e)
        if harmed:
            run.outcome = harmed + ("" if run.outcome == "ok" else "; " + run.outcome)
            return run
        main_gap, worker_gap = (float(s) for s in stall.split()[1:])
        run.pause, run.other_pause = max(main_gap, worker_gap), min(main_gap, worker_gap)
        run.gaps = gaps
        if tool.kind in ("gdb", "memleak"):
            run.phases = phases_of(marks, parse_gaps(gaps), started, ended)
        return run
    finally:
        target.stop()


# ------------------------------------------------------------------ the report


@dataclass
class Cell:
    size: int
    tool: Tool
    runs: list[Run] = field(default_factory=list)
    missing: str | None = None  # the executable that is not installed

    def measured(self) -> list[Run]:
        return [r for r in self.runs if r.measured]

    def median(self, attribute: str) -> float | None:
        values = [getattr(r, attribute) for r in self.measured()]
        return statistics.median(values) if values else None

    def maximum(self, attribute: str) -> float | None:
        values = [getattr(r, attribute) for r in self.measured()]
        return max(values) if values else None

    def median_wall(self) -> float | None:
        values = [r.wall for r in self.runs if r.outcome == "ok"]
        return statistics.median(values) if values else None

    def max_wall(self) -> float | None:
        values = [r.wall for r in self.runs if r.outcome == "ok"]
        return max(values) if values else None


def seconds(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else "%.*f" % (digits, value)


def ratio(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return "-"
    r = value / reference
    return "%.0fx" % r if r >= 10 else "%.1fx" % r if r >= 0.1 else "%.2fx" % r


def size_label(size: int, cells: list[Cell]) -> str:
    rss = [r.rss for c in cells if c.size == size for r in c.runs if r.rss]
    mb = " (%.0f MB)" % (statistics.median(rss) / 1e6) if rss else ""
    return ("idle, 0 records" if size == 0 else "%s records" % f"{size:,}") + mb


def outcome_text(cell: Cell) -> str:
    if cell.missing:
        return "not installed (%s)" % os.path.relpath(cell.missing, REPO)
    bad = [r.outcome for r in cell.runs if r.outcome != "ok"]
    if not bad:
        return "ok"
    harmed = sum(1 for r in cell.runs if r.target_harmed)
    parts = []
    if harmed:
        parts.append("**target harmed in %d of %d**" % (harmed, len(cell.runs)))
    failed = len(bad) - harmed
    if failed:
        parts.append("tool failed in %d of %d" % (failed, len(cell.runs)))
    return "; ".join(parts) + ": " + bad[0].replace("|", "/")


def results_table(cells: list[Cell]) -> str:
    lines = [
        "| target | tool | runs | longest pause s, median (max) | other threads' longest pause s, median (max) "
        "| pause x gdb attach | pause x py-spy dump | wall s, median (max) | wall x gdb attach | wall x py-spy dump "
        "| runs with a pause over %d ms | outcome |" % (LIMIT * 1000),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for cell in cells:
        refs = {c.tool.key: c for c in cells if c.size == cell.size and c.tool.key in REFERENCES}
        pause, wall = cell.median("pause"), cell.median_wall()
        ref_pause = {k: c.median("pause") for k, c in refs.items()}
        ref_wall = {k: c.median_wall() for k, c in refs.items()}
        measured = cell.measured()
        over = "%d of %d" % (sum(1 for r in measured if r.pause is not None and r.pause > LIMIT), len(measured)) if measured else "-"
        wall_text = "-" if wall is None else "%s (%s)" % (seconds(wall, 2), seconds(cell.max_wall(), 2))
        if cell.tool.kind == "idle":
            wall_text = "-"
        lines.append("| %s | %s | %d | %s (%s) | %s (%s) | %s | %s | %s | %s | %s | %s | %s |" % (
            size_label(cell.size, cells), cell.tool.label, len(cell.runs),
            seconds(pause), seconds(cell.maximum("pause")), seconds(cell.median("other_pause")), seconds(cell.maximum("other_pause")),
            ratio(pause, ref_pause.get("gdb")), ratio(pause, ref_pause.get("py-spy")),
            wall_text,
            "-" if cell.tool.kind == "idle" else ratio(wall, ref_wall.get("gdb")),
            "-" if cell.tool.kind == "idle" else ratio(wall, ref_wall.get("py-spy")),
            over, outcome_text(cell),
        ))
    return "\n".join(lines)


PHASES = (PHASE_STARTING, PHASE_PLUGIN, PHASE_ATTACH, PHASE_COMMAND, PHASE_DETACH)


def phase_median(cell: Cell, phase: str) -> float | None:
    values = [r.phases[phase] for r in cell.measured() if phase in r.phases]
    return statistics.median(values) if values else None


def phases_table(cells: list[Cell]) -> str:
    lines = [
        "| target | tool | %s | in the target (py-heap's own report) s | longest pause s | other threads' longest pause s |"
        % " | ".join("%s s" % p for p in PHASES),
        "|---|---|%s---:|---:|---:|" % ("---:|" * len(PHASES)),
    ]
    for cell in cells:
        if cell.tool.kind not in ("gdb", "memleak") or not cell.measured():
            continue
        in_target = [r.in_target for r in cell.measured() if r.in_target is not None]
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            size_label(cell.size, cells), cell.tool.label,
            " | ".join(seconds(phase_median(cell, p)) for p in PHASES),
            seconds(statistics.median(in_target)) if in_target else "-",
            seconds(cell.median("pause")), seconds(cell.median("other_pause")),
        ))
    return "\n".join(lines)


def times_limit(value: float | None) -> str:
    return "-" if value is None else "%s s, %.1fx the limit" % (seconds(value), value / LIMIT)


def spread(chosen: list[Cell], cells: list[Cell], attribute: str = "pause", name_tools: bool = True) -> str:
    """The lowest and the highest median of `attribute` among `chosen`, where each was, and the limit's multiple."""
    values = [(value, c) for c in chosen for value in [c.median(attribute)] if value is not None]
    if not values:
        return "-"

    def where(cell: Cell) -> str:
        return "%s, %s" % (cell.tool.label, size_label(cell.size, cells)) if name_tools else size_label(cell.size, cells)

    low, low_cell = min(values, key=lambda v: v[0])
    high, high_cell = max(values, key=lambda v: v[0])
    if len(values) == 1:
        return "%s s (%s), %.1fx the limit" % (seconds(low), where(low_cell), low / LIMIT)
    return "%s s (%s) to %s s (%s), %.1fx to %.1fx the limit" % (
        seconds(low), where(low_cell), seconds(high), where(high_cell), low / LIMIT, high / LIMIT)


def summary(cells: list[Cell]) -> str:
    """One paragraph over all sizes: which tools stay under the limit, and by how much ours do not."""
    sentences = []
    ours = [c for c in cells if c.tool.kind == "memleak" and c.measured()]
    if ours:
        runs = [r for c in ours for r in c.measured()]
        sentences.append("Our commands held the thread that ran them for %s (medians; %d of their %d runs over the limit),"
                         " and the other threads for %s." % (spread(ours, cells), sum(1 for r in runs if (r.pause or 0) > LIMIT),
                                                            len(runs), spread(ours, cells, "other_pause")))
    floor = [c for c in cells if c.tool.key == "gdb" and c.measured()]
    if floor:
        sentences.append("Plain gdb attach+detach alone held every thread for %s." % spread(floor, cells, name_tools=False))
    nosyms = [c for c in cells if c.tool.key == "gdb-nosyms" and c.measured()]
    if nosyms:
        sentences.append("Without reading the shared libraries' symbols: %s." % spread(nosyms, cells, name_tools=False))
    over = {c.tool.label for c in cells if any((r.pause or 0) > LIMIT for r in c.measured())}
    under = [label for label in dict.fromkeys(c.tool.label for c in cells if c.tool.kind != "idle" and c.measured()) if label not in over]
    sentences.append("Under the limit in every run at every size: %s." % (", ".join(under) if under else "none"))
    harmed = [c for c in cells if any(r.target_harmed for r in c.runs)]
    sentences.append("Targets harmed: %s." % ("; ".join("%s at %s: %s" % (c.tool.label, size_label(c.size, cells), outcome_text(c))
                                                       for c in harmed) if harmed else "none"))
    return " ".join(sentences)


def findings(cells: list[Cell]) -> str:
    """What the numbers say, from the numbers alone (medians)."""
    out = []
    for size in sorted({c.size for c in cells}):
        by_key = {c.tool.key: c for c in cells if c.size == size and c.measured()}
        out.append("- %s:" % size_label(size, cells))
        idle = by_key.get("idle")
        if idle:
            out.append("  - With no tool the heartbeats' longest gap was %s s (max %s s): the machine's own noise."
                       % (seconds(idle.median("pause")), seconds(idle.maximum("pause"))))
        gdb = by_key.get("gdb")
        if gdb:
            out.append("  - Plain gdb attach+detach stopped every thread for %s (other threads %s s); its attach phase, from the"
                       " stop until gdb could run its first command (attaching, reading the symbols), took %s s."
                       % (times_limit(gdb.median("pause")), seconds(gdb.median("other_pause")),
                          seconds(phase_median(gdb, PHASE_ATTACH))))
        nosyms = by_key.get("gdb-nosyms")
        if nosyms:
            out.append("  - Without reading the shared libraries' symbols (`-iex 'set auto-solib-add off'`) the same attach+detach"
                       " stopped it for %s." % times_limit(nosyms.median("pause")))
        for key in ("memtop", "heap-top", "heap-largest", "cycles"):
            cell = by_key.get(key)
            if not cell:
                continue
            in_target = [r.in_target for r in cell.measured() if r.in_target is not None]
            out.append("  - %s held the thread that ran it for %s, the other threads for %s s; %s runs over the limit."
                       " Its time: attach %s s, the command %s s%s, detach and exit %s s; and before the attach, the target"
                       " running (outside the pause), plugin loading %s s."
                       % (cell.tool.label, times_limit(cell.median("pause")), seconds(cell.median("other_pause")),
                          "%d of %d" % (sum(1 for r in cell.measured() if (r.pause or 0) > LIMIT), len(cell.measured())),
                          seconds(phase_median(cell, PHASE_ATTACH)), seconds(phase_median(cell, PHASE_COMMAND)),
                          " (%s s of it in the target, as py-heap reports it)" % seconds(statistics.median(in_target)) if in_target else "",
                          seconds(phase_median(cell, PHASE_DETACH)), seconds(phase_median(cell, PHASE_PLUGIN))))
        others = [by_key[k] for k in ("py-spy", "pystack", "memray", "guppy", "objgraph") if k in by_key]
        if others:
            out.append("  - The alternatives' longest pauses: %s."
                       % "; ".join("%s %s s (other threads %s s)" % (c.tool.label, seconds(c.median("pause")), seconds(c.median("other_pause")))
                                   for c in others))
        harmed = [c for c in cells if c.size == size and any(r.target_harmed for r in c.runs)]
        out.append("  - Targets harmed: %s." % ("; ".join("%s: %s" % (c.tool.label, outcome_text(c)) for c in harmed) if harmed else "none"))
    return "\n".join(out)


# ------------------------------------------------------------------ machine and versions


def first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "unavailable (%s)" % e
    lines = (done.stdout or done.stderr).splitlines()
    return lines[0].strip() if lines else "unavailable"


def code_version() -> str:
    head = first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    status = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "gdb_memleak", "benchmarks"],
                            capture_output=True, text=True).stdout
    dirty = [line[3:] for line in status.splitlines()]
    return "git %s" % head + (", with uncommitted changes in %s" % ", ".join(dirty) if dirty else "")


def load_average() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def machine(venv: Path) -> list[str]:
    cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    ram = next(int(line.split()[1]) * 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal:"))
    tools = []
    for name, argv in (("py-spy", [str(venv / "bin" / "py-spy"), "--version"]),
                       ("pystack", [str(venv / "bin" / "pystack"), "--version"]),
                       ("memray", [str(venv / "bin" / "memray"), "--version"])):
        tools.append("%s %s" % (name, first_line(argv).split()[-1]) if (venv / "bin" / name).exists() else "%s not installed" % name)
    libs = first_line([str(venv / "bin" / "python"), "-c",
                       "import importlib.metadata as m; print('guppy3 %s, objgraph %s' % (m.version('guppy3'), m.version('objgraph')))"])
    return [
        "- CPU: %s, %d cores" % (cpu, os.cpu_count() or 0),
        "- RAM: %.1f GiB" % (ram / 2**30),
        "- Kernel: %s" % platform.release(),
        "- gdb: %s" % first_line(["gdb", "--version"]),
        "- Target Python: %s (%s)" % (first_line([PYTHON, "--version"]), PYTHON),
        "- Tools (%s): %s, %s" % (os.path.relpath(venv, REPO), ", ".join(tools), libs),
        "- gdb-memleak: %s" % code_version(),
    ]


def report(cells: list[Cell], command: str, date: str, machine_lines: list[str], loads: tuple[str, str], repeats: int) -> str:
    return "\n".join([
        "# Pauses: how long each command stops the target (issue 13)",
        "",
        "Date: %s" % date,
        "",
        "Machine:",
        "",
        *machine_lines,
        "- Load average when the run started: %s; when it ended: %s" % loads,
        "",
        "Command: `%s` (part of `make bench`)" % command,
        "",
        "Issue 13: no thread of the target may be stopped for more than %d ms at a time by any command." % (LIMIT * 1000),
        "",
        "Each run is a fresh `benchmarks/heap_target.py serve N` on the pyenv 3.11 interpreter (N dicts of a",
        "str, an int and a slotted `Point`, plus four 4 MB strs; N = 0 is a small idle service). Two heartbeats",
        "in it wake up every millisecond: a thread sleeping 1 ms in a loop, and the main thread between 1 ms",
        "polls of its stdin. *Longest pause* is the longer of their longest gaps between two wakeups, from just",
        "before the tool starts until %.0f s after it ends (memray: after its %d s of tracking, too): the thread" % (SETTLE_AFTER, MEMRAY_DURATION),
        "that ran the payload, held for all of it (py-heap, since 2026-12-02, walks the heap in a thread of",
        "its own and gives that thread back at once). *Other threads' longest pause* is the shorter one. *Wall* is",
        "the tool's process from start to exit; for the in-process rows, from sending the command to the target",
        "until its answer (the import of guppy3 or objgraph included), with no pyrasite-style attach in front.",
        "The gdb-memleak rows run `gdb -batch -nx -ix gdbinit.example -p PID -ex 'CMD'`, loading the plugin",
        "before gdb attaches, as the README, gdbinit.example and `gdb-memleak report` do (earlier runs of",
        "this benchmark used `-x`, which loads it after the attach, inside the pause); the plain gdb row",
        "`gdb -batch -nx -p PID` (and the row below it the same with `-iex 'set auto-solib-add off'`, which no",
        "tool here uses as such: how much of the floor is reading the shared libraries' symbols); all of them",
        "also get the small command files that print the marks of the second table. py-spy dump and pystack",
        "remote run with their defaults (they stop the process while they read it); memray runs",
        "`memray attach -o FILE --duration %d PID`, which injects through gdb." % MEMRAY_DURATION,
        "Each cell was measured %d times, round robin over the tools, on a shared 2-core machine: the median," % repeats,
        "the max, and the ratio of the medians to plain gdb attach and to py-spy dump of the same target.",
        "A run whose target died or stopped answering is counted as harmed, not left out.",
        "",
        results_table(cells),
        "",
        "Where the gdb-based tools' time goes (medians, seconds; marks printed by gdb on the heartbeats' clock):",
        "Each column is its own median over the runs, so the phases need not add up to the pause exactly.",
        "*gdb starting*, from the tool's start until the heartbeats stop, less the plugin's loading; *plugin",
        "loading*, `-ix gdbinit.example`, before gdb attaches: the target runs meanwhile, so it is not part of",
        "the pause (it was, as a phase after the attach, in earlier runs, which loaded it with `-x`);",
        "*attach*, the target stopped while gdb attaches and reads the symbols, until gdb runs its first",
        "command; *command*, from then until the command has returned; *detach and exit*, until gdb's process",
        "is gone. The pause spans the attach, the command and the first part of detach and exit; for py-heap",
        "only the start of the command, whose walk runs in a thread of its own while the target runs. Loaded",
        "before the attach, the plugin turns gdb's index cache on (2026-12-02): the gdb-memleak rows' attach",
        "phase reads the indexes from it once the first attach has written them, the plain gdb rows' does not.",
        "",
        phases_table(cells),
        "",
        "What the numbers say (medians of this run):",
        "",
        summary(cells),
        "",
        findings(cells),
        "",
    ])


# ------------------------------------------------------------------ main


def link_from_index() -> None:
    """benchmarks/heap.py writes this link under docs/benchmarks.md's title itself; a docs/benchmarks.md
    written before it did gets it here."""
    if not INDEX.exists():
        return
    text = INDEX.read_text()
    if DOC.name in text:
        return
    title, _, rest = text.partition("\n")
    INDEX.write_text("%s\n\nHow long each command stops the target, beside plain gdb, py-spy, pystack, memray, guppy and objgraph"
                     " (issue 13): [%s](%s).\n%s" % (title, DOC.name, DOC.name, rest))


def parse_sizes(text: str) -> list[int]:
    return sorted(int(s.replace("_", "")) for s in text.split(",") if s.strip())


def parse_tools(text: str) -> list[Tool]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    known = {t.key: t for t in TOOLS}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise argparse.ArgumentTypeError("unknown tools %s (known: %s)" % (", ".join(unknown), ", ".join(known)))
    return [t for t in TOOLS if t.key in keys]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=list(DEFAULT_SIZES),
                        help="comma-separated record counts; 0 is a small idle service (default 0,100000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell (default 3)")
    parser.add_argument("--tools", type=parse_tools, default=list(TOOLS),
                        help="comma-separated subset of %s (default all)" % ",".join(t.key for t in TOOLS))
    parser.add_argument("--bench-venv", type=Path, default=BENCH_VENV, help="where py-spy, pystack, memray, guppy3, objgraph are (default .venv-bench)")
    parser.add_argument("--no-write", action="store_true", help="print the report only; do not write docs/benchmarks-pauses.md")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats: at least 1")
    venv = args.bench_venv.resolve()
    found = sorted(glob.glob(str(venv / "lib" / "python3.*" / "site-packages")))
    site_packages = found[0] if found else None
    python = os.path.relpath(sys.executable, REPO) if sys.executable.startswith(str(REPO) + os.sep) else sys.executable
    command = " ".join([python, "benchmarks/pauses.py", *sys.argv[1:]])
    date = first_line(["date", "-u"])
    load_start = load_average()
    print("load average at start: %s" % load_start, file=sys.stderr, flush=True)
    machine_lines = machine(venv)
    cells = [Cell(size, tool, missing=missing_executable(tool, venv)) for size in args.sizes for tool in args.tools]
    for cell in cells:
        if cell.missing:
            print("not installed: %s (make bench installs it)" % cell.missing, file=sys.stderr)
    index = 0
    with tempfile.TemporaryDirectory(prefix="gdb-memleak-pauses-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "mark-started.gdb").write_text(MARK_STARTED)
        (tmp / "mark-attached.gdb").write_text(MARK_ATTACHED)
        for size in args.sizes:
            for repeat in range(args.repeats):
                for cell in cells:
                    if cell.size != size or cell.missing:
                        continue
                    index += 1
                    run = measure(cell.tool, size, tmp, venv, site_packages, index)
                    cell.runs.append(run)
                    print("%s records, %s, run %d: pause %s s, others %s s, wall %.2f s, %s; %s" % (
                        f"{size:,}", cell.tool.label, repeat + 1, seconds(run.pause), seconds(run.other_pause), run.wall,
                        run.outcome, " ".join("%s=%.3f" % (k.split()[0], v) for k, v in run.phases.items())),
                        file=sys.stderr, flush=True)
    text = report(cells, command, date, machine_lines, (load_start, load_average()), args.repeats)
    print(text)
    if not args.no_write:
        DOC.write_text(text)
        link_from_index()
        print("written to %s" % DOC.relative_to(REPO), file=sys.stderr)


if __name__ == "__main__":
    main()
