"""host/limits.py: the room under a target's cgroup memory limits, read from a fake /proc and /sys tree.

limits.py opens /proc/PID/cgroup, /proc/meminfo and the cgroup files by their
absolute paths; the `fake_root` fixture makes its open() read them from a tree
built in tmp_path instead (any other path is not there).  The parsing is the
real code's.
"""

from __future__ import annotations

import builtins
import os

import pytest

from gdb_memleak.host import limits

PID = 4242
MiB = 1 << 20


class FakeRoot:
    def __init__(self, root) -> None:
        self.root = root

    def write(self, path: str, text: str) -> None:
        full = self.root / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(text)

    def cgroup(self, text: str) -> None:
        self.write("/proc/%d/cgroup" % PID, text)

    def limit(self, directory: str, limit, usage, v1: bool = False) -> None:
        names = ("memory.limit_in_bytes", "memory.usage_in_bytes") if v1 else ("memory.max", "memory.current")
        if limit is not None:
            self.write(os.path.join(directory, names[0]), "%s\n" % limit)
        if usage is not None:
            self.write(os.path.join(directory, names[1]), "%s\n" % usage)

    def open(self, path, *args, **kwargs):
        return builtins.open(str(self.root) + os.path.normpath(path), *args, **kwargs)


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    root = FakeRoot(tmp_path)
    monkeypatch.setattr(limits, "open", root.open, raising=False)
    return root


def test_v2_memory_max_less_memory_current(fake_root):
    fake_root.cgroup("0::/system.slice/app.service\n")
    fake_root.limit("/sys/fs/cgroup/system.slice/app.service", 100 * MiB, 30 * MiB)
    assert limits.cgroup_room(PID) == 70 * MiB


def test_v2_the_tightest_ancestor_counts(fake_root):
    fake_root.cgroup("0::/kubepods/pod1/c1\n")
    fake_root.limit("/sys/fs/cgroup/kubepods/pod1/c1", "max", 40 * MiB)
    fake_root.limit("/sys/fs/cgroup/kubepods/pod1", 64 * MiB, 60 * MiB)
    fake_root.limit("/sys/fs/cgroup/kubepods", 1024 * MiB, 500 * MiB)
    assert limits.cgroup_room(PID) == 4 * MiB


def test_v2_max_everywhere_is_no_limit(fake_root):
    fake_root.cgroup("0::/user.slice\n")
    fake_root.limit("/sys/fs/cgroup/user.slice", "max", 10 * MiB)
    fake_root.limit("/sys/fs/cgroup", "max", 10 * MiB)
    assert limits.cgroup_room(PID) is None


def test_v2_under_the_unified_mount_of_a_hybrid_host(fake_root):
    fake_root.cgroup("0::/app\n")
    fake_root.limit("/sys/fs/cgroup/unified/app", 8 * MiB, 3 * MiB)
    assert limits.cgroup_room(PID) == 5 * MiB


def test_usage_over_the_limit_leaves_no_room(fake_root):
    fake_root.cgroup("0::/app\n")
    fake_root.limit("/sys/fs/cgroup/app", 8 * MiB, 9 * MiB)
    assert limits.cgroup_room(PID) == 0


def test_v1_limit_in_bytes_less_usage(fake_root):
    fake_root.cgroup("12:pids:/docker/abc\n4:memory:/docker/abc\n1:name=systemd:/docker/abc\n")
    fake_root.limit("/sys/fs/cgroup/memory/docker/abc", 256 * MiB, 100 * MiB, v1=True)
    # Another controller's hierarchy is never read for memory.
    fake_root.limit("/sys/fs/cgroup/pids/docker/abc", 1 * MiB, 0, v1=True)
    assert limits.cgroup_room(PID) == 156 * MiB


def test_v1_no_limit_is_written_as_a_huge_number(fake_root):
    fake_root.cgroup("4:memory,cpu:/docker/abc\n")
    fake_root.limit("/sys/fs/cgroup/memory/docker/abc", 9223372036854771712, 100 * MiB, v1=True)
    assert limits.cgroup_room(PID) is None


def test_v1_and_v2_lines_together_give_the_smaller_room(fake_root):
    fake_root.cgroup("4:memory:/a\n0::/b\n")
    fake_root.limit("/sys/fs/cgroup/memory/a", 50 * MiB, 10 * MiB, v1=True)
    fake_root.limit("/sys/fs/cgroup/b", 30 * MiB, 10 * MiB)
    assert limits.cgroup_room(PID) == 20 * MiB


@pytest.mark.parametrize("limit, usage", [(None, 10 * MiB), (100 * MiB, None), ("", 10 * MiB), ("garbage", 10 * MiB)])
def test_a_missing_or_unreadable_file_is_no_limit(fake_root, limit, usage):
    fake_root.cgroup("0::/app\n")
    fake_root.limit("/sys/fs/cgroup/app", limit, usage)
    assert limits.cgroup_room(PID) is None


def test_no_such_process(fake_root):
    assert limits.cgroup_room(PID) is None


def test_available_is_the_smaller_of_the_machine_and_the_cgroup(fake_root):
    fake_root.write("/proc/meminfo", "MemTotal:       16000000 kB\nMemFree:         1000 kB\nMemAvailable:    2048 kB\n")
    assert limits.machine_available() == 2 * MiB
    assert limits.available_to(PID) == 2 * MiB  # no cgroup file: the machine's
    fake_root.cgroup("0::/app\n")
    fake_root.limit("/sys/fs/cgroup/app", 3 * MiB, 2 * MiB)
    assert limits.available_to(PID) == 1 * MiB
    fake_root.limit("/sys/fs/cgroup/app", 300 * MiB, 2 * MiB)
    assert limits.available_to(PID) == 2 * MiB


def test_nothing_known_is_none(fake_root):
    assert limits.machine_available() is None
    assert limits.available_to(PID) is None


def test_this_machine_s_own_figures():
    """The real /proc: MemAvailable is there, and the test's own cgroup room is a number or no limit."""
    available = limits.machine_available()
    assert available is not None and available > 0
    room = limits.cgroup_room(os.getpid())
    assert room is None or room >= 0
    both = limits.available_to(os.getpid())  # MemAvailable moves meanwhile: no equality
    assert both is not None and both > 0 and (room is None or both <= room)


LIMITS = """Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max data size             %s            unlimited            bytes
Max stack size            %s              unlimited            bytes
Max address space         %s            unlimited            bytes
"""


def _process(fake_root, data="unlimited", stack="8388608", space="unlimited", vm_size=100 * MiB, vm_data=50 * MiB):
    fake_root.write("/proc/%d/limits" % PID, LIMITS % (data, stack, space))
    fake_root.write("/proc/%d/status" % PID, "VmSize:\t%d kB\nVmData:\t%d kB\n" % (vm_size >> 10, vm_data >> 10))


@pytest.fixture
def fake_status(fake_root, monkeypatch):
    from gdb_memleak.host import procfs
    monkeypatch.setattr(procfs, "read_small_file", lambda path: open(str(fake_root.root) + path).read())
    return fake_root


def test_no_address_space_limit_is_no_room_to_count(fake_status):
    _process(fake_status)
    assert limits.address_room(PID, own_thread=True) is None


def test_rlimit_as_counts_the_threads_arena_and_stack(fake_status):
    _process(fake_status, space=str(140 * MiB))
    room = limits.address_room(PID, own_thread=True)
    assert (room.limit, room.thread, room.room) == ("RLIMIT_AS", 136 * MiB, 0)  # 128 MiB mapped to align the arena, 8 stack
    assert limits.address_room(PID, own_thread=False).room == 40 * MiB


def test_rlimit_data_counts_the_stack_only_and_the_tighter_limit_wins(fake_status):
    _process(fake_status, data=str(70 * MiB), stack=str(2 * MiB), space=str(300 * MiB))
    room = limits.address_room(PID, own_thread=True)
    assert (room.limit, room.thread, room.room) == ("RLIMIT_DATA", 2 * MiB, 18 * MiB)
