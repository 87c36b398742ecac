"""Builds gdb has no debug info for, read from memory through their `_Py_DebugOffsets` (issue 16).

The layouts kept in gdb_memleak/host/layouts/ (`make layouts`) come from release builds whose
debug info a gdb reads: pyenv's 3.13.0 (gdb 13), Debian forky's python3.14 and python3.15
(gdb 18, which finds their debug files in the forky tree).  gdb 13 does not find those, so
forky's release builds under gdb 13 are the real case: a build in a container whose debug
files the host does not have.  A pyenv 3.13 whose libpython is a stripped copy is the other.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.gdb import assert_no_traceback, gcore, gdb_binary, gdb_reads_the_tree_s_debug_info, run_gdb
from support.interpreters import PYTHON_313, PYTHON_313_MISSING, find
from support.paths import HOSTRUN, ROOTS
from support.targets import SEED_CYCLES, SEED_STRING, TARGETS

from gdb_memleak.host import layout_tables

GDB_18 = str(ROOTS / "bin" / "gdb-18")
HEAP_MIX = TARGETS / "heap_mix.py"
RELEASES = [
    pytest.param(PYTHON_313, "gdb", (3, 13), id="pyenv-3.13"),
    pytest.param(str(HOSTRUN / "python3.14"), GDB_18, (3, 14), id="forky-3.14"),
    pytest.param(str(HOSTRUN / "python3.15"), GDB_18, (3, 15), id="forky-3.15"),
]
DUMP = ("python import json; from gdb_memleak.gdbside import dwarf_layout as d; "
        "print('LAYOUT ' + json.dumps({'offsets': d.offsets(%r), 'debug_offsets': d.debug_offsets()}))")


def _present(*paths: str) -> None:
    for path in paths:
        if not path or not (Path(path).exists() or shutil.which(path)):
            pytest.skip("no %s (make setup makes it)" % path)


@pytest.mark.parametrize("python, gdb, version", RELEASES)
def test_each_kept_layout_is_what_its_build_s_debug_info_says(processes, python, gdb, version):
    """A table that drifted from its build (another micro release in the tree, a change of the walk's
    offsets not written again) fails here: `make layouts` writes them again."""
    _present(python, gdb)
    target = processes.argv([python, "-c", "import time\nprint('ready', flush=True)\nwhile True:\n    time.sleep(60)\n"])
    run = run_gdb(DUMP % (version,), pid=target.pid, gdb=gdb)
    assert_no_traceback(run)
    line = [x for x in run.stdout.splitlines() if x.startswith("LAYOUT ")]
    assert line, run.stderr
    read = json.loads(line[0][len("LAYOUT "):])
    kept = json.loads(Path(layout_tables.path(version)).read_text())
    assert read["debug_offsets"] == kept["debug_offsets"]
    assert read["offsets"] == kept["offsets"]


def _release_314() -> str:
    python = str(HOSTRUN / "python3.14")
    _present(python)
    if gdb_reads_the_tree_s_debug_info():
        pytest.skip("this gdb reads forky's debug files: the debug info answers")
    return python


def test_a_release_build_without_debug_info_gets_the_census_the_target_gives(start_target):
    """Before: "--read-only needs the interpreter's debug info"; the census run in the target is the reference."""
    target = start_target(_release_314(), HEAP_MIX, "20000")
    run = run_gdb("py-heap --read-only --json --top 12", "py-heap --json --top 12", pid=target.pid, timeout=300)
    assert_no_traceback(run)
    memory, census = run.json_documents()
    assert memory["backend"] == "memory" and census["backend"] == "census"
    assert abs(memory["total_size"] - census["total_size"]) <= 0.05 * census["total_size"]
    top_memory, top_census = [r["kind"] for r in memory["rows"]], [r["kind"] for r in census["rows"]]
    assert set(top_memory[:5]) == set(top_census[:5]), (top_memory, top_census)
    assert top_memory[0] == "str" and "heap_target.Point" in top_memory[:5]
    assert target.wait_for_ticks(1)


def test_the_seed_s_cases_from_a_core_of_a_release_build(start_target, tmp_path):
    """Case 2's str and its path, case 1's ObjectA/ObjectB cycle, from gcore cores: nothing runs."""
    python = _release_314()
    strings = start_target(python, SEED_STRING, "1")
    cycles = start_target(python, SEED_CYCLES, "500")
    core_s, core_c = (str(gcore(t.pid, tmp_path)) for t in (strings, cycles))
    heap = run_gdb("py-heap --json --largest 1", core=(python, core_s), timeout=300)
    assert_no_traceback(heap)
    doc = heap.document()
    assert doc["backend"] == "memory" and doc["rows"][0]["kind"] == "str"
    assert doc["largest"][0]["path"] == "__main__._pure_string"
    found = run_gdb("py-cycles --json", core=(python, core_c), timeout=300)
    assert_no_traceback(found)
    pair = found.document()["cycles"][0]
    assert pair["types"] == ["__main__.ObjectA", "__main__.ObjectB"] and pair["count"] >= 500
    assert pair["path"] == "ObjectA.__attr -> ObjectB.__attr -> ObjectA"


def test_a_stripped_libpython_is_read_and_a_build_that_differs_is_refused(processes, tmp_path):
    """pyenv's 3.13 with its libpython stripped (LD_LIBRARY_PATH to the copy): read through the 3.13 table.
    The same with one number of its _Py_DebugOffsets as another build would have it: one line, nothing read."""
    _present(PYTHON_313 or "")
    if PYTHON_313_MISSING:
        pytest.skip(PYTHON_313_MISSING)
    lib = Path(PYTHON_313).resolve().parent.parent / "lib" / "libpython3.13.so.1.0"
    stripped = tmp_path / lib.name
    subprocess.run(["strip", "-o", str(stripped), str(lib)], check=True)
    code = "import time\nx = ['leak %d' % i for i in range(50000)]\nprint('ready', flush=True)\nwhile True:\n    time.sleep(60)\n"
    env = {"LD_LIBRARY_PATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    target = processes.argv([PYTHON_313, "-c", code], env=env)
    run = run_gdb("py-heap --read-only --json --top 3", pid=target.pid, timeout=300)
    assert_no_traceback(run)
    doc = run.document()
    assert doc["backend"] == "memory" and doc["rows"][0]["kind"] == "str" and doc["rows"][0]["count"] >= 50000
    # another build: a copy of the kept table with one of its numbers changed, as a micro release could
    table = json.loads(Path(layout_tables.path((3, 13))).read_text())
    name, at, value = table["debug_offsets"][3]
    table["debug_offsets"][3] = [name, at, value + 8]
    layouts = tmp_path / "layouts"
    layouts.mkdir()
    (layouts / "3.13.json").write_text(json.dumps(table))
    refused = run_gdb("python from gdb_memleak.host import layout_tables; layout_tables.HERE = %r" % str(layouts),
                      "py-heap --read-only", pid=target.pid)
    assert_no_traceback(refused)
    errors = [x for x in refused.stderr.splitlines() if x.startswith("py-heap:")]
    assert errors == ["py-heap: --read-only needs the interpreter's debug info, which gdb does not have for this "
                      "target, and the layout kept for CPython 3.13 does not fit it (its _Py_DebugOffsets give %s = %d "
                      "where %s has %d); nothing was read" % (name, value, table["source"], value + 8)], refused.stderr
    assert "Partition of a set" not in refused.stdout
    assert target.alive()


@pytest.mark.parametrize("version", sorted(layout_tables.TRACING_OFFSET), ids=["%d.%d" % v for v in sorted(layout_tables.TRACING_OFFSET)])
def test_gdb_marks_a_thread_as_tracing_in_the_field_the_interpreter_reads(version):
    """Before 3.11 the payload's block adds one to PyThreadState.tracing itself, at the version's offset
    (inject/evaluation.py): the interpreter's own debug info puts the field there."""
    python, missing = find("%d.%d" % version)
    if missing:
        pytest.skip(missing)
    prefix = os.path.dirname(os.path.dirname(python))
    where = (glob.glob(os.path.join(prefix, "lib", "libpython*.so.1.0")) or [python])[0]
    out = subprocess.run([gdb_binary(), "-batch", "-nx", "-ex", "ptype /o struct _ts", where],
                         capture_output=True, text=True, timeout=120).stdout
    found = re.search(r"/\*\s+(\d+)\s+\|\s+4\s+\*/\s+int tracing;", out)
    assert found, out[-2000:]
    assert int(found.group(1)) == layout_tables.TRACING_OFFSET[version], out[-2000:]
