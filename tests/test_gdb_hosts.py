"""Issue 12, item 3: gdb 16 and gdb 18 as hosts, with their own embedded Pythons.

`make setup` provides gdb 18.1 (Debian forky, embedded Python 3.14) and gdb 16.3 (Debian
trixie, embedded Python 3.13) as .roots/bin/gdb-18 and .roots/bin/gdb-16; both run on the
host through their own ld.so.  The plugin loads into each from gdbinit.example, and the
three commands run against a pyenv 3.11 target and a 3.14 one run on the host.  The whole
suite can also run under one of them: GDB_MEMLEAK_GDB=.roots/bin/gdb-18 make test.
"""

from __future__ import annotations

import os
import re

import pytest
from support.gdb import assert_no_traceback, run_gdb
from support.interpreters import PYTHON_311
from support.paths import HOSTRUN, ROOTS
from support.png import is_png
from support.targets import CONTAINER_HEAP, CONTAINER_LOOP_LINES

# (gdb, its version, its embedded Python)
GDBS = [
    pytest.param("gdb", "13.1", "3.11", id="gdb13"),
    pytest.param(str(ROOTS / "bin" / "gdb-16"), "16.3", "3.13", id="gdb16"),
    pytest.param(str(ROOTS / "bin" / "gdb-18"), "18.1", "3.14", id="gdb18"),
]
# (target interpreter, where py-memtop's locations come from)
TARGET_PYTHONS = [
    pytest.param(PYTHON_311, "libpython", id="pyenv-3.11"),
    # Its debug info is in the forky tree's /usr/lib/debug: gdb 18, installed in that tree,
    # looks there (its debug-file-directory is relative to its own binary); the others do not.
    pytest.param(str(HOSTRUN / "python3.14"), {"18.1": "libpython"}, id="host-3.14"),
    pytest.param(str(HOSTRUN / "python3.14d"), "libpython", id="host-3.14d"),
]


@pytest.mark.parametrize("python, source", TARGET_PYTHONS)
@pytest.mark.parametrize("gdb, version, embedded", GDBS)
def test_core_commands_under_each_gdb(start_target, monkeypatch, tmp_path, gdb, version, embedded, python, source):
    for path in (gdb, python):
        if "/" in path and not os.path.exists(path):
            pytest.skip("no %s (make setup makes it)" % path)
    monkeypatch.setenv("GDB_MEMLEAK_GDB", gdb)
    target = start_target(python, CONTAINER_HEAP)
    graph = tmp_path / "cycles.png"
    run = run_gdb("python import sys; print('host', gdb.VERSION, '%d.%d' % sys.version_info[:2])",
                  "py-memtop --json", "py-heap --json --largest 2", "py-cycles --json --graph %s" % graph, pid=target.pid)
    assert_no_traceback(run)
    assert re.search(r"^host %s(\.\d+)? %s$" % (re.escape(version), re.escape(embedded)), run.stdout, re.M), run.stdout
    memtop, heap, cycles = run.json_documents()

    main = next(t for t in memtop["threads"] if t["tid"] == target.pid)
    if isinstance(source, dict):
        source = source.get(version, "debug_offsets")
    assert main["source"] == source, run.stderr
    assert main["frames"][0]["file"] == str(CONTAINER_HEAP) and main["frames"][0]["line"] in CONTAINER_LOOP_LINES, main
    assert heap["rows"][0]["kind"] == "bytearray"
    assert any(o["path"] == "__main__.held" for o in heap["largest"]), heap["largest"]
    assert any(c["path"] == "Pair.other -> Pair.other -> Pair" for c in cycles["cycles"]), cycles["cycles"][:3]
    # gdb 16/18 cannot import the .venv's graphviz package (built for 3.11): dot is run directly.
    assert is_png(graph), run.stderr
    ticks = target.wait_for_ticks(2)
    assert target.alive() and len(ticks) == 2
