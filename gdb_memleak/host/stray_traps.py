"""Breakpoint instructions (int3, 0xCC) a killed gdb left in a target's code: found by comparing its
memory with the files it maps.  Pure: reads /proc only (the caller is the target's tracer)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Optional

INT3 = 0xCC


def left_traps(pid: int, addresses: Iterable[int]) -> list[tuple[int, int]]:
    """(address, the file's byte there) for each of `addresses` whose memory holds an int3 where the
    file mapped there has another byte; an address that cannot be read either way, or whose file
    cannot be opened as the very file mapped (its device and inode), is left out."""
    spans = _file_spans(pid)
    found = []
    for address in sorted(set(addresses)):
        span = next((s for s in spans if s[0] <= address < s[1]), None)
        if span is None:
            continue
        start, _, offset, identity, path = span
        # map_files is the file itself (it needs CAP_SYS_ADMIN); then the path in the target's root, then
        # as it is here: a debugging container's own ld.so, another build, would give a wrong byte (a review)
        paths = ("/proc/%d/map_files/%x-%x" % (pid, start, span[1]), "/proc/%d/root%s" % (pid, path), path)
        original = _byte_of_file(paths, identity, offset + address - start)
        if original is not None and original != INT3 and _byte_in_memory(pid, address) == INT3:
            found.append((address, original))
    return found


def _file_spans(pid: int) -> list[tuple[int, int, int, tuple[int, int], str]]:
    """(start, end, file offset, (device, inode), path) of the target's executable file mappings."""
    try:
        with open("/proc/%d/maps" % pid) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    spans = []
    for line in lines:
        fields = line.split(None, 5)
        if len(fields) < 6 or "x" not in fields[1] or not fields[5].startswith("/"):
            continue
        start, _, end = fields[0].partition("-")
        major, _, minor = fields[3].partition(":")
        identity = (os.makedev(int(major, 16), int(minor, 16)), int(fields[4]))
        spans.append((int(start, 16), int(end, 16), int(fields[2], 16), identity, fields[5]))
    return spans


def _byte_of_file(paths: tuple[str, ...], identity: tuple[int, int], offset: int) -> Optional[int]:
    """The byte at `offset` of the first of `paths` that is the file of `identity` (device, inode)."""
    return next((b for b in (_byte_at(path, offset, identity) for path in paths) if b is not None), None)


def _byte_in_memory(pid: int, address: int) -> Optional[int]:
    return _byte_at("/proc/%d/mem" % pid, address)


def _byte_at(path: str, offset: int, identity: Optional[tuple[int, int]] = None) -> Optional[int]:
    """The byte at `offset` of `path`; None if it does not open, is not the file of `identity`, or has no
    byte there."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if identity is not None:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != identity:
                return None  # another file by that name
        data = os.pread(fd, 1, offset)
    except OSError:
        data = b""
    finally:
        os.close(fd)
    return data[0] if data else None
