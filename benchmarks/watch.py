"""What py-memtop --watch costs the target: allocation tracing over the window.

    .venv/bin/python benchmarks/watch.py [--windows 2,5,10] [--no-write]

A target's worker allocates nonstop (a dict and a str per operation, keeping one
in a hundred in a cache) and prints how many operations it did every 0.2 s.  For each
window length it measures, on the pyenv 3.11 interpreter:

* the worker's throughput during the window, against the throughput just before
  it (tracing slows every allocation);
* the RSS added during the window, against the same length of time untraced
  (tracing keeps a record per live block);
* tracemalloc's own memory at the end of the window, and the wall time of the
  whole gdb command.

It prints a markdown table and writes it to docs/benchmarks-watch.md with the
date and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = "/root/.pyenv/versions/3.11.7/bin/python3.11"
DOC = REPO / "docs" / "benchmarks-watch.md"

TARGET = r'''
import sys, threading, time
CACHE = []
count = [0]
def work():
    i = 0
    while True:
        d = {"id": i, "name": "item %d" % i}
        if i % 100 == 0:
            CACHE.append(d)  # one in a hundred stays: a slow leak
        i += 1
        count[0] += 1
threading.Thread(target=work, daemon=True).start()
print("ready", flush=True)
while True:
    time.sleep(0.2)
    print("ops %.3f %d" % (time.time(), count[0]), flush=True)
'''


class Target:
    def __init__(self, directory: str):
        script = os.path.join(directory, "alloc_target.py")
        with open(script, "w") as f:
            f.write(TARGET)
        self.proc = subprocess.Popen([PYTHON, script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.samples: list[tuple[float, int]] = []
        ready = threading.Event()

        def read() -> None:
            for line in self.proc.stdout:
                if line.startswith("ready"):
                    ready.set()
                elif line.startswith("ops "):
                    _, when, ops = line.split()
                    self.samples.append((float(when), int(ops)))

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(30):
            self.stop()
            raise RuntimeError("target never became ready")

    def rate(self, start: float, end: float) -> float:
        """Operations per second between two wall-clock times, from the heartbeat."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return float("nan")
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])

    def rss(self) -> int:
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def measure(window: float, directory: str) -> dict:
    target = Target(directory)
    try:
        time.sleep(1)
        # Untraced: the same length of time, running freely.
        rss0, start = target.rss(), time.time()
        time.sleep(window)
        untraced_rate = target.rate(start, time.time())
        untraced_rss = target.rss() - rss0
        # Traced: py-memtop --watch.
        started = time.time()
        proc = subprocess.run(
            ["gdb", "-batch", "-nx", "-x", str(REPO / "gdbinit.example"), "-p", str(target.proc.pid),
             "-ex", "py-memtop --json --watch %g" % window],
            capture_output=True, text=True, timeout=window + 120,
        )
        wall = time.time() - started
        doc = next(json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{"))
        growth = doc["growth"]
        traced_rate = target.rate(growth["started_at"], growth["started_at"] + growth["seconds"])
        return {
            "window": window,
            "untraced_rate": untraced_rate,
            "traced_rate": traced_rate,
            "untraced_rss": untraced_rss,
            "traced_rss": growth["rss_delta"],
            "tracemalloc_memory": growth["tracemalloc_memory"],
            "wall": wall,
            "top": growth["allocations"][0] if growth["allocations"] else None,
        }
    finally:
        target.stop()


def machine() -> str:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        total = int(f.readline().split()[1]) // 1024 // 1024
    gdb = subprocess.run(["gdb", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return "%s, %d cores, %d GB RAM, Linux %s, %s, target CPython 3.11.7 (pyenv)" % (model, os.cpu_count(), total, platform.release(), gdb)


def mib(n: int) -> str:
    return "%.1f" % (n / 1048576)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", default="2,5,10", help="window lengths in seconds, comma-separated")
    parser.add_argument("--no-write", action="store_true", help="print only; do not rewrite docs/benchmarks-watch.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for window in [float(w) for w in args.windows.split(",")]:
            r = measure(window, directory)
            rows.append(r)
            print("window %gs done" % window, file=sys.stderr)
    table = [
        "| window s | ops/s untraced | ops/s traced | slowdown | RSS added untraced MB | RSS added traced MB | tracemalloc's own MB | gdb wall s | top line |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        top = r["top"]
        table.append(
            "| %g | %.0f | %.0f | %.2fx | %s | %s | %s | %.1f | %s |"
            % (r["window"], r["untraced_rate"], r["traced_rate"], r["untraced_rate"] / r["traced_rate"] if r["traced_rate"] else float("nan"),
               mib(r["untraced_rss"]), mib(r["traced_rss"]), mib(r["tracemalloc_memory"]), r["wall"],
               "%s:%d in %s" % (os.path.basename(top["file"]), top["line"], top["function"]) if top else "-")
        )
    text = "\n".join(table)
    print(text)
    if not args.no_write:
        DOC.write_text(
            "# Benchmark: what `py-memtop --watch` costs the target\n\n"
            "Run on %s UTC, on %s.\n\nCommand: `.venv/bin/python benchmarks/watch.py --windows %s` (part of `make bench`).\n\n"
            "The target's worker allocates a dict and a str per operation and keeps one in a hundred. "
            "\"Untraced\" is the same length of time just before, running freely. One measurement per cell, on a shared 2-core machine.\n\n"
            "%s\n\n"
            "Reading it: tracing slows each allocation (the slowdown column), and tracemalloc keeps a record for every block "
            "allocated in the window and still alive (its own MB column, on top of the blocks themselves). Both grow with the "
            "window and the allocation rate; that is why --watch is limited to %d s and refused when the machine's free memory "
            "is under half the target's RSS.\n"
            % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()), machine(), args.windows, text, 600)
        )
        print("wrote %s" % DOC, file=sys.stderr)


if __name__ == "__main__":
    main()
