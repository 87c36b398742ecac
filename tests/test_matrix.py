"""Issue 12, item 2: Python 3.14 and 3.15 targets, in and out of a container root.

The interpreters are Debian forky's (`make setup` builds .roots/forky): the release
builds python3.14 and python3.15 and the debug builds python3.14d and python3.15d
of the -dbg packages.  Out of the root they run as ordinary host processes (copies
patched to load the tree's libraries, .roots/hostrun, with Debian's gdb helper beside
each); in it they run chrooted, or chrooted in their own PID and mount namespaces.

Where py-memtop's locations come from, as measured on 2026-12-01 with gdb 13.1 and 16.3
(gdb 18.1 of the tree finds the release builds' debug info everywhere: libpython):
- host-run release builds: their own _Py_DebugOffsets (debug_offsets; the payload
  until 2026-12-04).  gdb finds no debug info for them (it is in the tree's
  /usr/lib/debug), so the helper reads nothing;
- host-run and chrooted debug builds: the helper (libpython);
- chrooted release builds, attached plainly: debug_offsets.  The plugin sets the sysroot
  only when a command first needs it, after gdb looked for debug info;
- chrooted release builds under `gdb-memleak report`, which attaches with the
  sysroot: the helper, from the thread state (the eval loop's `frame` is
  <optimized out> in these builds).
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from support.cli import pypi_reachable, run_gdb_memleak, run_prepare
from support.gdb import assert_no_traceback, gcore, gdb_reads_the_tree_s_debug_info, run_gdb
from support.heartbeat import assert_beating
from support.paths import FORKY, HOSTRUN
from support.png import is_png
from support.targets import CONTAINER_HEAP, CONTAINER_LOOP_LINES, LATE_THREADING, THREAD_POOL, Target, assert_pool_placed, script_line

BUILDS = ["python3.14", "python3.14d", "python3.15", "python3.15d"]


def _source(build: str) -> str:
    """Where py-memtop's locations come from for `build` (see the module's docstring)."""
    return "libpython" if _debug(build) or gdb_reads_the_tree_s_debug_info() else "debug_offsets"


def _version(build: str) -> str:
    return build[len("python"):].rstrip("d")


def _debug(build: str) -> bool:
    return build.endswith("d")


def _need_host(build: str) -> str:
    path = HOSTRUN / build
    if not path.exists():
        pytest.skip("no %s (make setup makes it)" % path)
    return str(path)


def _need_root(build: str) -> str:
    if not (FORKY / "usr" / "bin" / build).exists():
        pytest.skip("no %s in %s (make setup builds it)" % (build, FORKY))
    return "/usr/bin/" + build


def _start_host(processes, build: str) -> tuple[Target, str, int]:
    target = processes.target(_need_host(build), CONTAINER_HEAP)
    return target, str(CONTAINER_HEAP), target.pid


def _start_in_root(processes, build: str, script: str, how: str) -> tuple[Target, str, int]:
    target = processes.in_root(_need_root(build), script, how)
    return target, script, target.python_pid


def _assert_alive(target: Target, build: str) -> None:
    assert_beating(target, "python=%s held=20000" % _version(build))


def _all_commands(target: Target, script: str, pid: int, build: str, tmp_path, source: str) -> None:
    """The three commands, a mark, --watch and --since in one session; then the target is checked."""
    graph = tmp_path / "cycles.png"
    run = run_gdb("py-memtop --json", "py-heap --json --largest 2", "py-cycles --json --graph %s" % graph,
                  "py-heap --mark a --json", "py-memtop --watch 1 --json", "py-heap --since a --json", pid=pid, timeout=600)
    assert_no_traceback(run)
    assert not re.search(r"Program received signal SIG(?!INT)|Program terminated", run.stdout + run.stderr), run.stderr
    memtop, heap, cycles, mark, watched, since = run.json_documents()

    main = next(t for t in memtop["threads"] if t["tid"] == pid)
    assert (memtop["frames_source"], main["source"]) == (source, source), run.stderr
    assert main["frames"][0]["file"] == script and main["frames"][0]["line"] in CONTAINER_LOOP_LINES, main
    assert memtop["rss"] > 20_000_000

    assert heap["backend"] == "census"
    assert heap["rows"][0]["kind"] == "bytearray" and heap["rows"][0]["count"] >= 20000, heap["rows"][:3]
    assert any(o["path"] == "__main__.held" for o in heap["largest"]), heap["largest"]

    pairs = [c for c in cycles["cycles"] if c["path"] == "Pair.other -> Pair.other -> Pair"]
    assert pairs and pairs[0]["count"] == 50, cycles["cycles"][:3]
    assert is_png(graph)

    assert mark["mark"] == "a"
    assert 1 <= watched["growth"]["seconds"] <= 10 and not watched["growth"]["ended_early"], watched["growth"]
    assert since["since"] == "a" and since["seconds"] >= 0
    _assert_alive(target, build)


@pytest.mark.parametrize("build", BUILDS)
def test_host_run_target(processes, build, tmp_path):
    target, script, pid = _start_host(processes, build)
    _all_commands(target, script, pid, build, tmp_path, _source(build))


@pytest.mark.parametrize("build", ["python3.14d", "python3.15d"])
def test_memtop_places_every_thread_of_a_pool(processes, build):
    """thread_pool.py's threads named and placed from memory on 3.14 and 3.15 (issue 17 #11)."""
    target = processes.target(_need_host(build), THREAD_POOL)
    run = run_gdb("py-memtop --json --stack 8", pid=target.pid)
    assert_no_traceback(run)
    assert run.document()["frames_source"] == "libpython", run.stderr
    assert_pool_placed(run.document()["threads"], target)
    assert target.alive() and target.wait_for_ticks(1)


@pytest.mark.parametrize("build", ["python3.14", "python3.15"])
def test_memtop_places_every_thread_of_a_pool_of_a_release_build(processes, build):
    """thread_pool.py's 45 threads placed from memory on the release builds, with no debug info:
    the interpreter's own _Py_DebugOffsets, each thread at its line in its function, the callers
    below (threading's frames, then the script's <module> for the main thread), and each thread's
    threading name however str lays it out (read through sys.modules, the thread's inline values
    or, for one, its real __dict__)."""
    target = processes.target(_need_host(build), THREAD_POOL)
    run = run_gdb("py-memtop --json --stack 8", pid=target.pid)
    assert_no_traceback(run)
    doc = run.document()
    assert doc["frames_source"] == _source(build), run.stderr
    assert_pool_placed(doc["threads"], target)
    script = str(THREAD_POOL)
    waiting = script_line(THREAD_POOL, "never.wait()")
    main = next(t for t in doc["threads"] if t["tid"] == target.pid)
    assert main["frames"][-1]["function"] == "<module>" and main["frames"][-1]["file"] == script, main
    idle = next(t for t in doc["threads"] if (waiting, "idle") in [(f["line"], f["function"]) for f in t["frames"]])
    assert idle["frames"][0]["file"].endswith("threading.py") and idle["frames"][-1]["function"] == "_bootstrap", idle
    assert target.alive() and target.wait_for_ticks(1)


@pytest.mark.parametrize("build", ["python3.14", "python3.15"])
def test_memtop_names_the_main_thread_when_another_thread_imported_threading(processes, build):
    """threading imported first by a thread that _thread started: its _MainThread then keeps the
    main thread's ident but the importer's native id (3.13+).  Names go by the ident, the
    pthread_t, read from each thread's fs_base where gdb has no libthread_db for the tree's libc
    (gdb 13 declines to load it): "MainThread" on the main thread, not on the importer."""
    target = processes.target(_need_host(build), LATE_THREADING)
    importer = int(next(line.split()[1] for line in target.lines if line.startswith("importer ")))
    run = run_gdb("py-memtop --json --stack 2", pid=target.pid)
    assert_no_traceback(run)
    names = {t["tid"]: t["python_name"] for t in run.document()["threads"]}
    assert names[target.pid] == "MainThread" and names[importer] != "MainThread", names
    assert sorted(n for n in names.values() if n and n.startswith("late-")) == ["late-a", "late-b"], names
    assert target.alive() and target.wait_for_ticks(1)


def test_memtop_reads_a_3_13_of_another_micro_version_with_its_own_debug_offsets(processes, tmp_path):
    """Debian trixie's libpython3.13 (3.13.5, from the gdb 16 tree), embedded in a program and run
    through the tree's loader: no debug info, and its _Py_DebugOffsets differ from the table kept
    for 3.13 (pyenv's 3.13.0) in two struct sizes.  Its own numbers place and name every thread,
    memory reads only; before, py-memtop ran its payload there."""
    target = processes.embedded_trixie_313(THREAD_POOL, tmp_path)
    run = run_gdb("py-memtop --json --stack 8", pid=target.pid)
    assert_no_traceback(run)
    doc = run.document()
    assert doc["frames_source"] == "debug_offsets", run.stderr
    assert_pool_placed(doc["threads"], target)
    main = next(t for t in doc["threads"] if t["tid"] == target.pid)
    assert (main["frames"][0]["file"], main["frames"][0]["function"]) == (str(THREAD_POOL), "<module>"), main
    assert target.alive() and target.wait_for_ticks(1)


def test_memtop_reads_a_core_of_a_target_in_its_own_namespaces(processes, script_in_root, tmp_path):
    """A gcore of forky's release python3.14 run in its own PID namespace, read under gdb 13: no
    debug info, so its _Py_DebugOffsets place the threads; its thread states hold the namespace's
    ids (1), the core's LWPs the host's, a core has no NSpid to map them, and gdb has no
    libthread_db for the tree's libc.  Each thread's fs_base, its pthread_t, places it (since
    2026-12-04): the main thread at its loop's line.  Before, no location at all ("led to no frame
    of a thread gdb sees")."""
    build = "python3.14"
    target, script, pid = _start_in_root(processes, build, script_in_root, "namespaces")
    core = gcore(pid, tmp_path)
    run = run_gdb("py-memtop --json", core=(str(FORKY / "usr" / "bin" / build), str(core)))
    assert_no_traceback(run)
    doc = run.document()
    assert doc["live"] is False and doc["frames_source"] in ("debug_offsets", "libpython"), run.stderr  # gdb 18 may find the debug file
    # gdb 18 lists the thread a second time under its namespace id, 1, from the tree's libthread_db
    # (a thread the core does not hold): the frames go to that one there
    main = next(t for t in doc["threads"] if t["tid"] in (pid, 1) and t["frames"])
    assert main["frames"][0]["file"] == script and main["frames"][0]["line"] in CONTAINER_LOOP_LINES, main
    _assert_alive(target, build)


@pytest.mark.parametrize("build", BUILDS)
def test_chrooted_target(processes, script_in_root, build, tmp_path):
    target, script, pid = _start_in_root(processes, build, script_in_root, "chroot")
    _all_commands(target, script, pid, build, tmp_path, _source(build))


@pytest.mark.parametrize("build", ["python3.15"])
def test_target_in_own_namespaces(processes, script_in_root, build, tmp_path):
    target, script, pid = _start_in_root(processes, build, script_in_root, "namespaces")
    assert os.readlink("/proc/%d/ns/pid" % pid) != os.readlink("/proc/self/ns/pid")
    _all_commands(target, script, pid, build, tmp_path, _source(build))


def _report(target: Target, script: str, pid: int, build: str, tmp_path, source: str) -> None:
    out = tmp_path / "report"
    proc = run_gdb_memleak("report", str(pid), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Program received signal" not in proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["heap"]["rows"][0]["kind"] == "bytearray"
    main = next(t for t in report["memtop"]["threads"] if t["tid"] == pid)
    assert main["source"] == source, proc.stderr
    assert main["frames"][0]["file"] == script and main["frames"][0]["line"] in CONTAINER_LOOP_LINES, main
    assert any("Pair" in c["path"] for c in report["cycles"]["cycles"]), report["cycles"]
    assert (out / "report.html").stat().st_size > 1000
    _assert_alive(target, build)


@pytest.mark.parametrize("build", ["python3.14", "python3.15"])
def test_report_on_a_host_run_target(processes, build, tmp_path):
    _report(*_start_host(processes, build), build, tmp_path, _source(build))


@pytest.mark.parametrize("build", ["python3.14", "python3.15"])
def test_report_on_a_chrooted_target_reads_locations_from_the_helper(processes, script_in_root, build, tmp_path):
    # report attaches with the sysroot: gdb reads the tree's debug info, and the helper
    # reads frames from the thread state although the eval loop's `frame` is optimized out.
    _report(*_start_in_root(processes, build, script_in_root, "chroot"), build, tmp_path, "libpython")


# --- python -m gdb_memleak prepare for 3.14 and 3.15 -----------------------------------------

def _pip_env(tmp_path, **more) -> dict:
    """pip's cache and build directories in the test's tmp directory, not in ~/.cache or /tmp."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return dict(os.environ, PIP_CACHE_DIR=str(tmp_path / "pip-cache"), TMPDIR=str(tmp_path / "tmp"), **more)


def _venv_with_pip(build: str, where) -> str:
    """A venv of the host-run interpreter with pip from the tree's wheel (Debian's
    python3.X-venv), as a user without python3-pip makes one."""
    python = _need_host(build)
    wheels = sorted((FORKY / "usr" / "share" / "python-wheels").glob("pip-*.whl"))
    if not wheels:
        pytest.skip("no pip wheel in the forky root")
    subprocess.run([python, "-m", "venv", "--without-pip", str(where)], check=True, capture_output=True, timeout=120)
    venv_python = str(where / "bin" / "python")
    subprocess.run([venv_python, "%s/pip" % wheels[-1], "install", "-q", "--no-index", str(wheels[-1])],
                   check=True, capture_output=True, timeout=300, env=_pip_env(where.parent))
    return venv_python


@pytest.mark.parametrize("build", ["python3.14", "python3.15"])
def test_prepare_gives_objgraph_and_guppy_where_it_builds(processes, build, tmp_path):
    version = _version(build)
    abi = "%s-x86_64-linux-gnu" % version.replace(".", "")
    python = _venv_with_pip(build, tmp_path / "venv")
    cache = tmp_path / "cache"
    # The host's compiler finds Debian's <x86_64-linux-gnu/pythonX.Y/pyconfig.h> in the tree.
    env = _pip_env(tmp_path, GDB_MEMLEAK_CACHE=str(cache), CFLAGS="-idirafter %s/usr/include" % FORKY)
    proc = run_prepare(python, env)
    if proc.returncode != 0 and not pypi_reachable():
        pytest.skip("PyPI unreachable: %s" % proc.stderr.strip())
    assert proc.returncode == 0, proc.stderr
    tools = cache / "tools" / ("cpython-%s-%s" % (version, abi))
    marker = json.loads((tools / "gdb-memleak-tools.json").read_text())
    assert marker["abi"] == abi and "objgraph" in marker["packages"]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("gdb-memleak tools for CPython %s (%s) in %s: " % (marker["version"], abi, tools)), proc.stdout
    guppy = version == "3.14"  # guppy3 3.1.7: a cp314 wheel; for 3.15 its build fails
    if guppy:
        assert "guppy3" in marker["packages"] and len(lines) == 1, proc.stdout
    else:
        assert "guppy3" not in marker["packages"] and len(lines) == 2, proc.stdout
        assert re.match(r"^  guppy3 not installed for CPython 3\.15\.\d+ \(py-heap's census answers without it\): "
                        r"\S+\.[ch]:\d+:\d+: error: .*executor_list_head", lines[1]), lines[1]

    # The tools serve a target of that version (the host-run interpreter, not the venv).
    target = processes.target(_need_host(build), CONTAINER_HEAP, env={"GC_RARE": "1"})  # gc on: objgraph may be imported
    pid = target.pid
    run = run_gdb("py-heap --json", "py-heap --json --backend guppy", "py-cycles --json --graph %s" % (tmp_path / "g.png"),
                  pid=pid, extra_env={"GDB_MEMLEAK_CACHE": str(cache)})
    assert_no_traceback(run)
    docs = run.json_documents()
    assert docs[0]["backend"] == "census" and docs[0]["rows"][0]["kind"] == "bytearray"
    if guppy:
        assert docs[1]["backend"] == "guppy" and docs[1]["rows"][0]["kind"] == "bytearray", docs[1]["rows"][:2]
    else:
        assert "--backend guppy: guppy3 is not installed where the target can import it" in run.stderr
    assert docs[-1]["graph_note"] is None  # objgraph drew it
    _assert_alive(target, build)
