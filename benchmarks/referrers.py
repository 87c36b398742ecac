"""How long the calls py-heap --largest's path search could make hold the GIL (issue 13).

    .venv/bin/python benchmarks/referrers.py [--python PYTHON] [--records 100000,1000000] [--slice 5000]

For each size, a process of PYTHON builds the benchmark's records (heap_target.build: N dicts,
N slotted Points, four 4 MB strs), turns the collector off, and times, in itself:
  - gc.get_objects(): the list every walk starts from, one C call;
  - gc.get_referrers(one Point): one level of the path search's fallback, one C call;
  - the same level done in slices of SLICE objects of that list, each slice one C pipeline
    (gc.get_referents of each object, their ids, set.isdisjoint), the target free to run
    between slices: the total, per object, and the longest slice.
Prints a markdown table.  Best of 3 for each figure (this machine is shared).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTHON = "/root/.pyenv/versions/3.11.7/bin/python3.11"

MEASURE = r"""
import gc, itertools, json, operator, sys, time
sys.path.insert(0, sys.argv[1])
import heap_target
gc.disable()
data = heap_target.build(int(sys.argv[2]))
size = int(sys.argv[3])
target = data[0][len(data[0]) // 2]["point"]
clock = time.perf_counter


def timed(f):
    best = None
    for _ in range(3):
        started = clock()
        out = f()
        took = clock() - started
        best = took if best is None else min(best, took)
        del out
    return best


def sliced(snap, ids):
    worst, found = 0.0, []
    for start in range(0, len(snap), size):
        began = clock()
        part = snap[start:start + size]
        found.extend(itertools.compress(part, map(operator.not_, map(ids.isdisjoint, map(
            map, itertools.repeat(id), map(gc.get_referents, part))))))
        del part
        worst = max(worst, clock() - began)
    return found, worst


snap = gc.get_objects()
get_objects = timed(gc.get_objects)
get_referrers = timed(lambda: gc.get_referrers(target))
runs = []
for _ in range(3):
    started = clock()
    found, worst = sliced(snap, set([id(target)]))
    runs.append((clock() - started, worst, len(found)))
total, worst, found = min(runs)
print(json.dumps({"tracked": len(snap), "get_objects": get_objects, "get_referrers": get_referrers,
                  "sliced": total, "worst_slice": min(r[1] for r in runs), "found": found,
                  "referrers": len([r for r in gc.get_referrers(target) if r is not snap])}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=PYTHON)
    parser.add_argument("--records", default="100000,1000000")
    parser.add_argument("--slice", type=int, default=5000)
    args = parser.parse_args()
    print("| records | tracked objects | gc.get_objects | gc.get_referrers | in slices of %d | per object | longest slice |"
          % args.slice)
    print("|---|---|---|---|---|---|---|")
    for n in (int(x) for x in args.records.split(",")):
        out = subprocess.run([args.python, "-c", MEASURE, str(HERE), str(n), str(args.slice)],
                             capture_output=True, text=True, check=True).stdout
        r = json.loads(out.splitlines()[-1])
        assert r["found"] == r["referrers"], r  # both ways find the same holders
        print("| {:,} | {:,} | {:.3f} s | {:.3f} s | {:.2f} s | {:.0f} ns | {:.1f} ms |".format(
            n, r["tracked"], r["get_objects"], r["get_referrers"], r["sliced"], r["sliced"] / r["tracked"] * 1e9,
            r["worst_slice"] * 1e3))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
