"""host/residency.py on this test's own process: its real /proc/PID/maps and pagemap."""

from __future__ import annotations

import ctypes
import mmap
import os
import subprocess

from gdb_memleak.host import residency

PAGE = residency.PAGE


def _page_of_malloc() -> int:
    libc = ctypes.CDLL("libc.so.6")
    return ctypes.cast(libc.malloc, ctypes.c_void_p).value // PAGE


def _in_ranges(page: int, ranges) -> bool:
    return any(start <= page < end for start, end in ranges)


def test_the_text_ranges_hold_the_code_that_runs_and_no_data_file(tmp_path):
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * (4 * PAGE))
    with open(data, "rb") as f, mmap.mmap(f.fileno(), 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ) as mapped:
        assert mapped[:1] == b"x"
        maps = open("/proc/self/maps").read()
        assert str(data) in maps and " r--p " in maps  # mapped read-only and private, like a library's rodata
        ranges = residency._text_ranges(os.getpid())
        data_start = next(int(line.split("-")[0], 16) for line in maps.splitlines() if line.endswith(str(data)))
        assert not _in_ranges(data_start // PAGE, ranges)  # a file without an executable mapping is no program
    assert ranges and all(start < end for start, end in ranges)
    assert _in_ranges(_page_of_malloc(), ranges)


def test_a_snapshot_sees_the_resident_code_and_nothing_new_is_dropped():
    pid = os.getpid()
    before = residency.snapshot(pid)
    assert before is not None
    assert _page_of_malloc() in before.resident
    assert before.resident <= {p for start, end in before.ranges for p in range(start, end)}
    # Pages resident before are never dropped, and nothing in `keep` is.
    runs = residency.pages_to_drop(pid, before, set())
    dropped = {address // PAGE + i for address, length in runs for i in range(length // PAGE)}
    assert not dropped & before.resident
    everything = {p for start, end in before.ranges for p in range(start, end)}
    assert residency.pages_to_drop(pid, before, everything) == []


def test_runs_are_whole_pages_inside_one_mapping_each():
    pid = os.getpid()
    now = residency.snapshot(pid)
    nothing_before = residency.TextPages(now.ranges, frozenset())
    runs = residency.pages_to_drop(pid, nothing_before, set())
    assert runs, "no resident file pages at all"
    for address, length in runs:
        assert address % PAGE == 0 and length % PAGE == 0 and length > 0
        first, last = address // PAGE, (address + length) // PAGE - 1
        assert any(start <= first and last < end for start, end in now.ranges), (hex(address), length)
    dropped = {address // PAGE + i for address, length in runs for i in range(length // PAGE)}
    assert _page_of_malloc() in dropped  # libc's text is the file's own page, resident
    # Consecutive pages of one mapping make one run: runs touch only where a mapping ends.
    touching = {address + length for address, length in runs} & {address for address, _ in runs}
    assert all(any(page == start * PAGE for start, _ in now.ranges) for page in touching), sorted(touching)


def test_a_process_that_is_gone_gives_nothing():
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert residency.snapshot(gone.pid) is None
    assert residency.pages_to_drop(gone.pid, residency.TextPages(((1, 2),), frozenset()), set()) == []
