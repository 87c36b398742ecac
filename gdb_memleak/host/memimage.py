"""The target's memory, read in blocks without gdb: /proc/PID/mem of a live process, or a core file's segments.

`py-heap --read-only` (issue 16) reads millions of small objects; one gdb read
per object would take minutes.  So memory is read here in blocks of BLOCK
bytes, cached, and the walker (host/heapwalk.py) unpacks words with `struct`
from those blocks.  A live target is read with os.pread on /proc/PID/mem: gdb
is its tracer, so it may.  A core file is read from its PT_LOAD segments (the
ELF program headers).  Anything neither gives (a segment the core left out, a
/proc that refuses) goes to `fallback`, which the gdb side sets to gdb's own
inferior.read_memory.  Nothing here imports gdb; nothing writes anything.
"""

from __future__ import annotations

import bisect
import os
import struct
from typing import Callable, Optional

BLOCK_SHIFT = 16
BLOCK = 1 << BLOCK_SHIFT
PAGE = 4096
# gdb's memory for cached blocks, at most (then the cache starts again empty).  Small is faster
# too: 64 MiB -> 4 MiB took py-heap --read-only on 1M records (6M objects) from 9.5 s to 8.5 s
# and gdb's growth from +95 MB to +28 MB; py-cycles --read-only from 12.1 s to 9.9 s, +403 MB to
# +365 MB (2026-12-02, pyenv 3.12, benchmarks/read_only.py, one run each at load 0.4-0.7).
CACHE_LIMIT = 4 << 20

PT_LOAD = 1
# Bounds against a truncated or hostile core: a core of a big service has a few thousand segments.
MAX_SEGMENTS = 1 << 20


class Unreadable(Exception):
    """An address the image cannot give: unmapped, left out of the core, or refused."""


class CoreFileError(Exception):
    """The core file cannot be read as an ELF core (truncated, corrupted, not ELF)."""


Fallback = Callable[[int, int], Optional[bytes]]


# A pointer read from a damaged target can be anything; pread takes no offset past 2^63.
LAST_BLOCK = 1 << (63 - BLOCK_SHIFT)


class Image:
    """Blocks of the target's memory by index (address >> BLOCK_SHIFT); subclasses say how a block is read."""

    def __init__(self, fallback: Optional[Fallback] = None) -> None:
        self.blocks: dict[int, bytes] = {}
        self.unreadable: set[int] = set()  # blocks none of whose pages can be read
        self.fallback = fallback
        self.cached = 0
        self.reads = 0

    def read_block(self, index: int) -> Optional[bytes]:
        raise NotImplementedError

    def block(self, index: int) -> bytes:
        """The block `index`, BLOCK bytes, or Unreadable.  Cached."""
        data = self.blocks.get(index)
        if data is not None:
            return data
        if index in self.unreadable or not 0 <= index < LAST_BLOCK:
            raise Unreadable("cannot read 0x%x" % (index << BLOCK_SHIFT))
        data = self.read_block(index)
        if data is None or len(data) != BLOCK:
            data = self._from_fallback(index << BLOCK_SHIFT, BLOCK)
        if data is None:
            data = self._by_pages(index << BLOCK_SHIFT)
        if self.cached + BLOCK > CACHE_LIMIT:
            self.blocks.clear()
            self.cached = 0
        self.blocks[index] = data
        self.cached += BLOCK
        self.reads += 1
        return data

    def _by_pages(self, address: int) -> bytes:
        """A block partly mapped (a mapping ends or starts inside it): its readable pages, the others as zeros
        (no object lies there, and a pointer into them reads a null class, which the walk skips)."""
        pages = []
        found = False
        for at in range(address, address + BLOCK, PAGE):
            page = self._direct(at, PAGE)
            found = found or page is not None
            pages.append(page if page is not None else bytes(PAGE))
        if not found:
            self.unreadable.add(address >> BLOCK_SHIFT)
            raise Unreadable("cannot read 0x%x" % address)
        return b"".join(pages)

    def _from_fallback(self, address: int, size: int) -> Optional[bytes]:
        if self.fallback is None:
            return None
        try:
            data = self.fallback(address, size)
        except Exception:
            data = None
        return data if data is not None and len(data) == size else None

    def read(self, address: int, size: int) -> bytes:
        """`size` bytes at `address` (across blocks if need be), or Unreadable."""
        if address < 0 or size < 0 or address + size > 1 << 63:
            raise Unreadable("cannot read 0x%x" % address)
        out = []
        while size > 0:
            index, offset = address >> BLOCK_SHIFT, address & (BLOCK - 1)
            try:
                data = self.block(index)
            except Unreadable:
                # a block partly mapped (the last page of a mapping): the bytes themselves may still be readable
                part = self._direct(address, size)
                if part is None:
                    raise
                out.append(part)
                break
            n = min(size, BLOCK - offset)
            out.append(data[offset:offset + n])
            address += n
            size -= n
        return b"".join(out)

    def read_uncached(self, address: int, size: int) -> bytes:
        """`size` bytes at `address`, read now and not kept, or Unreadable: for a walk that reads a
        few bytes in each of many places once (caching whole blocks there costs gdb a page fault
        per 4 KiB of the target it touches)."""
        data = self._direct(address, size) if address >= 0 and size >= 0 else None
        if data is None:
            raise Unreadable("cannot read 0x%x" % address)
        return data

    def _direct(self, address: int, size: int) -> Optional[bytes]:
        return self._from_fallback(address, size)

    def close(self) -> None:
        self.blocks.clear()


class ProcessImage(Image):
    """A live process, read with pread on /proc/PID/mem (the caller is its tracer)."""

    def __init__(self, pid: int, fallback: Optional[Fallback] = None) -> None:
        super().__init__(fallback)
        self.fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)

    def read_block(self, index: int) -> Optional[bytes]:
        try:
            return os.pread(self.fd, BLOCK, index << BLOCK_SHIFT)
        except (OSError, OverflowError):
            return None

    def _direct(self, address: int, size: int) -> Optional[bytes]:
        try:
            data = os.pread(self.fd, size, address)
        except (OSError, OverflowError):
            data = b""
        return data if len(data) == size else self._from_fallback(address, size)

    def close(self) -> None:
        super().close()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def core_segments(path: str) -> list[tuple[int, int, int, int]]:
    """(vaddr, memsz, file offset, filesz) of a core file's PT_LOAD segments, sorted by address.

    CoreFileError for a file that is not a 64-bit little-endian ELF core or whose headers are cut off."""
    headers, size = program_headers(path)
    segments = [(vaddr, memsz, offset, filesz) for ptype, offset, vaddr, filesz, memsz in headers
                if ptype == PT_LOAD and memsz]
    segments.sort()
    ends = [offset + filesz for _, _, offset, filesz in segments if filesz]
    if ends and max(ends) > size:
        raise CoreFileError("%s is truncated: %d bytes, its segments need %d" % (path, size, max(ends)))
    return segments


def program_headers(path: str) -> tuple[list[tuple[int, int, int, int, int]], int]:
    """((type, file offset, vaddr, filesz, memsz) of each program header, the file's size) of an ELF core."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            size = os.fstat(f.fileno()).st_size
            if len(head) < 64 or head[:4] != b"\x7fELF":
                raise CoreFileError("%s is not an ELF file" % path)
            if head[4] != 2 or head[5] != 1:
                raise CoreFileError("%s is not a 64-bit little-endian ELF file" % path)
            kind, = struct.unpack_from("<H", head, 16)
            if kind != 4:
                raise CoreFileError("%s is not a core file (ELF type %d)" % (path, kind))
            phoff, = struct.unpack_from("<Q", head, 32)
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            if phnum == 0xFFFF or phnum > MAX_SEGMENTS or phentsize < 56:
                raise CoreFileError("%s: unexpected program headers (%d of %d bytes)" % (path, phnum, phentsize))
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError as e:
        raise CoreFileError("cannot read %s: %s" % (path, e.strerror or e)) from e
    if len(table) < phentsize * phnum:
        raise CoreFileError("%s is truncated: its program headers are cut off" % path)
    headers = []
    for i in range(phnum):
        ptype, _, offset, vaddr, _, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", table, i * phentsize)
        headers.append((ptype, offset, vaddr, filesz, memsz))
    return headers, size


class CoreImage(Image):
    """A core file's memory from its PT_LOAD segments; what a segment does not hold in the file goes to `fallback`."""

    def __init__(self, path: str, fallback: Optional[Fallback] = None) -> None:
        super().__init__(fallback)
        self.segments = core_segments(path)
        self.starts = [s[0] for s in self.segments]
        self.file = open(path, "rb")

    def _piece(self, address: int, size: int) -> Optional[bytes]:
        """Up to `size` bytes at `address` from one segment's file bytes (fewer at its end), or None."""
        i = bisect.bisect_right(self.starts, address) - 1
        if i < 0:
            return None
        vaddr, memsz, offset, filesz = self.segments[i]
        inside = address - vaddr
        if inside >= filesz or inside >= memsz:
            return None
        n = min(size, filesz - inside)
        self.file.seek(offset + inside)
        data = self.file.read(n)
        return data if len(data) == n else None

    def read_block(self, index: int) -> Optional[bytes]:
        return self._direct(index << BLOCK_SHIFT, BLOCK)

    def _direct(self, address: int, size: int) -> Optional[bytes]:
        out = []
        at, left = address, size
        while left > 0:
            part = self._piece(at, left)
            if part is None:
                return self._from_fallback(address, size)
            out.append(part)
            at += len(part)
            left -= len(part)
        return b"".join(out)

    def close(self) -> None:
        super().close()
        self.file.close()
