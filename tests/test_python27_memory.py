"""py-heap and py-cycles read a Python 2.7 heap from memory (issue 16): cores and live targets, nothing run.

2.7 is laid out apart (a 32-byte collector's header, str as bytes, dicts and sets as open tables,
the heap's roots in statics: gdbside/dwarf_layout.py offsets27, host/pyobjects27.py).  The
reference is the census run in the same target; the seed's two cases are the user's view.
"""

from __future__ import annotations

import pytest
from support.gdb import assert_no_traceback, gcore, run_gdb
from support.interpreters import find
from support.png import is_png
from support.targets import SEED_CASES, SEED_CYCLES, SEED_STRING

from gdb_memleak.model import schemas

PYTHON_27, PYTHON_27_MISSING = find("2.7")
pytestmark = pytest.mark.skipif(bool(PYTHON_27_MISSING), reason=PYTHON_27_MISSING or "present")


def test_the_seed_s_cases_from_cores(start_target, tmp_path):
    """Case 2: str on top and the path `__main__._pure_string`; case 1: the ObjectA/ObjectB pairs, which
    2.7's collector moved into gc.garbage (they define __del__), with their count and a real PNG."""
    strings = start_target(PYTHON_27, SEED_STRING, "8")
    cycles = start_target(PYTHON_27, SEED_CYCLES, "400")
    core_s, core_c = (str(gcore(t.pid, tmp_path)) for t in (strings, cycles))
    strings.stop()
    cycles.stop()
    heap = run_gdb("py-heap --json --largest 1", core=(PYTHON_27, core_s), timeout=300)
    assert_no_traceback(heap)
    doc = heap.document()
    schemas.validator("heap").validate(doc)
    assert doc["backend"] == "memory" and doc["source"] == "core"
    assert doc["rows"][0]["kind"] == "str" and doc["rows"][0]["size"] > 8_000_000, (doc["rows"][:3], doc["largest"], heap.stderr)
    assert doc["largest"][0]["path"] == "__main__._pure_string" and doc["largest"][0]["type"] == "str"
    graph = tmp_path / "cycles.png"
    found = run_gdb("py-cycles --json --graph %s" % graph, core=(PYTHON_27, core_c), timeout=300)
    assert_no_traceback(found)
    cyc = found.document()
    schemas.validator("cycles").validate(cyc)
    assert cyc["backend"] == "memory"
    kinds = {r["kind"]: r["count"] for r in cyc["uncollectable"]["rows"]}
    pairs = kinds["__main__.ObjectA"]
    assert pairs >= 400 and kinds == {"__main__.ObjectA": pairs, "__main__.ObjectB": pairs}, kinds
    pair = cyc["uncollectable"]["cycles"][0]
    assert pair["path"] == "ObjectA.__attr -> ObjectB.__attr -> ObjectA" and pair["count"] == pairs
    assert pair["objects"] == 4 * pairs  # each instance's __dict__ is an object of its own
    assert is_png(graph, larger_than=1000)


def test_live_read_only_matches_the_census_and_leaves_the_target_running(start_target):
    """Read first, on the target as it was; the census (run in the target) then: the same top kinds, the
    totals within 5% (the census also counts its own code: its modules, classes and their tuples), the
    same uncollectable cycles.  The seed's str holds still: grown 260 KB/s between the two readings,
    it alone made the totals differ by 5.2-5.6% under CI's load (2026-12-04)."""
    target = start_target(PYTHON_27, SEED_CASES, "5", "300", env={"SEED_HOLD": "1"})
    run = run_gdb("py-heap --read-only --json --top 12", "py-cycles --read-only --json", "py-heap --json --top 12",
                  "py-cycles --json", pid=target.pid, timeout=300)
    assert_no_traceback(run)
    memory, memory_cycles, census, payload_cycles = run.json_documents()
    assert memory["backend"] == "memory" and census["backend"] == "census"
    assert abs(memory["total_size"] - census["total_size"]) <= 0.05 * census["total_size"]
    top_memory, top_census = [r["kind"] for r in memory["rows"]], [r["kind"] for r in census["rows"]]
    assert top_memory[:3] == top_census[:3] == ["str", "dict (no owner)", "dict of module"], (top_memory, top_census)
    assert abs(memory["rows"][0]["size"] - census["rows"][0]["size"]) <= 0.05 * census["rows"][0]["size"]
    assert memory_cycles["uncollectable"] == payload_cycles["uncollectable"]
    assert memory_cycles["walk"]["overcounted"] == 0
    assert target.wait_for_ticks(2)
