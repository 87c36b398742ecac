"""make demo: the seed's two investigations, done with gdb-memleak, end to end.

Starts the two leaking programs (ported to Python 3) and runs
`gdb-memleak report` against each: gdb attaches in batch mode, runs py-memtop,
py-heap --largest 5 and py-cycles --graph, and each case leaves a report to open:

  demo-output/case1/report.html   the seed's case 1: ObjectA/ObjectB cycles piling up with gc off
  demo-output/case2/report.html   the seed's case 2: one module-level str that only grows

(plus report.json beside each, and case 1's reference graph).  Both programs
are killed at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUTPUT = os.path.join(REPO, "demo-output")
PYENV_311 = "/root/.pyenv/versions/3.11.7/bin/python3.11"
WATCH_SECONDS = "3"


def start(python: str, script: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([python, os.path.join(HERE, script), *args], stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:  # wait for the program's "ready"
        if line.strip() == "ready":
            break
    return proc


def gdb_memleak() -> list[str]:
    """The console script installed beside this interpreter by `make setup`, else the module."""
    script = os.path.join(os.path.dirname(sys.executable), "gdb-memleak")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "gdb_memleak"]


def report(pid: int, out: str, *extra: str) -> bool:
    argv = gdb_memleak() + ["report", str(pid), "--out", out, *extra]
    print("$ %s" % " ".join(["gdb-memleak"] + argv[len(gdb_memleak()):]), flush=True)
    return subprocess.run(argv, cwd=REPO, timeout=900).returncode == 0


def main() -> int:
    python = PYENV_311 if os.path.exists(PYENV_311) else sys.executable
    shutil.rmtree(OUTPUT, ignore_errors=True)  # stale pictures of an earlier demo would mislead
    os.makedirs(OUTPUT)
    cases = {
        "case1": ("ObjectA/ObjectB cycles piling up with gc off", "seed_cycles.py", "20000", ()),
        "case2": ("one huge str that only grows", "seed_string.py", "50", ("--watch", WATCH_SECONDS)),
    }
    procs = {}
    ok = True
    try:
        for case, (what, script, size, extra) in cases.items():
            procs[case] = start(python, script, size)
            print("\n== %s: %s (examples/%s, pid %d, %s)" % (case, what, script, procs[case].pid, python), flush=True)
            ok = report(procs[case].pid, os.path.join(OUTPUT, case), *extra) and ok
    finally:
        for proc in procs.values():
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    print("\nthe reports, to open in a browser:")
    for case in cases:
        path = os.path.join(OUTPUT, case, "report.html")
        print("  %s %s" % (path, "" if os.path.exists(path) else "(missing: see the error above)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
