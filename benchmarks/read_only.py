"""py-heap and py-cycles --read-only (issue 16): time and gdb's memory on the benchmark's mix, live and from a core.

    .venv/bin/python benchmarks/read_only.py PYTHON RECORDS [--core] [--cycles]

Starts tests/targets/heap_mix.py RECORDS (benchmarks/heap_target.py's records: a dict, a str,
an int and a slotted Point of two ints each, plus four 4 MB strs; 166,000 records make about
1M objects) under PYTHON, then runs `gdb -batch -nx -ix gdbinit.example -p PID -ex 'py-heap
--read-only --json'` (with --core: `gcore`s the target first and runs `gdb PYTHON CORE -ex
'py-heap --json'`), and prints one line: objects, the command's own seconds (the target is
stopped meanwhile), gdb's CPU seconds in the command, gdb's peak RSS before and after it, and
the target's RSS. Every process it starts it ends by its pid; the core goes to a temporary
directory that is removed.  With --cycles, py-cycles instead of py-heap (objects: the tracked ones
it links, and the references among them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIX = os.path.join(REPO, "tests", "targets", "heap_mix.py")
PROBE = ("python import resource, time; print('#rss %d' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); "
         "print('#cpu %.3f' % time.process_time())")


def rss_kb(pid: int) -> int:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main(argv: list[str]) -> None:
    python, records, core = argv[1], argv[2], "--core" in argv
    tool = "py-cycles" if "--cycles" in argv else "py-heap"
    target = subprocess.Popen([python, MIX, records], stdout=subprocess.PIPE, text=True)
    where = tempfile.mkdtemp(prefix="gdb-memleak-bench-")
    try:
        assert target.stdout is not None
        while "ready" not in target.stdout.readline():
            pass
        target_rss = rss_kb(target.pid)
        if core:
            subprocess.run(["gcore", "-o", os.path.join(where, "core"), str(target.pid)], check=True, capture_output=True)
            os.kill(target.pid, signal.SIGKILL)
            target.wait()
            what = [python, os.path.join(where, "core.%d" % target.pid)]
            command = tool + " --json"
        else:
            what = ["-p", str(target.pid)]
            command = tool + " --read-only --json"
        argv_gdb = ["gdb", "-batch", "-nx", "-iex", "set auto-load python-scripts off", "-ix",
                    os.path.join(REPO, "gdbinit.example"), *what, "-ex", PROBE, "-ex", command, "-ex", PROBE]
        started = time.monotonic()
        out = subprocess.run(argv_gdb, capture_output=True, text=True, timeout=600).stdout
        wall = time.monotonic() - started
    finally:
        if target.poll() is None:
            os.kill(target.pid, signal.SIGKILL)
            target.wait()
        shutil.rmtree(where)
    doc = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    rss = [int(line.split()[1]) for line in out.splitlines() if line.startswith("#rss")]
    cpu = [float(line.split()[1]) for line in out.splitlines() if line.startswith("#cpu")]
    if tool == "py-cycles":
        counted = "%d tracked objects, %d references, %d in cycles" % (
            doc["walk"]["tracked"], doc["walk"]["references"], doc["total_objects"])
    else:
        counted = "%d objects, %d bytes" % (doc["total_count"], doc["total_size"])
    print("%s %s %s records, %s: %s; command %.2f s (gdb CPU %.2f s), gdb run %.2f s; "
          "gdb peak RSS %.1f -> %.1f MB (+%.1f); target RSS %.1f MB; load %s"
          % (tool, os.path.basename(python), records, "core" if core else "live", counted,
             doc["seconds"], cpu[1] - cpu[0], wall, rss[0] / 1024, rss[1] / 1024, (rss[1] - rss[0]) / 1024,
             target_rss / 1024, " ".join("%.2f" % x for x in os.getloadavg())))


if __name__ == "__main__":
    main(sys.argv)
