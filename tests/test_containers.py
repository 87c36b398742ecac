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
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import (
    PYENV_311,
    REPO,
    TARGETS,
    Target,
    assert_no_traceback,
    run_gdb,
    run_gdb_memleak,
    script_line,
)

from gdb_memleak.host import images as procfs_images

FORKY = REPO / ".roots" / "forky"
FORKY_PYTHON = "/usr/bin/python3.14"  # as the target sees it, inside the root
SCRIPT = TARGETS / "container_heap.py"
PYENV_LIB = "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0"
DEBIAN_LIB = "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"
HOST_LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"

need_forky = pytest.mark.skipif(
    not (FORKY / FORKY_PYTHON.lstrip("/")).exists(), reason="no Debian forky root with python3.14 at %s (make setup builds it)" % FORKY
)
# The lines of the heartbeat loop: where py-memtop may find the main thread.
LOOP_LINES = {script_line(SCRIPT, text) for text in ("time.sleep(0.5)", "ticks += 1", 'print("tick')}


def _need(*paths: str) -> None:
    for path in paths:
        if not os.path.exists(path):
            pytest.skip("%s is not installed" % path)


def _children(pid: int) -> list[int]:
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _parent(pid: int) -> int:
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except OSError:
        return 0


class RootTarget(Target):
    """container_heap.py run by the root's python3.14; `python_pid` is the host pid to attach to."""

    def __init__(self, argv: list[str], namespaced: bool) -> None:
        self.python_pid = 0
        self.start(argv, cwd="/")
        # unshare --fork runs the interpreter as its child (pid 1 inside the new namespace).
        self.python_pid = _children(self.pid)[0] if namespaced else self.pid

    def stop(self) -> None:
        # pid 1 of a PID namespace ignores SIGTERM from outside; SIGKILL, and only if it is still ours.
        if self.python_pid and self.python_pid != self.pid and _parent(self.python_pid) == self.pid:
            os.kill(self.python_pid, signal.SIGKILL)
        super().stop()


@pytest.fixture
def start_in_root(script_in_root):
    started: list[RootTarget] = []

    def start(how: str) -> RootTarget:
        command = ["chroot", str(FORKY), FORKY_PYTHON, script_in_root]
        if how == "namespaces":
            # Own PID and mount namespaces, a /proc of its own in the root (mounted in the
            # private mount namespace only: gone with it, never seen here).
            command = ["unshare", "--pid", "--mount", "--fork", "--kill-child", "--mount-proc=%s/proc" % FORKY] + command
        elif how == "pivot_root":
            # As Docker runs it: the root becomes the mount namespace's own /, the old one is let go.
            old = os.path.join(os.path.dirname(script_in_root), "old")
            os.mkdir(str(FORKY) + old)
            shell = ("mount --bind {r} {r} && mount -t proc proc {r}/proc && cd {r} && pivot_root . .{old} "
                     "&& umount -l {old} && exec {python} {script}").format(r=FORKY, old=old, python=FORKY_PYTHON, script=script_in_root)
            command = ["unshare", "--pid", "--mount", "--fork", "--kill-child", "sh", "-c", shell]
        target = RootTarget(command, namespaced=how != "chroot")
        started.append(target)
        return target

    yield start
    for target in started:
        target.stop()


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


def _assert_alive(target: Target) -> None:
    ticks = target.wait_for_ticks(2)
    assert target.alive() and len(ticks) == 2, (target.proc.returncode, target.stderr[-10:])
    assert ticks[-1].endswith("python=3.14 held=20000"), ticks


HOW = ["chroot", "namespaces", "pivot_root"]


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
    assert where and int(where.group(1)) in LOOP_LINES, run.stdout
    assert _heap_kinds(run.stdout)[0] == "bytearray", run.stdout
    assert re.search(r"^\s*169\.0 KiB\s+list\s+__main__\.held\s", run.stdout, re.M), run.stdout
    assert re.search(r"^\s+50\s+100\s+.*Pair\.other -> Pair\.other -> Pair$", run.stdout, re.M), run.stdout
    assert re.search(r"^watched 1\.\d s: RSS ", run.stdout, re.M), run.stdout
    _assert_alive(target)


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
    assert main["frames"][0]["file"] == script_in_root and main["frames"][0]["line"] in LOOP_LINES, main
    assert any("Pair" in c["path"] for c in report["cycles"]["cycles"]), report["cycles"]
    # gdb was told the root before attaching: the plugin had nothing to switch.
    assert "the target runs in another root (/proc" not in proc.stderr
    _assert_alive(target)


def test_a_library_replaced_since_the_target_started_is_refused(start_target, tmp_path):
    """Same root, but gdb can only read the file now at the library's path: it refuses in one
    line, and the target is not touched (never resumed: its registers are as gdb found them)."""
    _need(PYENV_311, PYENV_LIB, DEBIAN_LIB)
    library = tmp_path / "libpython3.11.so.1.0"
    shutil.copy(PYENV_LIB, library)
    target = start_target(PYENV_311, TARGETS / "env_heartbeat.py", str(library))
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
    _need(PYENV_311)
    target = start_target(PYENV_311, TARGETS / "env_heartbeat.py")
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


@pytest.mark.skipif(shutil.which("readelf") is None, reason="no readelf (binutils)")
def test_build_id_is_what_readelf_reads():
    paths = [os.path.realpath(sys.executable), HOST_LIBC]
    if (FORKY / HOST_LIBC.lstrip("/")).exists():
        paths.append(str(FORKY / HOST_LIBC.lstrip("/")))
    for path in paths:
        assert procfs_images.gnu_build_id(path) == _readelf_build_id(path), path
    assert procfs_images.gnu_build_id(str(SCRIPT)) is None  # not ELF


def test_the_mapping_of_a_function_is_its_library():
    libc = ctypes.CDLL("libc.so.6")
    address = ctypes.cast(libc.malloc, ctypes.c_void_p).value
    mapping = procfs_images.mapping_at(procfs_images.read_maps(os.getpid()), address)
    assert mapping is not None and os.path.basename(mapping.path) == "libc.so.6"
    mapped = procfs_images.mapped_file(os.getpid(), mapping)
    assert procfs_images.file_identity(mapped.exact) == mapping.identity == procfs_images.file_identity(mapping.path)
    assert procfs_images.mismatch(HOST_LIBC, None, mapped) is None
    assert procfs_images.same_root(os.getpid()) and procfs_images.same_mount_namespace(os.getpid())


@need_forky
@pytest.mark.skipif(shutil.which("readelf") is None, reason="no readelf (binutils)")
def test_another_libc_is_a_mismatch():
    libc = ctypes.CDLL("libc.so.6")
    mapping = procfs_images.mapping_at(procfs_images.read_maps(os.getpid()), ctypes.cast(libc.malloc, ctypes.c_void_p).value)
    mapped = procfs_images.mapped_file(os.getpid(), mapping)
    forky_libc = str(FORKY / HOST_LIBC.lstrip("/"))
    why = procfs_images.mismatch(forky_libc, None, mapped)
    assert why == "build-id %s, the target's %s" % (_readelf_build_id(forky_libc), _readelf_build_id(HOST_LIBC))
