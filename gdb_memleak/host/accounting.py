"""Where a process's resident memory is, by kind of mapping (issue 14): what /proc says, nothing more.

The kernel splits the RSS three ways (/proc/PID/status: RssFile + RssShmem + RssAnon =
VmRSS). The anonymous part is split again from /proc/PID/smaps: the main heap (`[heap]`,
grown with brk: glibc's main malloc arena), the threads' stacks (the mappings that hold
a thread's stack pointer, from /proc/PID/task/TID/syscall, which a stopped thread fills
in), and every other anonymous mapping: pymalloc's arenas, glibc's other arenas and its
blocks of 128 KiB and more (mmap), and native libraries' own memory. The largest of those
are named by address, since one big mapping is the mark of a native leak.

Pure: reads files only, imports nothing of gdb.

smaps is the part that grows with the heap (the kernel walks every page table to write it:
14 ms of py-memtop's stop at 1M records, 2026-12-03), so when py-memtop is the first command
of `gdb -p PID`, it is read before gdb attaches, while the target still runs (read_ahead).
"""

from __future__ import annotations

import os
import re
import time
from typing import Any, Optional

from . import procfs
from .procfs import proc_status, read_small_file

# The other anonymous mappings listed by size in the document.
LARGEST_SHOWN = 3
# How long smaps read ahead stands for the process's: the first command of `gdb -p` comes
# well within it; a later one reads smaps again.
AHEAD_FRESH = 5.0
_ahead: Optional[tuple[int, float, list[tuple[int, int, str, int]]]] = None  # pid, when, smaps_anonymous
_top_ahead: Optional[tuple[int, float, int, list[dict[str, Any]]]] = None  # pid, when, limit, rows

_MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$")


def smaps_anonymous(text: str) -> list[tuple[int, int, str, int]]:
    """[(start, end, name, anonymous resident bytes)] of each mapping in a smaps text."""
    out: list[tuple[int, int, str, int]] = []
    current: Optional[list] = None
    for line in text.splitlines():
        mapping = _MAPPING.match(line)
        if mapping:
            current = [int(mapping.group(1), 16), int(mapping.group(2), 16), mapping.group(3).strip(), 0]
            out.append(current)  # type: ignore[arg-type]
        elif current is not None and line.startswith("Anonymous:"):
            current[3] = int(line.split()[1]) * 1024
    return [tuple(m) for m in out]  # type: ignore[misc]


def stack_pointers(pid: int) -> list[int]:
    """Each thread's stack pointer, from /proc/PID/task/TID/syscall ("NR args... SP PC", or
    "-1 SP PC" outside a system call; "running" for a thread that runs: none then)."""
    sps = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return []
    for tid in tids:
        fields = (read_small_file("/proc/%d/task/%s/syscall" % (pid, tid)) or "").split()
        if len(fields) >= 3 and fields[-2].startswith("0x"):
            sps.append(int(fields[-2], 16))
    return sps


def memory_accounting(pid: int) -> Optional[dict[str, Any]]:
    """The RSS by kind, in bytes that add up to `rss`; None when /proc does not say."""
    status = proc_status(pid)
    if not all(k in status for k in ("VmRSS", "RssAnon", "RssFile", "RssShmem")):
        return None
    mappings = _take_ahead(pid)
    ahead = mappings is not None
    if mappings is None:
        smaps = read_small_file("/proc/%d/smaps" % pid)
        if smaps is None:
            return None
        mappings = smaps_anonymous(smaps)
    return dict(account(status, mappings, stack_pointers(pid)), read_before_attach=ahead)


def read_ahead(pid: int, top: int = 0) -> None:
    """Read and parse `pid`'s smaps now, for the first memory_accounting() of it (once); with `top`,
    the machine's `top` largest processes too, for the first top_processes() (74 /proc/PID/status
    files here: 5-6 ms of py-memtop's stop, 2026-12-03)."""
    global _ahead, _top_ahead
    smaps = read_small_file("/proc/%d/smaps" % pid)
    _ahead = (pid, time.monotonic(), smaps_anonymous(smaps)) if smaps is not None else None
    _top_ahead = (pid, time.monotonic(), top, procfs.top_processes(top, include=pid)) if top else None


def forget_ahead() -> None:
    global _ahead, _top_ahead
    _ahead = _top_ahead = None


def top_processes(pid: int, limit: int) -> list[dict[str, Any]]:
    """procfs.top_processes(limit, include=pid): as read ahead, when that is fresh (once)."""
    global _top_ahead
    ahead, _top_ahead = _top_ahead, None
    if ahead is not None and ahead[0] == pid and ahead[2] == limit and time.monotonic() - ahead[1] <= AHEAD_FRESH:
        return ahead[3]
    return procfs.top_processes(limit, include=pid)


def _take_ahead(pid: int) -> Optional[list[tuple[int, int, str, int]]]:
    global _ahead
    ahead, _ahead = _ahead, None
    if ahead is None or ahead[0] != pid or time.monotonic() - ahead[1] > AHEAD_FRESH:
        return None
    return ahead[2]


def account(status: dict[str, int], mappings: list[tuple[int, int, str, int]], sps: list[int]) -> dict[str, Any]:
    """The document's `accounting` from the status figures, the mappings' anonymous bytes and
    the threads' stack pointers."""
    heap = sum(anon for _, _, name, anon in mappings if name == "[heap]")
    stacks = [m for m in mappings if any(m[0] <= sp < m[1] for sp in sps)]
    stack_bytes = sum(m[3] for m in stacks)
    others = sorted((m for m in mappings if m[2] != "[heap]" and m not in stacks and m[3] and not _is_file(m[2])),
                    key=lambda m: -m[3])
    anonymous = status["RssAnon"]
    # smaps and the status counters are read a moment apart: the rest absorbs the difference
    heap = min(heap, anonymous)
    stack_bytes = min(stack_bytes, anonymous - heap)
    return {
        "rss": status["VmRSS"],
        "file_backed": status["RssFile"],
        "shared_memory": status["RssShmem"],
        "main_heap": heap,
        "thread_stacks": stack_bytes,
        "other_anonymous": anonymous - heap - stack_bytes,
        "threads_with_stacks": len(sps),
        "largest_anonymous": [{"start": start, "size": end - start, "resident": anon}
                              for start, end, _, anon in others[:LARGEST_SHOWN]],
    }


def _is_file(name: str) -> bool:
    """A mapping of a file (its private pages written since count as anonymous, but are the file's)."""
    return name.startswith("/")
