"""Issue 12, item 1: targets that run another distribution's libc, as containers do.

The target runs Debian forky's python3.14 (libc 2.43) in a root made by `make setup`
(.roots/forky), chrooted, or chrooted in its own PID and mount namespaces as Docker
runs it.  The host's gdb 13 (bookworm, libc 2.36) attaches as a user would, with no
sysroot setting.  Left alone, gdb reads the host's libc for the target's, and the
first call into the target kills it (SIGSEGV, seen 2026-12-01).  The plugin must
switch gdb to the target's own files before anything touches the target, or refuse
in one line; either way the target lives on.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from support.cli import run_gdb_memleak
from support.gdb import assert_no_inferior_call, assert_no_traceback, run_gdb
from support.heartbeat import assert_beating
from support.interpreters import PYTHON_311, PYTHON_311_MISSING, PYTHON_NODEBUG, PYTHON_NODEBUG_MISSING, libpython, param
from support.paths import BULLSEYE, DEBIAN_LIB, FORKY, HOST_LIBC, need
from support.targets import (
    CONTAINER_HEAP,
    CONTAINER_LOOP_LINES,
    ENV_HEARTBEAT,
    FORKY_PYTHON,
    FRAGMENTED_HEAP,
    NAMED_THREADS,
    ROOT_HOWS,
    RootTarget,
    script_line,
)

from gdb_memleak.host import images as procfs_images

PYENV_LIB = libpython(PYTHON_311)

need_forky = pytest.mark.skipif(
    not (FORKY / FORKY_PYTHON.lstrip("/")).exists(), reason="no Debian forky root with python3.14 at %s (make setup builds it)" % FORKY
)


@pytest.fixture
def start_in_root(processes, script_in_root):
    """start(how): container_heap.py run by the root's python3.14, `how` one of HOW."""
    return lambda how: processes.in_root(FORKY_PYTHON, script_in_root, how)


def _heap_kinds(stdout: str) -> list[str]:
    """The Kind column of py-heap's text table, in order."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Index  Count"))
    kinds = []
    for line in lines[start + 1:]:
        fields = line.split()
        if len(fields) < 8 or not fields[0].isdigit():
            break
        kinds.append(" ".join(fields[7:]))
    return kinds


HOW = list(ROOT_HOWS)


@need_forky
@pytest.mark.parametrize("how", HOW)
def test_commands_read_the_target_s_own_files(start_in_root, script_in_root, how):
    target = start_in_root(how)
    pid = target.python_pid
    assert not procfs_images.same_root(pid)
    if how != "chroot":
        assert os.readlink("/proc/%d/ns/pid" % pid) != os.readlink("/proc/self/ns/pid")
    run = run_gdb("py-memtop", "py-heap --largest 2", "py-cycles", "py-memtop --watch 1", pid=pid)
    assert_no_traceback(run)
    if how == "pivot_root":
        # The root is the mount namespace's own /: gdb reads the target's files through
        # that namespace (target:/...) by itself, and they pass the check by build-id.
        assert "is not at the expected address" not in run.stderr and "another root" not in run.stderr, run.stderr
    else:
        # The hazard is there: gdb read the host's libc (and ld.so) for the target's ...
        assert re.search(r'section for "(target:)?/usr/lib/x86_64-linux-gnu/libc\.so\.6" is not at the expected address', run.stderr)
        # ... and the first command switched it to the target's files, once, before any call.
        assert run.stderr.count("the target runs in another root (/proc/%d/root)" % pid) == 1, run.stderr
        assert "py-memtop: the target runs in another root" in run.stderr
    # (the --watch window ends with gdb's own SIGINT, which it does not pass on)
    assert not re.search(r"Program received signal SIG(?!INT)|Program terminated", run.stdout + run.stderr)
    where = re.search(re.escape(script_in_root) + r":(\d+) in <module>", run.stdout)
    assert where and int(where.group(1)) in CONTAINER_LOOP_LINES, run.stdout
    assert _heap_kinds(run.stdout)[0] == "bytearray", run.stdout
    assert re.search(r"^\s*2\d\.\d MiB\s+169\.0 KiB\s+list\s+__main__\.held\s+20,000 bytearray\s", run.stdout, re.M), run.stdout
    assert re.search(r"^\s+50\s+100\s+.*Pair\.other -> Pair\.other -> Pair$", run.stdout, re.M), run.stdout
    assert re.search(r"^watched 1\.\d s: RSS ", run.stdout, re.M), run.stdout
    assert_beating(target, "python=3.14 held=20000")


@pytest.mark.parametrize("python", [param(PYTHON_NODEBUG, PYTHON_NODEBUG_MISSING, "debian-3.11-nodebug"),
                                    param(PYTHON_311, PYTHON_311_MISSING, "pyenv-3.11")])
def test_memtop_in_a_pid_namespace_gives_every_thread_its_frames(processes, python):
    """Issue 17 #12: a target in a PID namespace of its own got "(no Python frames)" for every thread
    from py-memtop (Debian's 3.11: the payload's answer, by the namespace's thread ids).  The host's
    interpreter, in its own PID and mount namespaces: each of its four threads at its own line."""
    argv = ["unshare", "--pid", "--mount", "--fork", "--kill-child", "--mount-proc", python, str(NAMED_THREADS)]
    target = processes.add(RootTarget(argv, namespaced=True))
    pid = target.python_pid
    assert os.readlink("/proc/%d/ns/pid" % pid) != os.readlink("/proc/self/ns/pid")
    run = run_gdb("py-memtop --json", pid=pid)
    assert_no_traceback(run)
    threads = run.document()["threads"]
    assert len(threads) == 4, threads
    places = sorted((t["frames"][0]["line"] if t["frames"] else None) for t in threads)
    work, main = script_line(NAMED_THREADS, "time.sleep(pause)"), script_line(NAMED_THREADS, "time.sleep(0.5)")
    assert places == [work, work, work, main], (places, run.stderr)
    assert all(t["frames"][0]["file"] == str(NAMED_THREADS) for t in threads), threads
    assert target.wait_for_ticks(1)


need_bullseye = pytest.mark.skipif(
    not (BULLSEYE / "usr" / "bin" / "python3.9").exists(), reason="no Debian bullseye root at %s (make setup builds it)" % BULLSEYE
)


@need_bullseye
@pytest.mark.parametrize("how", ["chroot", "namespaces"])
def test_an_older_glibc_s_raise_is_a_pending_call_safe_point(processes, script_in_bullseye, how):
    """Debian 11's python3.9 on glibc 2.31, its main thread computing and no thread waiting: the
    pending call's raise() blocks signals around its tgkill there (glibc before 2.34), so the main
    thread stops when raise() puts the mask back, not at the tgkill.  Before (2026-12-03) such a
    stop was never taken for the safe point: "no safe point within 5 s" every time.  Three commands
    in a row, and the target computes on.  No breakpoint is allowed (the default): its eval loop is
    read from its file, which in its own namespaces gdb names by a path under no root of ours (the
    mapping's own file is read since 2026-12-07; before, the breakpoint's slices found the thread)."""
    target = processes.in_root("/usr/bin/python3.9", script_in_bullseye, how, root=BULLSEYE, args=("busy",))
    # py-memtop first and last: bullseye's python3.9 has no debug info, so it runs its payload at the
    # safe point itself (py-heap and py-cycles move to a thread of their own from there).
    run = run_gdb("py-memtop --timeout 10", "py-heap --top 3 --timeout 10", "py-cycles --timeout 10",
                  "py-heap --top 3 --timeout 10", "py-memtop --timeout 10", pid=target.python_pid, timeout=180)
    assert_no_traceback(run)
    assert run.stdout.count("at a pending-call safe point") == 2, run.stdout + run.stderr  # (py-heap says where it ran)
    busy = {script_line(CONTAINER_HEAP, text) for text in ("while time.monotonic() < until", "str(sum(range(100)))")}
    places = re.findall(re.escape(script_in_bullseye) + r":(\d+) in <module>", run.stdout)
    assert len(places) == 2 and {int(line) for line in places} <= busy, run.stdout + run.stderr
    assert _heap_kinds(run.stdout)[0] == "bytearray", run.stdout
    # (3.9 keeps each Pair's __dict__ apart: 4 objects to a cycle)
    assert re.search(r"^\s+50\s+200\s+.*Pair\.other -> Pair\.other -> Pair$", run.stdout, re.M), run.stdout
    assert not re.search(r"Program received signal|Program terminated", run.stdout + run.stderr)
    assert_beating(target)


@need_forky
def test_stacks_from_the_trees_debug_info_make_no_call_into_the_target(start_in_root, script_in_root):
    """gdb told the root before attaching (as `report` does) reads python3.14's debug info and runs
    its gdb helper; that helper reads a thread's state with pthread_getspecific(), a call into the
    target, where thread-local variables are unreadable (no libthread_db for this libc).  Seen
    2026-12-01: 6.8 s per thread, the target stopped; py-memtop now walks the runtime's lists."""
    target = start_in_root("chroot")
    pid = target.python_pid
    root = ("-iex", "set sysroot /proc/%d/root" % pid, "-iex", "file /proc/%d/exe" % pid)
    run = run_gdb("py-memtop", pid=pid, before=root)  # (run_gdb also watches for calls)
    assert_no_traceback(run)
    assert_no_inferior_call(run)
    assert "from libpython" in run.stdout, run.stdout  # the helper read them, no payload
    where = re.search(re.escape(script_in_root) + r":(\d+) in <module>", run.stdout)
    assert where and int(where.group(1)) in CONTAINER_LOOP_LINES, run.stdout
    assert_beating(target, "python=3.14 held=20000")


@need_forky
@pytest.mark.parametrize("how", HOW)
def test_report_attaches_to_a_target_in_another_root(start_in_root, script_in_root, how, tmp_path):
    target = start_in_root(how)
    out = tmp_path / "report"
    proc = run_gdb_memleak("report", str(target.python_pid), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "runs in another root: gdb reads its files from /proc/%d/root" % target.python_pid in proc.stderr
    assert "Program received signal" not in proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["heap"]["rows"][0]["kind"] == "bytearray"
    assert any(o["path"] == "__main__.held" for o in report["heap"]["largest"]), report["heap"]["largest"]
    main = report["memtop"]["threads"][0]
    assert main["frames"][0]["file"] == script_in_root and main["frames"][0]["line"] in CONTAINER_LOOP_LINES, main
    assert any("Pair" in c["path"] for c in report["cycles"]["cycles"]), report["cycles"]
    # gdb was told the root before attaching: the plugin had nothing to switch.
    assert "the target runs in another root (/proc" not in proc.stderr
    assert_beating(target, "python=3.14 held=20000")


@need_forky
def test_memtop_reads_malloc_of_the_root_s_libc(processes):
    """Issue 14 in a container: forky's glibc 2.43 has no fastbins, so its arenas are laid out
    otherwise than the host's 2.36; py-memtop still finds them and agrees with the target's own
    mallinfo2()."""
    made = tempfile.mkdtemp(prefix="gdb-memleak-test-", dir=str(FORKY / "tmp"))
    try:
        shutil.copy(FRAGMENTED_HEAP, made)
        target = processes.in_root(FORKY_PYTHON, "/%s/%s" % (os.path.relpath(made, FORKY), FRAGMENTED_HEAP.name), "chroot")
        truth = json.loads(target.wait_for_ticks(1)[-1][len("tick "):])["mallinfo2"]
        run = run_gdb("py-memtop --json", pid=target.python_pid)
        assert_no_traceback(run)
        doc = run.document()
        malloc = doc["accounting"]["malloc"]
        assert malloc["layout"] == "2.43 and later" and malloc["complete"] and malloc["arenas"] == 2, malloc
        # gdb 13: _ctypes's debug info has CPython's types, the interpreter has none; the helper
        # recognized no frame and said "(no Python frames)" for both threads, and now gives way to
        # the fallback. (gdb 18 reads the root's debug info and the helper places them itself.)
        main = next(t for t in doc["threads"] if t["tid"] == target.python_pid)
        assert main["frames"] and main["frames"][0]["file"].endswith(FRAGMENTED_HEAP.name), doc["threads"]
        for ours, theirs in (("arena_bytes", "arena"), ("in_use", "uordblks"), ("free", "fordblks")):
            assert abs(malloc[ours] - truth[theirs]) <= 256 * 1024, (malloc, truth)
        assert_beating(target)
    finally:
        shutil.rmtree(made)


def test_a_library_replaced_since_the_target_started_is_refused(start_target, tmp_path):
    """Same root, but gdb can only read the file now at the library's path: it refuses in one
    line, and the target is not touched (never resumed: its registers are as gdb found them)."""
    need(PYTHON_311, PYENV_LIB, DEBIAN_LIB)
    library = tmp_path / "libpython3.11.so.1.0"
    shutil.copy(PYENV_LIB, library)
    target = start_target(PYTHON_311, ENV_HEARTBEAT, str(library))
    shutil.copy(DEBIAN_LIB, tmp_path / "new.so")
    os.rename(tmp_path / "new.so", library)  # as a package upgrade replaces it
    run = run_gdb("p/x $pc", "py-heap", "py-cycles", "p/x $pc", pid=target.pid)
    assert_no_traceback(run)
    refusals = [line for line in run.stderr.splitlines() if "nothing was run in the target" in line]
    assert [line.split(":")[0] for line in refusals] == ["py-heap", "py-cycles"], run.stderr
    assert "gdb read %s for the target, which runs %s (deleted)" % (library, library) in refusals[0]
    assert refusals[0].endswith("restart it to inspect it")
    pcs = re.findall(r"^\$\d+ = (0x[0-9a-f]+)$", run.stdout, re.M)
    assert len(pcs) == 2 and pcs[0] == pcs[1], run.stdout
    assert "Partition of a set" not in run.stdout
    assert target.wait_for_ticks(2) and target.alive()


def test_the_check_is_cheap_on_a_host_target(start_target):
    """The normal case (same root, same files): well under 50 ms, and free once proven."""
    need(PYTHON_311)
    target = start_target(PYTHON_311, ENV_HEARTBEAT)
    timing = (
        "python\n"
        "import time\n"
        "from gdb_memleak.gdbside import images\n"
        "times = []\n"
        "for _ in range(10):\n"
        "    images._proven.clear()\n"
        "    t = time.perf_counter(); images.require_matched_images(); times.append(time.perf_counter() - t)\n"
        "t = time.perf_counter(); images.require_matched_images(); cached = time.perf_counter() - t\n"
        "print('check-ms %.3f %.3f' % (sorted(times)[5] * 1e3, cached * 1e3))\n"
        "end\n"
    )
    script = Path(tempfile.mkstemp(suffix=".gdb", dir=str(Path(tempfile.gettempdir())))[1])
    try:
        script.write_text(timing)
        run = run_gdb("source %s" % script, pid=target.pid)
    finally:
        script.unlink()
    assert_no_traceback(run)
    median, cached = (float(x) for x in re.search(r"check-ms (\S+) (\S+)", run.stdout).groups())
    assert median < 50 and cached < 1, run.stdout
    assert target.wait_for_ticks(1)


# --- the /proc and ELF helpers on their own (no gdb) ---------------------------------------------


def _readelf_build_id(path: str) -> str:
    text = subprocess.run(["readelf", "-n", path], capture_output=True, text=True, check=True).stdout
    return re.search(r"Build ID: ([0-9a-f]+)", text).group(1)


@pytest.mark.unit
@pytest.mark.skipif(shutil.which("readelf") is None, reason="no readelf (binutils)")
def test_build_id_is_what_readelf_reads():
    paths = [os.path.realpath(sys.executable), HOST_LIBC]
    if (FORKY / HOST_LIBC.lstrip("/")).exists():
        paths.append(str(FORKY / HOST_LIBC.lstrip("/")))
    for path in paths:
        assert procfs_images.gnu_build_id(path) == _readelf_build_id(path), path
    assert procfs_images.gnu_build_id(str(CONTAINER_HEAP)) is None  # not ELF


@pytest.mark.unit
def test_the_mapping_of_a_function_is_its_library():
    libc = ctypes.CDLL("libc.so.6")
    address = ctypes.cast(libc.malloc, ctypes.c_void_p).value
    mapping = procfs_images.mapping_at(procfs_images.read_maps(os.getpid()), address)
    assert mapping is not None and os.path.basename(mapping.path) == "libc.so.6"
    mapped = procfs_images.mapped_file(os.getpid(), mapping)
    assert procfs_images.file_identity(mapped.exact) == mapping.identity == procfs_images.file_identity(mapping.path)
    assert procfs_images.mismatch(HOST_LIBC, None, mapped) is None
    assert procfs_images.same_root(os.getpid()) and procfs_images.same_mount_namespace(os.getpid())


@pytest.mark.unit
@need_forky
@pytest.mark.skipif(shutil.which("readelf") is None, reason="no readelf (binutils)")
def test_another_libc_is_a_mismatch():
    libc = ctypes.CDLL("libc.so.6")
    mapping = procfs_images.mapping_at(procfs_images.read_maps(os.getpid()), ctypes.cast(libc.malloc, ctypes.c_void_p).value)
    mapped = procfs_images.mapped_file(os.getpid(), mapping)
    forky_libc = str(FORKY / HOST_LIBC.lstrip("/"))
    why = procfs_images.mismatch(forky_libc, None, mapped)
    assert why == "build-id %s, the target's %s" % (_readelf_build_id(forky_libc), _readelf_build_id(HOST_LIBC))
