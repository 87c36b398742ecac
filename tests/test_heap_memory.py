"""py-heap --read-only (issue 16, phase 1): the census read from memory, nothing run in the target.

Real targets, real gdb, real `gcore` cores; CPython 3.8 to 3.13 (pyenv, with debug info), 3.14 and 3.15 (Debian forky's debug builds).
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
from support.gdb import READ_UNASKED, assert_no_traceback, gcore, run_gdb
from support.heartbeat import assert_carries_on, hostile_state, service_state, wait_for_line
from support.interpreters import (
    MEMORY_VERSIONS,
    PYTHON_311,
    PYTHON_NODEBUG,
    PYTHON_NODEBUG_MISSING,
    find,
)
from support.paths import TARGETS
from support.targets import BYTES_BLOBS, HOSTILE, LONG_C_CALL, SEED_STRING, SERVICE, assert_service_kinds

from gdb_memleak.model import schemas

VERSIONS = MEMORY_VERSIONS
HEAP_MIX = TARGETS / "heap_mix.py"  # the benchmark's mix, with a heartbeat



def _status(pid: int) -> dict[str, int]:
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                out[key] = int(value.split()[0]) * 1024
    return out


@pytest.mark.parametrize("python", VERSIONS)
def test_case2_from_a_core_file_has_str_on_top(start_target, tmp_path, python):
    """The seed's case 2 from a gcore core, opened as `gdb EXE CORE`: py-heap reads it by itself."""
    target = start_target(python, SEED_STRING, "20")
    core = str(gcore(target.pid, tmp_path))
    target.stop()
    run = run_gdb("py-heap --json --largest 2", "py-heap --top 3", core=(python, core), timeout=300)
    assert_no_traceback(run)
    doc = run.first_document()
    schemas.validator("heap").validate(doc)
    assert doc["backend"] == "memory" and doc["source"] == "core"
    assert doc["rows"][0]["kind"] == "str"
    assert doc["rows"][0]["size"] > 20_000_000
    assert doc["total_count"] > 1000 and doc["total_size"] >= doc["rows"][0]["size"]
    largest = doc["largest"][0]
    assert largest["type"] == "str" and largest["size"] > 20_000_000
    assert largest["path"] == "__main__._pure_string"
    assert largest["repr"].startswith("'qwertyuiop") and largest["repr"].endswith(")")
    assert "a core file: read from memory" in run.stderr
    lines = run.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Partition of a set of"))
    assert lines[header + 2].split()[-1] == "str"
    assert "(memory backend: read from a core file, nothing run in the target" in run.stdout


@pytest.mark.parametrize("python", VERSIONS)
def test_live_read_only_matches_the_injected_census(start_target, python):
    """On the benchmark's mix: the same top kinds as the injected census, and the total within 5%.
    The read-only census runs first, on the target as it was."""
    target = start_target(python, HEAP_MIX, "20000")
    run = run_gdb("py-heap --read-only --json --top 12", "py-heap --json --top 12", pid=target.pid, timeout=300)
    assert_no_traceback(run)
    memory, census = run.json_documents()
    for doc in (memory, census):
        schemas.validator("heap").validate(doc)
    assert memory["backend"] == "memory" and memory["source"] == "process"
    assert census["backend"] == "census"
    assert abs(memory["total_size"] - census["total_size"]) <= 0.05 * census["total_size"]
    top_memory = [r["kind"] for r in memory["rows"]]
    top_census = [r["kind"] for r in census["rows"]]
    assert top_memory[:5] == top_census[:5] or set(top_memory[:5]) == set(top_census[:5]), (top_memory, top_census)
    assert len(set(top_memory[:10]) & set(top_census[:10])) >= 9, (top_memory, top_census)
    by_kind = {r["kind"]: r for r in census["rows"]}
    for row in memory["rows"][:4]:
        assert abs(row["size"] - by_kind[row["kind"]]["size"]) <= 0.05 * by_kind[row["kind"]]["size"], (row, by_kind[row["kind"]])


@pytest.mark.parametrize("python", VERSIONS)
def test_instances_attributes_and_dicts_are_read_as_the_census_reads_them(start_target, python):
    """Attributes kept as values only (3.11: before the object, 3.12: a tagged pointer, 3.13: inline), a
    __dict__ made, a dict subclass: the same counts and sizes per class, and the ints and strs they hold."""
    target = start_target(python, TARGETS / "instances.py")
    run = run_gdb("py-heap --read-only --json --top 40", "py-heap --json --top 40", pid=target.pid, timeout=300)
    assert_no_traceback(run)
    memory, census = ({r["kind"]: (r["count"], r["size"]) for r in doc["rows"]} for doc in run.json_documents())
    for kind in ("__main__.A", "__main__.B", "__main__.C", "dict of __main__.B"):
        assert memory.get(kind) == census.get(kind), (kind, memory.get(kind), census.get(kind))
    # The census also counts its own code's strs and ints: on 3.12, 2026-12-02, 754 strs and 56 KB
    # (str 8,634 / 560,492 bytes against 7,880 / 513,740 read): a margin in bytes, not a share.
    # And the memory backend counts every str key of a dict, the census only those their dict
    # alone holds (docs/how-it-works.md): on 3.11, 2026-12-02, 851 strs and 46 KB more read.
    for kind in ("int", "str"):
        assert census[kind][1] - 96 * 1024 <= memory[kind][1] <= census[kind][1] + 64 * 1024, (kind, memory[kind], census[kind])
    assert memory["int"][0] >= 5000 + 3000 + 1000


@pytest.mark.parametrize("python", VERSIONS)
def test_read_only_leaves_the_live_target_alive_and_unchanged(start_target, python):
    """Nothing is run, written or mapped: gdb makes no call (run_gdb checks), the mappings and the memory
    figures are the same afterwards, and the service goes on with its data intact (its own checksum)."""
    target = start_target(python, SERVICE, "event")
    state = service_state(target.wait_for_ticks(1)[-1])
    maps = Path("/proc/%d/maps" % target.pid).read_text()
    before = _status(target.pid)
    run = run_gdb("py-heap --read-only", "py-heap --read-only --json --top 5", pid=target.pid, timeout=300)
    assert_no_traceback(run)
    assert "(memory backend: read from the stopped process's memory, nothing run in the target" in run.stdout
    assert_service_kinds(run.document())
    assert target.alive()
    after = _status(target.pid)
    assert Path("/proc/%d/maps" % target.pid).read_text() == maps
    assert after["VmSize"] == before["VmSize"]
    assert abs(after["VmRSS"] - before["VmRSS"]) <= 1 << 20, (before["VmRSS"], after["VmRSS"])
    ticks = assert_carries_on(target)
    assert service_state(ticks[-1]) == state


@pytest.mark.parametrize("python", VERSIONS)
def test_targets_with_no_safe_point_are_read_and_left_untouched(start_target, python):
    """Issue 16's cases: a main thread in signal.pause(), and one holding the GIL in a long C call."""
    paused = start_target(python, TARGETS / "paused.py")
    checked = [line for line in paused.lines if line.startswith("checked ")]
    run = run_gdb("py-heap --read-only --json --top 5", pid=paused.pid, timeout=300)
    assert_no_traceback(run)
    assert {"str", "list", "int"} <= {r["kind"] for r in run.document()["rows"]}
    os.kill(paused.pid, signal.SIGUSR1)
    wait_for_line_prefix_count(paused, "checked ", 2)
    assert [line for line in paused.lines if line.startswith("checked ")] == checked * 2
    busy = start_target(python, LONG_C_CALL, str(10**8))
    run = run_gdb("py-heap --read-only --json --top 5", pid=busy.pid, timeout=300)
    assert_no_traceback(run)
    assert run.document()["total_count"] > 1000
    wait_for_line(busy, "result True", timeout=120)


@pytest.mark.parametrize("python", VERSIONS)
def test_bytes_are_counted_at_their_size(start_target, python):
    """A user's trial (2026-12-05): bytes objects were counted at their empty size (33 bytes each: the
    class's shape came from its base, object), so the heap's largest kind fell out of the top rows.
    Now the 5 MB of BLOBS leads, as in the census."""
    target = start_target(python, BYTES_BLOBS)
    run = run_gdb("py-heap --read-only --json --top 5", "py-heap --json --top 5", pid=target.pid, timeout=300)
    assert_no_traceback(run)
    memory, census = run.json_documents()
    assert memory["backend"] == "memory" and census["backend"] == "census"
    for doc in (memory, census):
        top = doc["rows"][0]
        assert top["kind"] == "bytes" and top["count"] >= 5000 and top["size"] >= 5_000_000, doc["rows"]
    assert abs(memory["rows"][0]["size"] - census["rows"][0]["size"]) <= 0.01 * census["rows"][0]["size"]
    # a subclass of bytes (tracked: it has a __dict__), sized by its items too
    blob = [{r["kind"]: r["size"] for r in doc["rows"]}.get("__main__.Blob") for doc in (memory, census)]
    assert blob[1] and blob[1] >= 2_000_000 and abs(blob[0] - blob[1]) <= 0.01 * blob[1], blob


@pytest.mark.parametrize("python", VERSIONS)
def test_no_safe_point_in_time_reads_memory_instead_and_says_so(start_target, python):
    """Issue 16: the census run in the target needs a safe point; a main thread holding the GIL
    in one long C call (sum over a range) gives none in 2 s, and py-heap then reads the heap
    from memory, saying why.  (A main thread in signal.pause() is woken: it answers in the target.)"""
    busy = start_target(python, LONG_C_CALL, str(6 * 10**8))
    run = run_gdb(READ_UNASKED, "py-heap --timeout 2 --json --top 5", pid=busy.pid, timeout=300)
    assert_no_traceback(run)
    doc = run.document()
    assert doc["backend"] == "memory" and doc["source"] == "process"
    assert doc["total_count"] > 1000
    assert any(n.startswith("no safe point within 2 s") and "read from memory instead" in n for n in doc["notes"]), doc["notes"]
    wait_for_line(busy, "result True", timeout=300)  # its call went on to its right end


def test_no_safe_point_in_time_refuses_a_memory_read_longer_than_max_stop(start_target):
    """Issue 13: no command stops the target more than 100 ms unasked.  Reading the heap from memory
    stops the whole process for the walk (0.17-0.3 s on the smallest targets, 2026-12-05), so with the
    default `max-stop` py-heap and py-cycles say what it would cost instead, and read nothing; a
    max-stop raised above the estimate lets them read it."""
    busy = start_target(PYTHON_311, LONG_C_CALL, str(6 * 10**8))
    run = run_gdb("show py-memleak max-stop", "py-heap --timeout 2 --json --top 5", "py-cycles --timeout 2 --json",
                  pid=busy.pid, timeout=300)
    assert_no_traceback(run)
    assert "at most 100 ms" in run.stdout and "memory backend" not in run.stdout and '"kind"' not in run.stdout
    for command in ("py-heap", "py-cycles"):
        line = next(line for line in run.stderr.splitlines() if line.startswith(command + ": "))
        assert re.fullmatch(r"%s: no safe point within 2 s: .*; nothing was run in the target \(try again, raise "
                            r"--timeout, or: %s --read-only reads its memory instead, stopping the whole process "
                            r"about \d+\.\d s \(\d+ MB of RSS\); `set py-memleak max-stop \d+000` lets %s do that "
                            r"by itself\)" % (command, command, command), line), line
    wait_for_line(busy, "result True", timeout=300)  # its call went on to its right end


def wait_for_line_prefix_count(target, prefix: str, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and sum(line.startswith(prefix) for line in target.lines) < count:
        time.sleep(0.02)


@pytest.mark.parametrize("version", ["3.6", "3.7"])
def test_unsupported_version_is_refused_in_one_line(start_target, version):
    python, missing = find(version)
    if missing:
        pytest.skip(missing)
    target = start_target(python, SEED_STRING, "1")
    run = run_gdb("py-heap --read-only", "py-cycles --read-only", pid=target.pid)
    assert_no_traceback(run)
    for command in ("py-heap", "py-cycles"):
        errors = [line for line in run.stderr.splitlines() if line.startswith(command + ":")]
        assert errors == ["%s: --read-only reads CPython 2.7, 3.8, 3.9, 3.10, 3.11, 3.12, 3.13, 3.14, 3.15; this target runs %s, which it cannot "
                          "read yet; nothing was read" % (command, version)], run.stderr
    assert target.wait_for_ticks(1)


@pytest.mark.skipif(bool(PYTHON_NODEBUG_MISSING), reason=PYTHON_NODEBUG_MISSING or "present")
def test_no_debug_info_is_refused_in_one_line(start_target):
    target = start_target(PYTHON_NODEBUG, SEED_STRING, "1")
    run = run_gdb("py-heap --read-only", pid=target.pid)
    assert_no_traceback(run)
    errors = [line for line in run.stderr.splitlines() if line.startswith("py-heap:")]
    assert len(errors) == 1 and "needs the interpreter's debug info" in errors[0], run.stderr
    assert target.wait_for_ticks(1)


def test_options_that_need_the_target_are_refused_with_read_only(start_target):
    target = start_target(PYTHON_311, SEED_STRING, "1")
    run = run_gdb("py-heap --read-only --mark m", "py-heap --read-only --backend guppy", pid=target.pid)
    assert_no_traceback(run)
    assert "py-heap: --mark, --since, --marks and --drop-mark keep their data in the target: not with --read-only" in run.stderr
    assert "py-heap: --backend guppy runs in the target: not with --read-only" in run.stderr


def test_a_corrupted_or_truncated_core_is_one_line(start_target, tmp_path):
    target = start_target(PYTHON_311, HEAP_MIX, "20000")
    core = gcore(target.pid, tmp_path)
    target.stop()
    data = bytearray(core.read_bytes())
    # The records' arenas fill most of the core: 0xff over its middle breaks the collector's list.
    data[len(data) * 3 // 10: len(data) * 7 // 10] = b"\xff" * (len(data) * 7 // 10 - len(data) * 3 // 10)
    bad = tmp_path / "corrupted"
    bad.write_bytes(bytes(data))
    run = run_gdb("py-heap", "py-cycles", core=(PYTHON_311, str(bad)), timeout=300)
    assert_no_traceback(run)
    for command in ("py-heap", "py-cycles"):
        errors = [line for line in run.stderr.splitlines() if line.startswith(command + ":") and "a core file" not in line]
        assert len(errors) == 1 and "is broken at 0x" in errors[0] and "nothing was counted" in errors[0], run.stderr
    short = tmp_path / "truncated"
    short.write_bytes(bytes(data[: len(data) // 2]))
    run = run_gdb("py-heap", core=(PYTHON_311, str(short)), timeout=300)
    assert_no_traceback(run)
    errors = [line for line in run.stderr.splitlines() if line.startswith("py-heap:")]
    assert len(errors) == 1 and "no process" in errors[0], run.stderr  # gdb itself does not load it


@pytest.mark.parametrize("python", VERSIONS)
def test_hostile_objects_are_read_without_running_their_code(start_target, tmp_path, python):
    """The hostile target (tests/targets/hostile_objects.py): no trap goes off, its data is the same, and
    its escape sequences reach the terminal as \\xNN (text) or JSON escapes, never raw."""
    module_dir = tmp_path / "evil-module"
    module_dir.mkdir()
    target = start_target(python, HOSTILE, str(module_dir))
    checksum, traps = hostile_state(target)
    run = run_gdb("py-heap --read-only --largest 5", "py-heap --read-only --json --largest 5", pid=target.pid, timeout=300)
    assert_no_traceback(run)
    assert "\x1b" not in run.stdout + run.stderr and "\x07" not in run.stdout + run.stderr
    assert "(memory backend" in run.stdout and run.document()["backend"] == "memory"
    assert hostile_state(target) == (checksum, 0) and traps == 0
