"""make demo: the seed's two investigations, done with gdb-memleak, end to end.

Starts the two leaking programs (ported to Python 3), attaches gdb with the
plugin to each, runs py-memtop, py-heap and py-cycles, prints what they say and
writes the cycle graph to demo-output/cycles.png.  Both programs are killed at
the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUTPUT = os.path.join(REPO, "demo-output")
PYENV_311 = "/root/.pyenv/versions/3.11.7/bin/python3.11"


def start(python: str, script: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([python, os.path.join(HERE, script), *args], stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:  # wait for the program's "ready"
        if line.strip() == "ready":
            break
    return proc


def gdb(pid: int, *commands: str) -> None:
    # gdb-memleak loads the interpreter's libpython helper itself: gdb's own
    # auto-load would only print that its safe-path declined it.
    argv = ["gdb", "-batch", "-nx", "-q", "-iex", "set auto-load python-scripts off"]
    argv += ["-x", os.path.join(REPO, "gdbinit.example"), "-p", str(pid)]
    for command in commands:
        argv += ["-ex", "echo \\n(gdb) %s\\n" % command, "-ex", command]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    # gdb's own attach chatter is not the point of the demo.
    skip = ("[New LWP", "[Thread debugging", "Using host libthread_db", "[Inferior 1")
    lines = out.stdout.splitlines()
    first = next((i for i, l in enumerate(lines) if l.startswith("(gdb)")), 0)  # after the attach banner
    print("\n".join(l for l in lines[first:] if not l.startswith(skip)))
    errors = [l for l in out.stderr.splitlines() if l.startswith("py-")]
    if errors:
        print("\n".join(errors))


def main() -> int:
    python = PYENV_311 if os.path.exists(PYENV_311) else sys.executable
    os.makedirs(OUTPUT, exist_ok=True)
    print("== case 2: one huge str that only grows (examples/seed_string.py, %s)" % python)
    string_leak = start(python, "seed_string.py", "50")
    print("== case 1: ObjectA/ObjectB cycles piling up with gc off (examples/seed_cycles.py)")
    cycle_leak = start(python, "seed_cycles.py", "20000")
    try:
        print("\n#### case 2, pid %d" % string_leak.pid)
        gdb(string_leak.pid, "py-memtop --stack 3", "py-heap --largest 3")
        print("\n#### case 1, pid %d" % cycle_leak.pid)
        graph = os.path.join(OUTPUT, "cycles.png")
        gdb(cycle_leak.pid, "py-heap --top 6", "py-cycles --top 5 --graph %s" % graph)
        print("\nthe cycle graph: %s" % graph)
    finally:
        for proc in (string_leak, cycle_leak):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
