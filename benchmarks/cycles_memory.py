"""Benchmark for issue 13: py-cycles' peak memory in the target, against the target's RSS.

    .venv/bin/python benchmarks/cycles_memory.py [--sizes service,garbage30000,0,100000,1000000] [--repeats 3]
        [--against OTHER_CHECKOUT] [--no-write]

Issue 13: py-cycles' peak memory at most 10% of the target's RSS, at any size and on small
targets too.  For each size, one target (benchmarks/heap_target.py serve N on pyenv's 3.11:
N records, four 4 MB strs, two 1 ms heartbeats; "service": its small service, twenty standard
library modules and no data), and --repeats times:
`gdb -batch -nx -ix gdbinit.example -p PID -ex 'py-cycles --json --timeout 120'`, with the
target's VmHWM reset (/proc/PID/clear_refs) just before gdb and read just after.  py-cycles
changes nothing the target's code sees, so the runs share it.  With --against, the same runs
are made with that checkout's gdbinit.example too (an older commit, in a worktree), on a target
of its own: run round robin on one target, each version's runs changed the other's peaks (the
allocator's state after a run: glibc raises its mmap threshold when a big block is freed), and
this version's peak at 1M records read 85 MB instead of the 32 MB it reads alone (2026-12-03).

It prints a markdown table and writes it to docs/benchmarks-cycles.md (unless --no-write).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from heap import GDBINIT, REPO, Target, end_process, first_line, machine, proc_status, reset_peak_rss, run_header

REPORT = REPO / "docs" / "benchmarks-cycles.md"
# "service": heap_target.py's small service; "garbage30000": 30,000 of each of its three cycles, dropped
DEFAULT_SIZES = ("service", "garbage30000", 0, 100_000, 1_000_000)
GDB_TIMEOUT = 900.0
SETTLE = 1.0
MAX_PEAK_FRACTION = 0.10


def run_py_cycles(pid: int, gdbinit: Path, tmp: Path) -> tuple[float, int, dict]:
    """(wall seconds, peak RSS added in bytes, the JSON document) of one py-cycles."""
    rss = proc_status(pid, "VmRSS")
    reset_peak_rss(pid)
    argv = ["gdb", "-batch", "-nx", "-ix", str(gdbinit), "-p", str(pid), "-ex", "py-cycles --json --timeout 120"]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=str(tmp), text=True)
    try:
        stdout, stderr = proc.communicate(timeout=GDB_TIMEOUT)
    finally:
        end_process(proc)
    seconds = time.monotonic() - started
    peak = proc_status(pid, "VmHWM") - rss
    docs = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    if len(docs) != 1 or docs[0].get("kind") != "cycles":
        raise RuntimeError("gdb gave no py-cycles document:\n%s\n%s" % (stdout[-2000:], stderr[-2000:]))
    return seconds, peak, docs[0]


def _size_label(size) -> str:
    if size == "service":
        return "small service"
    if isinstance(size, str):  # garbageN
        return "cyclic garbage, %s x 3 cycles" % f"{int(size[len('garbage'):]):,}"
    return "%s records" % f"{size:,}"


def _size(token: str):
    token = token.strip()
    if token == "service" or (token.startswith("garbage") and token[len("garbage"):].isdigit()):
        return token
    return int(token.replace("_", ""))


def _target(size, tmp: Path) -> Target:
    if size == "service":
        return Target(0, tmp, service=True)
    if isinstance(size, str):
        return Target(int(size[len("garbage"):]), tmp, mode="garbage")
    return Target(size, tmp)


def commit_of(gdbinit: Path) -> str:
    return first_line(["git", "-C", str(gdbinit.parent), "rev-parse", "--short", "HEAD"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES),
                        help="comma-separated record counts, service or garbageN (default service,garbage30000,0,100000,1000000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another checkout of gdb-memleak, measured in the same runs")
    parser.add_argument("--no-write", action="store_true", help="print the report only")
    args = parser.parse_args()
    sizes = [_size(s) for s in args.sizes.split(",") if s.strip()]
    versions = [("this checkout (git %s)" % commit_of(GDBINIT), GDBINIT)]
    if args.against:
        other = args.against.resolve() / "gdbinit.example"
        versions.append(("git %s" % commit_of(other), other))
    date = first_line(["date", "-u"])
    machine_lines = machine()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gdb-memleak-cycles-") as tmp:
        for size in sizes:
            for label, gdbinit in versions:
                print("%s, %s ..." % (_size_label(size), label), file=sys.stderr, flush=True)
                target = _target(size, Path(tmp))
                try:
                    time.sleep(SETTLE)
                    rss = proc_status(target.pid, "VmRSS")
                    runs = []
                    for _ in range(args.repeats):
                        runs.append(run_py_cycles(target.pid, gdbinit, Path(tmp)))
                        time.sleep(SETTLE)
                    target.ask("reset", "ok")  # still answering: alive
                finally:
                    target.stop()
                peaks = [p for _, p, _ in runs]
                walls = [s for s, _, _ in runs]
                totals = {d["total_objects"] for _, _, d in runs}
                rows.append((size, rss, label, statistics.median(peaks), max(peaks), statistics.median(walls), totals))
    lines = [
        "# py-cycles: peak memory in the target (issue 13)",
        "",
        *run_header(date, machine_lines, "`.venv/bin/python benchmarks/cycles_memory.py %s`" % " ".join(sys.argv[1:])),
        "",
        "Each target is `benchmarks/heap_target.py serve N` (pyenv 3.11): N records "
        "`{\"name\": str, \"id\": int, \"point\": Point}` with `Point` a slotted class, four 4 MB strs, "
        "two 1 ms heartbeats; *small service*: `heap_target.py service`, no records and no blobs, twenty standard "
        "library modules imported (argparse, asyncio, email, http, json, logging, sqlite3, ssl, unittest...); *cyclic garbage*: "
        "`heap_target.py garbage N`, gc off and N of each of three cycles dropped (a pair of instances, a session and a "
        "closure over it, an exception and its traceback's frame: 11 objects), py-cycles' own case. Peak RSS added: the target's VmHWM, reset just before gdb, minus its "
        "RSS then; median (max) of %d runs, %s." % (
            args.repeats, "each version on a target of its own" if args.against else "on one target"),
        "",
        "| records | target RSS MB | measured | peak RSS added MB, median (max) | % of RSS (median) | wall s (median) | unreachable objects found |",
        "|---:|---:|---|---:|---:|---:|---|",
    ]
    for size, rss, label, peak, worst, wall, totals in rows:
        lines.append("| %s | %.1f | %s | %.1f (%.1f) | %.1f%% | %.2f | %s |" % (
            _size_label(size).replace(" records", ""), rss / 1e6, label, peak / 1e6, worst / 1e6, 100.0 * peak / rss, wall,
            ", ".join(str(t) for t in sorted(totals))))
    ours = [r for r in rows if r[2] == versions[0][0]]
    worst = max(ours, key=lambda r: r[3] / r[1])
    lines += ["", "Issue 13's target, peak at most %d%% of the RSS at every size: worst %.1f%% (%s): %s." % (
        100 * MAX_PEAK_FRACTION, 100.0 * worst[3] / worst[1], _size_label(worst[0]),
        "met" if all(r[3] <= MAX_PEAK_FRACTION * r[1] for r in ours) else "**missed**")]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        REPORT.write_text(text)
        print("written to %s" % REPORT.relative_to(REPO), file=sys.stderr)


if __name__ == "__main__":
    main()
