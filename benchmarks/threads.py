"""Benchmark for issue 17 #11: how long our commands stop a target with many threads, beside a plain attach.

    .venv/bin/python benchmarks/threads.py [--python PYTHON] [--threads 300] [--runs 9] [--json]
                                           [--busy] [--command CMD ...] [--checkout DIR ...]

One target (THREADS threads waiting at one line, or with --busy 10% of them spinning in Python,
60% sleeping 1 ms at a time and 30% waiting for a lock; and a heartbeat thread that wakes up every
millisecond and remembers its longest gap); then, round robin, RUNS times each: plain
`gdb -batch -nx -p PID` (attach and detach, no plugin), and for each checkout (default: this
one) and command (default: py-memtop) `gdb -batch -nx -ix CHECKOUT/gdbinit.example -p PID -ex CMD`
(the plugin loaded before the attach, as the README loads it).  Each run's figure is the heartbeat's longest
gap from just before gdb starts until half a second after it ended: how long the target was
stopped.  Prints each run, then the median and the max per tool.  Issue 17 #11: py-memtop
on 300 threads costs no more than a plain attach plus 100 ms.  Python 2.7 and 3.x targets.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = "/root/.pyenv/versions/3.11.7/bin/python3.11"

TARGET = r"""
import sys, threading, time
clock = getattr(time, "monotonic", time.time)
never = threading.Event()
started = threading.Semaphore(0)
lock = threading.Lock()
lock.acquire()
def idle():
    started.release()
    never.wait()
def spin():
    started.release()
    x = 0
    while True:
        for i in range(1000):
            x += i
        time.sleep(0)
def nap():
    started.release()
    while True:
        time.sleep(0.001)
def wait_for_lock():
    started.release()
    while True:
        if lock.acquire(True, 0.5):
            lock.release()
kinds = [spin] + [nap] * 6 + [wait_for_lock] * 3 if sys.argv[2:] == ["busy"] else [idle]
for i in range(int(sys.argv[1])):
    t = threading.Thread(target=kinds[i % len(kinds)], name="pool-%d" % i)
    t.daemon = True
    t.start()
for i in range(int(sys.argv[1])):
    started.acquire()
longest = [0.0]
def beat():
    last = clock()
    while True:
        time.sleep(0.001)
        now = clock()
        longest[0] = max(longest[0], now - last)
        last = now
t = threading.Thread(target=beat, name="heartbeat")
t.daemon = True
t.start()
print("ready")
sys.stdout.flush()
while True:
    line = sys.stdin.readline()
    if not line:
        break
    if line.startswith("reset"):
        longest[0] = 0.0
    else:
        print("%.4f" % longest[0])
        sys.stdout.flush()
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=PYTHON)
    parser.add_argument("--threads", type=int, default=300)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--json", action="store_true", help="py-memtop --json instead of the text")
    parser.add_argument("--busy", action="store_true", help="threads that run Python, sleep and wait, not idle ones")
    parser.add_argument("--command", action="append", help="the command to run (repeatable; default py-memtop)")
    parser.add_argument("--checkout", action="append", help="a gdb-memleak checkout to run the commands from (repeatable)")
    args = parser.parse_args()
    checkouts = args.checkout or [str(REPO)]
    commands = args.command or ["py-memtop --json" if args.json else "py-memtop"]
    target = subprocess.Popen([args.python, "-c", TARGET, str(args.threads)] + (["busy"] if args.busy else []),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if target.stdout.readline().strip() != "ready":  # type: ignore[union-attr]
            raise SystemExit("the target did not start")
        time.sleep(0.5)
        pid = str(target.pid)
        tools = [("plain attach", ["gdb", "-batch", "-nx", "-p", pid])]
        tools += [("%s (%s)" % (command, c), ["gdb", "-batch", "-nx", "-ix", os.path.join(c, "gdbinit.example"), "-p", pid, "-ex", command])
                  for command in commands for c in checkouts]
        gaps: dict[str, list[float]] = {name: [] for name, _ in tools}
        for run in range(args.runs):
            for name, argv in tools:
                gaps[name].append(_stop(target, argv))
            print("run %d: %s" % (run + 1, ", ".join("%s %.3f s" % (name, gaps[name][-1]) for name, _ in tools)), flush=True)
        print("\n%d %s threads, %s, %d runs each, round robin, load average %s:"
              % (args.threads, "busy" if args.busy else "idle", args.python, args.runs, " ".join(_load())))
        for name, _ in tools:
            print("  %-60s median %.3f s, max %.3f s" % (name, statistics.median(gaps[name]), max(gaps[name])))
    finally:
        target.kill()
        target.wait()
    return 0


def _load() -> list[str]:
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def _stop(target: subprocess.Popen, argv: list[str]) -> float:
    """The heartbeat's longest gap while gdb runs `argv` (and half a second after)."""
    assert target.stdin is not None and target.stdout is not None
    target.stdin.write("reset\n")
    target.stdin.flush()
    time.sleep(0.3)
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    if done.returncode != 0 or "Traceback" in done.stderr:
        print(done.stderr[-2000:], file=sys.stderr)
    time.sleep(0.5)
    target.stdin.write("gap\n")
    target.stdin.flush()
    return float(target.stdout.readline())


if __name__ == "__main__":
    sys.exit(main())
