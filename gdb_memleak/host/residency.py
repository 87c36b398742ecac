"""Unmap again the program-text pages a command brought into the target's RSS.

A payload runs interpreter code the target may never have run (marshal, the
gc traversal of every type, sizeof): those pages of python3.x or libpython
become part of the target's RSS the first time.  They are clean copies of the
file, but RSS counts them: +0.5 MB on Debian's statically linked python3.11
(measured 2026-11-27, docs/safety.md).

So the injector notes which pages of the read-only file mappings are resident
before a command, and afterwards calls madvise(MADV_DONTNEED) in the target on
the ones that became resident meanwhile.  Only pages that are present and still
the file's own (pagemap's "file page" bit): a private page (a copy-on-write
copy, as a breakpoint or a relocation makes), resident or swapped out, is never
in a range, so nothing but residency can change; the next use of a dropped page
maps the same file page again.  The pages are read, and dropped, while the
target's other threads are held (scheduler-locking on): none can map, unmap or
write anything in between.
"""

from __future__ import annotations

import re
import struct
import time
from dataclasses import dataclass

PAGE = 4096
MADV_DONTNEED = 4
_PRESENT = 1 << 63
_FILE_PAGE = 1 << 61
_MAPS_LINE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (r-xp|r--p) [0-9a-f]+ \S+ (\d+)\s+(/\S.*)$")


@dataclass(frozen=True)
class TextPages:
    """The resident pages (by page number) of the target's read-only private file mappings."""

    ranges: tuple[tuple[int, int], ...]  # page-number ranges [start, end)
    resident: frozenset[int]


def _text_ranges(pid: int) -> list[tuple[int, int]]:
    """Page ranges of the read-only private mappings of loaded programs and libraries:
    files with an executable mapping (so never a data file the program mapped)."""
    mappings = []
    with open("/proc/%d/maps" % pid) as maps:
        for line in maps:
            match = _MAPS_LINE.match(line.rstrip("\n"))
            if match is not None and match.group(4) != "0":  # inode 0: not a file
                mappings.append(match)
    code_files = {m.group(5) for m in mappings if m.group(3) == "r-xp"}
    return [(int(m.group(1), 16) // PAGE, int(m.group(2), 16) // PAGE) for m in mappings if m.group(5) in code_files]


def _resident(pid: int, ranges: list[tuple[int, int]]) -> tuple[frozenset[int], frozenset[int]]:
    """(pages that are the file's own, all present pages) in `ranges`."""
    file_pages, present = set(), set()
    with open("/proc/%d/pagemap" % pid, "rb") as pagemap:
        for start, end in ranges:
            pagemap.seek(start * 8)
            data = pagemap.read((end - start) * 8)
            for i, (entry,) in enumerate(struct.iter_unpack("<Q", data)):
                if entry & _PRESENT:
                    present.add(start + i)
                    if entry & _FILE_PAGE:
                        file_pages.add(start + i)
    return frozenset(file_pages), frozenset(present)


def snapshot(pid: int) -> TextPages | None:
    """The target's resident text pages now; None when /proc cannot tell (then nothing is dropped)."""
    try:
        ranges = _text_ranges(pid)
        return TextPages(tuple(ranges), _resident(pid, ranges)[1])
    except (OSError, ValueError):
        return None


def pages_to_drop(pid: int, before: TextPages, keep: set[int]) -> list[tuple[int, int]]:
    """(address, length) runs of consecutive file pages resident now and not before, none in `keep`.

    A run holds nothing else: not a page that was resident before, not a private
    copy, and not a page that is absent now, which may be a private copy in swap
    (MADV_DONTNEED would discard it and map the file's bytes instead)."""
    try:
        ranges = [r for r in _text_ranges(pid) if r in before.ranges]
        file_pages, _ = _resident(pid, ranges)
    except (OSError, ValueError):
        return []
    runs: list[tuple[int, int]] = []
    for start, end in ranges:
        run_start = None
        for page in range(start, end + 1):
            new = page < end and page in file_pages and page not in before.resident and page not in keep
            if new and run_start is None:
                run_start = page
            elif not new and run_start is not None:
                runs.append((run_start * PAGE, (page - run_start) * PAGE))
                run_start = None
    return runs


# pagemap's top byte of each 8-byte entry (little-endian): bit 7 is "present"
_PRESENT_BYTE = bytes(1 if b & 0x80 else 0 for b in range(256))


class PresentAhead:
    """Which pages of the process's anonymous mappings were present, read before gdb attached
    (py-memtop first in `gdb -p`): the kernel walks the page tables to answer pagemap, 8 ms of
    the stop at 1M records (2026-12-03), and that is done while the target still runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.when = time.monotonic()
        self.mappings: list[tuple[int, int, bytes]] = []  # (first page, end page, one byte 0/1 per page)
        budget = AHEAD_PAGES
        with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/pagemap" % pid, "rb", buffering=0) as pagemap:
            for line in maps:
                fields = line.split()
                # Anonymous and writable, where the allocators' arenas are: not the reservations
                # (---p) some programs map by the terabyte, and within a budget; what is not
                # read here is read live.
                if fields[1] != "rw-p" or not (len(fields) == 5 or (len(fields) == 6 and fields[5] == "[heap]")):
                    continue
                start, end = (int(x, 16) // PAGE for x in fields[0].split("-"))
                if end - start > budget:
                    continue
                budget -= end - start
                pagemap.seek(start * 8)
                data = pagemap.read((end - start) * 8) or b""
                self.mappings.append((start, end, data[7::8].translate(_PRESENT_BYTE)))

    def present(self, start: int, end: int) -> int | None:
        """Present pages in [start, end) (page numbers), if one mapping read ahead holds it all."""
        for first, last, flags in self.mappings:
            if first <= start and end <= last:
                return flags[start - first:end - first].count(1)
        return None


_ahead: PresentAhead | None = None
AHEAD_FRESH = 5.0  # seconds: the first command of `gdb -p` comes well within it
AHEAD_PAGES = 1 << 20  # 4 GiB of mappings: an 8 MiB read at most


def read_ahead(pid: int) -> None:
    global _ahead
    try:
        _ahead = PresentAhead(pid)
    except (OSError, ValueError, MemoryError):
        _ahead = None


def forget_ahead() -> None:
    global _ahead
    _ahead = None


def take_ahead(pid: int) -> PresentAhead | None:
    """What read_ahead() read of `pid`, once, if fresh."""
    global _ahead
    ahead, _ahead = _ahead, None
    if ahead is None or ahead.pid != pid or time.monotonic() - ahead.when > AHEAD_FRESH:
        return None
    return ahead


def resident_bytes(pid: int, ranges: list[tuple[int, int]], ahead: PresentAhead | None = None) -> int | None:
    """Bytes of the pages present in RAM in the address ranges [(start, end)] (ends exclusive,
    overlaps counted once), from /proc/PID/pagemap (or `ahead`, where it holds a range); None
    when it cannot be read. Counted with bytes methods, not a Python loop: a 1 GB heap is
    262,144 entries."""
    pages: list[tuple[int, int]] = []
    for start, end in sorted((s // PAGE, -(-e // PAGE)) for s, e in ranges if e > s):
        if pages and start <= pages[-1][1]:
            pages[-1] = (pages[-1][0], max(pages[-1][1], end))
        else:
            pages.append((start, end))
    present = 0
    try:
        with open("/proc/%d/pagemap" % pid, "rb", buffering=0) as pagemap:
            for start, end in pages:
                known = ahead.present(start, end) if ahead is not None else None
                if known is not None:
                    present += known
                    continue
                pagemap.seek(start * 8)
                data = pagemap.read((end - start) * 8) or b""
                present += data[7::8].translate(_PRESENT_BYTE).count(1)
    except (OSError, ValueError, OverflowError):
        return None
    return present * PAGE
