"""py-cycles --read-only (issue 16): cyclic garbage found from memory, nothing run in the target.

Real targets, real gdb, real `gcore` cores; CPython 3.8 to 3.13 (pyenv, with debug info), 3.14 and 3.15 (Debian forky's debug builds).
"""

from __future__ import annotations

import subprocess

import pytest
from support.gdb import READ_UNASKED, assert_no_traceback, gcore, run_gdb
from support.heartbeat import gc_fields, wait_for_line
from support.interpreters import (
    MEMORY_VERSIONS,
    PYTHON_311,
)
from support.paths import TARGETS
from support.png import is_png
from support.targets import GC_OFF_CLOSURES, LONG_C_CALL, SEED_CYCLES, WIDE_RING

from gdb_memleak.model import schemas

VERSIONS = MEMORY_VERSIONS



def _version(python: str) -> tuple[int, ...]:
    out = subprocess.run([python, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
                         capture_output=True, text=True, check=True).stdout
    return tuple(int(x) for x in out.split())


def _groups(doc: dict) -> list[tuple]:
    return [(tuple(g["types"]), g["count"], g["objects"], g["size"], g["path"]) for g in doc["cycles"]]


@pytest.mark.parametrize("python", VERSIONS)
def test_case1_from_a_core_file_gives_the_pair_cycle_and_a_real_png(start_target, tmp_path, python):
    """The seed's case 1 (ObjectA <-> ObjectB, collector off) from a gcore core, opened as `gdb EXE CORE`."""
    target = start_target(python, SEED_CYCLES, "3000")
    core = str(gcore(target.pid, tmp_path))
    target.stop()
    graph = tmp_path / "cycles.png"
    run = run_gdb("py-cycles --json --graph %s" % graph, "py-cycles --top 3", core=(python, core), timeout=300)
    assert_no_traceback(run)
    doc = run.first_document()
    schemas.validator("cycles").validate(doc)
    assert doc["backend"] == "memory" and doc["source"] == "core"
    pair = doc["cycles"][0]
    assert pair["types"] == ["__main__.ObjectA", "__main__.ObjectB"]
    assert pair["path"] == "ObjectA.__attr -> ObjectB.__attr -> ObjectA"
    # before 3.11 each instance's __dict__ is an object of its own, in the cycle's group
    per_pair = 2 if _version(python) >= (3, 11) else 4
    assert pair["count"] >= 3000 and pair["objects"] == per_pair * pair["count"]
    assert doc["total_objects"] >= pair["objects"]
    assert doc["walk"]["overcounted"] == 0 and doc["walk"]["unread"] == 0
    assert is_png(graph, larger_than=1000)
    dot = (tmp_path / "cycles.dot").read_text()
    assert dot.lstrip().startswith("digraph") and "ObjectA" in dot and '[label="__attr"]' in dot
    assert "a core file: read from memory" in run.stderr
    assert "ObjectA.__attr -> ObjectB.__attr -> ObjectA" in run.stdout
    assert "(memory backend: read from a core file, nothing run in the target" in run.stdout


@pytest.mark.parametrize("python", VERSIONS)
def test_live_read_only_finds_what_the_payload_finds(start_target, python):
    """Node pairs, closures that hold themselves through a cell, and rings of four through a dict: the same
    groups, counts, sizes and paths as payloads/cycles.py finds in the target; read first, on the target as
    it was.  The read changes nothing the target shows (its modules, their names, gc off)."""
    target = start_target(python, GC_OFF_CLOSURES, "300")
    before = target.wait_for_ticks(1)[-1]
    run = run_gdb("py-cycles --read-only --json", pid=target.pid, timeout=300)
    assert_no_traceback(run)
    memory = run.document()
    after = target.wait_for_ticks(2)[-1]
    assert after.split()[2:] == before.split()[2:]  # modules=M keys=K gc=off
    payload = run_gdb("py-cycles --json", pid=target.pid, timeout=300).document()  # imports gc's helpers on 3.12+
    schemas.validator("cycles").validate(memory)
    assert memory["backend"] == "memory" and memory["source"] == "process" and "backend" not in payload
    assert _groups(memory) == _groups(payload)
    assert len(memory["cycles"]) == 3 and all(g["count"] == 300 for g in memory["cycles"])
    assert (memory["total_objects"], memory["total_size"]) == (payload["total_objects"], payload["total_size"])


def test_a_heap_of_many_shards_gives_the_same_answer_read_or_run(start_target):
    """40,000 of each cycle (about 320,000 tracked objects): the payload cuts its maps of ids into
    shards by ranges of ids (payloads/cycles.py, _shards) past 65,536 objects; every object must land
    in its shard and be found there again, or the groups would differ from the memory walk's."""
    target = start_target(PYTHON_311, GC_OFF_CLOSURES, "40000")
    memory = run_gdb("py-cycles --read-only --json", pid=target.pid, timeout=300).document()
    run = run_gdb("py-cycles --json", pid=target.pid, timeout=300)
    assert_no_traceback(run)
    payload = run.document()
    assert len(payload["cycles"]) == 3 and all(g["count"] == 40000 for g in payload["cycles"])
    assert _groups(memory) == _groups(payload)
    assert (memory["total_objects"], memory["total_size"]) == (payload["total_objects"], payload["total_size"])
    assert target.wait_for_ticks(1)


@pytest.mark.parametrize("python", VERSIONS)
def test_a_long_ring_and_a_type_filter(start_target, python):
    """One ring of 100 Link objects (through their dicts or values) whose members hold much else: one group
    of 200 objects, its path cut after 24 steps; a filter on a kind that is not in the ring (list) finds no group,
    and a name no class has is an error."""
    target = start_target(python, WIDE_RING)
    run = run_gdb("py-cycles --read-only --json Link", "py-cycles --read-only --json list",
                  "py-cycles --read-only NoSuchClass", pid=target.pid, timeout=300)
    assert_no_traceback(run)
    ring, other = run.json_documents()
    assert [(g["types"], g["count"]) for g in ring["cycles"]] == [(["__main__.Link"], 1)]
    assert ring["cycles"][0]["path"].startswith("Link.next -> Link.next -> ")
    assert ring["cycles"][0]["path"].endswith("more steps back to Link)")
    assert ring["total_objects"] > 10_000  # the lists and strs the ring holds are garbage with it
    assert other["cycles"] == []
    assert "py-cycles: no type named NoSuchClass in the target" in run.stderr
    assert target.wait_for_ticks(1)


@pytest.mark.parametrize("python", VERSIONS)
def test_no_safe_point_in_time_reads_cycles_from_memory_and_says_so(start_target, python):
    """A main thread holding the GIL in one long C call gives no safe point in 2 s: py-cycles reads memory
    instead and says why."""
    busy = start_target(python, LONG_C_CALL, str(6 * 10**8))
    run = run_gdb(READ_UNASKED, "py-cycles --timeout 2 --json", pid=busy.pid, timeout=300)
    assert_no_traceback(run)
    doc = run.document()
    schemas.validator("cycles").validate(doc)
    assert doc["backend"] == "memory" and doc["source"] == "process"
    assert doc["walk"]["tracked"] > 1000 and doc["walk"]["roots"] > 0
    assert any(n.startswith("no safe point within 2 s") and "read from memory instead" in n for n in doc["notes"]), doc["notes"]
    wait_for_line(busy, "result True", timeout=300)  # its call went on to its right end


def test_a_paused_target_is_read_and_left_as_it_was(start_target):
    """A main thread in signal.pause(), the only thread: read, and its data checks the same afterwards."""
    target = start_target(PYTHON_311, TARGETS / "paused.py")
    run = run_gdb("py-cycles --read-only --json", pid=target.pid, timeout=300)
    assert_no_traceback(run)
    assert run.document()["walk"]["tracked"] > 20_000
    assert target.alive()


def test_options_that_need_the_target_are_refused_with_read_only(start_target):
    target = start_target(PYTHON_311, SEED_CYCLES, "10")
    before = target.wait_for_ticks(1)[-1]
    run = run_gdb("py-cycles --read-only --mark m", "py-cycles --read-only --since m", pid=target.pid)
    assert_no_traceback(run)
    assert run.stderr.count("py-cycles: --mark and --since keep their data in the target: not with --read-only") == 2
    assert gc_fields(target.wait_for_ticks(1)[-1]) == gc_fields(before)
