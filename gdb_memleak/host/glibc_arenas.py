"""glibc malloc's arenas, read from the target's memory: what mallinfo2() would say, with no call (issue 14).

Calling mallinfo2() in the target would need gdb's `call` (it kills targets on AMX
machines under gdb 13) or ctypes in a payload (which would load _ctypes into the target
for good). The figures are all in memory instead, in each arena's `struct malloc_state`:
`system_mem` (the bytes the arena has from the kernel), `top` (the chunk at its end) and
the free lists (fastbins and the 127 doubly linked bins). So:

- main_arena is found without symbols, in libc's writable data, by the mark an arena's
  empty bins leave: a bin is a pair of pointers, and an empty one points to itself
  (both words equal the pair's address minus 16). Of the candidate bases those pairs
  give, the one whose `next` chain of arenas comes back to it is main_arena.
- Each arena's free bytes are its top chunk plus every chunk on its free lists, as
  mallinfo2() counts them (`fordblks`); what is left of `system_mem` is in use
  (`uordblks`). Chunks in a thread's tcache count as in use, as in mallinfo2().
- Fastbin links are mangled since glibc 2.32 (safe-linking: fd = (&fd >> 12) ^ next);
  each link is read both ways and the one that is a chunk is kept.

Blocks of 128 KiB and more that malloc mmaps one by one are not in any arena: they are
anonymous mappings of their own (host/accounting.py lists the largest).

The walk runs while the target is stopped. Free chunks lie all over the heap, so each is
read on its own, 16 bytes, not cached: caching 64 KiB blocks (host/memimage.py) made gdb
page-fault on as much memory as the heap it read. 8,092 free chunks in 43 MB of arenas:
8-9 ms read one by one, 26-57 ms through the block cache (gdb 13, pyenv 3.11 target,
2026-12-02). It is bounded all the same (MAX_FREE_CHUNKS, DEADLINE_SECONDS): a heap torn
into millions of free chunks gives a lower bound of what is free, flagged `complete: false`. Memory read while
the target is stopped is consistent, except for a thread stopped inside malloc itself; a
link that leads nowhere ends that list and flags the result incomplete too.

Pure: reads through a host/memimage.Image, imports nothing of gdb, runs nothing in the target.
"""

from __future__ import annotations

import re
import struct
import time
from dataclasses import dataclass
from typing import Any, Optional

from .memimage import Image, Unreadable

WORD = 8
NBINS = 128  # bins[] holds NBINS - 1 pairs: bin 1 (unsorted) .. bin 127
NFASTBINS = 10
MAX_ARENAS = 1024  # glibc's default limit is 8 per core
MAX_FREE_CHUNKS = 2_000_000
DEADLINE_SECONDS = 0.05
_SIZE_BITS = 0x7  # PREV_INUSE, IS_MMAPPED, NON_MAIN_ARENA


@dataclass(frozen=True)
class ArenaLayout:
    """Offsets in `struct malloc_state` on x86-64 (8-byte pointers and sizes; the only machine tested)."""

    glibc: str
    fastbins: int  # -1: none
    top: int
    bins: int
    next: int
    system_mem: int


LAYOUTS = (
    # mutex, flags, have_fastchunks (2.27+), fastbinsY[10], top, last_remainder, bins[254], binmap[4],
    # next, next_free, attached_threads, system_mem, max_system_mem
    ArenaLayout("2.27 to 2.42", fastbins=16, top=96, bins=112, next=2160, system_mem=2184),
    ArenaLayout("2.23 to 2.26", fastbins=8, top=88, bins=104, next=2152, system_mem=2176),
    # glibc 2.43 dropped the fastbins (and have_fastchunks): mutex, flags, top, last_remainder, bins...
    # (read from forky's libc 2.43, whose mallinfo2() agreed, 2026-12-02)
    ArenaLayout("2.43 and later", fastbins=-1, top=8, bins=24, next=2072, system_mem=2096),
)

_LIBC = re.compile(r"/libc(\.so\.6|-2\.\d+\.so)$")
_MAPS = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) [0-9a-f]+ \S+ \d+\s*(.*)$")


# A thread's arena lives in heaps of at most this size, each aligned to it (64-bit: twice
# DEFAULT_MMAP_THRESHOLD_MAX); each starts with a heap_info {ar_ptr, prev, size, mprotect_size}.
HEAP_MAX_SIZE = 64 << 20
MAX_HEAPS = 4096


@dataclass
class Arena:
    address: int
    system_mem: int
    top: int  # bytes in the top chunk (what trimming could give back, for the main arena)
    free_listed: int  # bytes in free chunks on the bins and fastbins
    free_chunks: int
    heaps: list[tuple[int, int]]  # a thread's arena: its heaps' address ranges; the main arena: none (it is [heap])

    @property
    def free(self) -> int:
        return self.top + self.free_listed


def libc_data_ranges(maps_text: str) -> list[tuple[int, int]]:
    """The writable mappings of libc (its .data, where main_arena is), from /proc/PID/maps."""
    ranges = []
    for line in maps_text.splitlines():
        m = _MAPS.match(line)
        if m and m.group(3).startswith("rw") and _LIBC.search(m.group(4).strip()):
            ranges.append((int(m.group(1), 16), int(m.group(2), 16)))
    return ranges


def find_main_arena(image: Image, ranges: list[tuple[int, int]],
                    known: Optional[tuple[int, ArenaLayout]] = None) -> Optional[tuple[int, ArenaLayout]]:
    """(address of main_arena, its layout), or None (not glibc, or not recognized).  `known`: where
    an earlier look found it in the same process, taken when its arenas' ring still checks out (the
    search votes over every empty bin of libc's data: 7-8 ms of py-memtop's stop, 2026-12-03)."""
    if known is not None and any(start <= known[0] < end for start, end in ranges) \
            and _empty_bins(image, *known) >= MIN_EMPTY_BINS and _chain(image, *known) is not None:
        return known
    for start, end in ranges:
        try:
            data = image.read(start, end - start)
        except Unreadable:
            continue
        words = struct.unpack("<%dQ" % (len(data) // WORD), data[: len(data) // WORD * WORD])
        # addresses of the pairs that point to themselves (an empty bin)
        empty = {start + i * WORD for i in range(len(words) - 1)
                 if words[i] == start + i * WORD - 16 and words[i + 1] == words[i]}
        if len(empty) < 8:
            continue
        for layout in LAYOUTS:
            scores: dict[int, int] = {}
            for a in empty:
                for k in range(NBINS - 1):
                    base = a - layout.bins - 16 * k
                    if start <= base and base + layout.system_mem + WORD <= end:
                        scores[base] = scores.get(base, 0) + 1
            # bases 16 bytes apart score alike (the first and last bins are often not empty):
            # the `next` chain decides among the best
            for base, _ in sorted(scores.items(), key=lambda item: -item[1])[:2 * NBINS]:
                if _chain(image, base, layout) is not None:
                    return base, layout
    return None


# What the search needs of libc's data, asked of a place found before: the empty bins (pairs
# that point to themselves) are its evidence; the `next` ring alone is one word in a process
# with one arena.
MIN_EMPTY_BINS = 8


def _empty_bins(image: Image, main: int, layout: ArenaLayout) -> int:
    """How many of the arena at `main`'s bins are empty, by the search's test (one read)."""
    start = main + layout.bins
    try:
        data = image.read_uncached(start, 16 * (NBINS - 1))
    except Unreadable:
        return 0
    if len(data) != 16 * (NBINS - 1):
        return 0
    words = struct.unpack("<%dQ" % (2 * (NBINS - 1)), data)
    return sum(1 for i in range(NBINS - 1)
               if words[2 * i] == start + 16 * i - 16 and words[2 * i + 1] == words[2 * i])


_UNPACK_WORD = struct.Struct("<Q").unpack
_UNPACK_SIZE_FD = struct.Struct("<QQ").unpack
_UNPACK_INT = struct.Struct("<i").unpack


def _word(image: Image, address: int) -> int:
    return _UNPACK_WORD(image.read_uncached(address, WORD))[0]


def _chain(image: Image, main: int, layout: ArenaLayout) -> Optional[list[int]]:
    """The arenas on main's `next` list (main first), or None if that list does not come back to main."""
    arenas = [main]
    try:
        address = _word(image, main + layout.next)
        while address != main:
            if address == 0 or address % WORD or len(arenas) >= MAX_ARENAS or address in arenas:
                return None
            arenas.append(address)
            address = _word(image, address + layout.next)
    except Unreadable:
        return None
    return arenas


def read_arenas(image: Image, main: int, layout: ArenaLayout,
                deadline_seconds: float = DEADLINE_SECONDS) -> dict[str, Any]:
    """What mallinfo2() would say, per arena and in all: the document's `malloc` object."""
    arenas_at = _chain(image, main, layout) or [main]
    budget = _Budget(time.monotonic() + deadline_seconds)
    pages = _Pages(image)
    arenas = [_arena(pages, a, layout, budget) for a in arenas_at]
    arenas[0].heaps = []
    system = sum(a.system_mem for a in arenas)
    free = sum(a.free for a in arenas)
    return {
        "heaps": [h for a in arenas for h in a.heaps],  # not in the document: host/accounting's residency
        "allocator": "glibc",
        "layout": layout.glibc,
        "arenas": len(arenas),
        "arena_bytes": system,
        "in_use": max(system - free, 0),
        "free": free,
        "free_inside": sum(a.free_listed for a in arenas),
        "free_chunks": sum(a.free_chunks for a in arenas),
        "main_top": arenas[0].top,
        "complete": budget.complete,
    }


class _Pages(Image):
    """The image, read 16 KiB at a time and each piece once for one walk (at most _PAGES_KEPT: 8 MiB).  Free
    chunks of one size often lie side by side (a fastbin's), and each chunk costs 2-3 reads of a
    few bytes: on a VM of 2026-12-04 a read cost 5 us alone and 12 us under load, and a walk of
    the 4,100 free chunks of tests/targets/fragmented_heap.py ran out of its 50 ms."""

    def __init__(self, image: Image) -> None:
        super().__init__()
        self.image = image
        self.pages: dict[int, bytes] = {}

    def read_block(self, index: int) -> Optional[bytes]:
        return self.image.read_block(index)

    def read_uncached(self, address: int, size: int) -> bytes:
        page, offset = address & ~(_PAGE - 1), address & (_PAGE - 1)
        if address < 0 or offset + size > _PAGE:
            return self.image.read_uncached(address, size)
        data = self.pages.get(page)
        if data is None:
            try:
                data = self.image.read_uncached(page, _PAGE)
            except Unreadable:  # a page partly readable: the bytes themselves may be
                return self.image.read_uncached(address, size)
            if len(self.pages) >= _PAGES_KEPT:
                self.pages.clear()
            self.pages[page] = data
        return data[offset:offset + size]


_PAGE = 16384
_PAGES_KEPT = 512


class _Budget:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.visits = 0
        self.complete = True

    def spend(self) -> bool:
        self.visits += 1
        if self.visits >= MAX_FREE_CHUNKS or (self.visits & 255 == 0 and time.monotonic() > self.deadline):
            self.complete = False
        return self.complete


def _size_and_fd(image: Image, chunk: int) -> tuple[int, int]:
    """A free chunk's size and its fd link (the words at +8 and +16)."""
    size, fd = _UNPACK_SIZE_FD(image.read_uncached(chunk + WORD, 2 * WORD))
    return size & ~_SIZE_BITS, fd


def _chunk_size(image: Image, chunk: int) -> int:
    return _word(image, chunk + WORD) & ~_SIZE_BITS


def _arena(image: Image, address: int, layout: ArenaLayout, budget: _Budget) -> Arena:
    system = _word(image, address + layout.system_mem)
    top_chunk = _word(image, address + layout.top)
    top = _chunk_size(image, top_chunk) if top_chunk else 0
    listed, count = 0, 0
    # the doubly linked bins: bin i's head is the pair at bins[2(i-1)], seen as a chunk 16 bytes lower.
    # Largest bins first: where the time runs out, the bytes found per read are the most.
    for i in reversed(range(NBINS - 1)):
        head = address + layout.bins + 16 * i - 16
        try:
            chunk = _word(image, head + 16)
            while chunk != head and budget.spend():
                size, chunk = _size_and_fd(image, chunk)
                listed += size
                count += 1
        except Unreadable:
            budget.complete = False
    for i in range(NFASTBINS if layout.fastbins >= 0 else 0):
        try:
            chunk = _word(image, address + layout.fastbins + WORD * i)
            while chunk and budget.spend():
                listed += _chunk_size(image, chunk)
                count += 1
                chunk = _fast_next(image, chunk)
        except Unreadable:
            budget.complete = False
    # a list that went wrong (a thread stopped inside malloc) cannot make the free part exceed the arena
    if top + listed > system:
        budget.complete = False
        listed = max(system - top, 0)
    return Arena(address, system, top, listed, count, _heaps(image, address))


def _heaps(image: Image, arena: int) -> list[tuple[int, int]]:
    """The address ranges of a thread arena's heaps: the one it sits in, then each `prev`."""
    heaps: list[tuple[int, int]] = []
    heap = arena & ~(HEAP_MAX_SIZE - 1)
    try:
        while heap and len(heaps) < MAX_HEAPS:
            if _word(image, heap) != arena:  # heap_info.ar_ptr: not one of this arena's heaps
                break
            size = _word(image, heap + 2 * WORD)
            if not 0 < size <= HEAP_MAX_SIZE:
                break
            heaps.append((heap, heap + size))
            heap = _word(image, heap + WORD)
    except Unreadable:
        pass
    return heaps


def _fast_next(image: Image, chunk: int) -> int:
    """The next chunk on a fastbin list: its fd word, demangled if glibc mangled it (2.32+)."""
    at = chunk + 16
    raw = _word(image, at)
    demangled = (at >> 12) ^ raw
    if raw == 0 or demangled == 0:
        return 0
    for candidate in (demangled, raw):
        if candidate % 16 == 0:
            try:
                _chunk_size(image, candidate)
                return candidate
            except Unreadable:
                pass
    raise Unreadable("fastbin link 0x%x" % raw)


_OTHER_MALLOC = re.compile(r"/(lib(?:jemalloc|tcmalloc|tcmalloc_minimal|mimalloc|snmalloc|hoard)[^/\s]*\.so[^/\s]*)$", re.M)


def other_allocator(maps_text: str) -> Optional[str]:
    """The file name of a C allocator other than glibc's among the mappings (LD_PRELOAD=libjemalloc.so.2...),
    or None. Then malloc() is that one's: glibc's arenas hold little, and what they do not hold is not native."""
    match = _OTHER_MALLOC.search(maps_text)
    return match.group(1) if match else None


def thread_arena_top(image: Image, found: tuple[int, ArenaLayout], inside: int) -> Optional[tuple[int, int, int]]:
    """(arena, top chunk, its size) of the thread arena whose heap holds address `inside`, when its
    mutex is free; None for the main arena, another allocator, or anything that does not check out.
    For inject/own_thread.py: the payload's own thread leaves its arena's top chunk holding what its
    temporaries used, and glibc trims a thread arena's top only as frees come (malloc_trim never does:
    16 MB left resident per session on the 65 MB service, 2026-12-02).  found: find_main_arena's answer."""
    main, layout = found
    heap = inside & ~(HEAP_MAX_SIZE - 1)
    try:
        arena = _word(image, heap)
        if arena == main or arena not in (_chain(image, main, layout) or []):
            return None
        if not any(start <= inside < end for start, end in _heaps(image, arena)):
            return None
        if _UNPACK_INT(image.read_uncached(arena, 4))[0] != 0:
            return None  # its mutex is held: a thread is inside malloc there
        top = _word(image, arena + layout.top)
        size = _chunk_size(image, top) if top else 0
    except Unreadable:
        return None
    if not any(start <= top and top + size <= end for start, end in _heaps(image, arena)):
        return None
    return arena, top, size
