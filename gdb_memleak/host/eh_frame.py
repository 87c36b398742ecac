"""Where each piece of a program's code starts and ends, from its unwind table (.eh_frame_hdr).

A stripped file names its functions' entries (the dynamic symbol table) but not the pieces
GCC moves out of them (`NAME.cold`): host/eval_loop.py needs their extent to read and admit
the eval loop's cold part, which on Debian forky's static 3.14 holds the opcodes' code (84 KB
against 1.2 KB under the function's name).  Every piece of compiled code has its own frame
description entry (FDE) in .eh_frame, for exceptions and unwinding, so the table survives
`strip`; the linker's sorted index of them (.eh_frame_hdr) finds each FDE at once.

Only the encodings GNU ld and lld write for x86-64 are read (a 4-byte table relative to the
index, 4-byte pointers); anything else gives None, and the caller does without.  Pure:
imports nothing of gdb.
"""

from __future__ import annotations

import bisect
import struct
from typing import Optional

from . import elf

# DW_EH_PE_* encodings: the pointer's format (low bits) and what it is relative to (high bits).
_DATAREL_SDATA4 = 0x3B
_PCREL_SDATA4 = 0x1B
_UDATA4 = 0x03
_FORMAT_SIZE = {0x00: 8, 0x02: 2, 0x03: 4, 0x04: 8, 0x0A: 2, 0x0B: 4, 0x0C: 8}
_FORMAT_SIGNED = {0x0A, 0x0B, 0x0C}
_OMIT = 0xFF
MAX_FDES = 1 << 20  # bounds against a corrupt file: libpython has about 10,000


class FunctionRanges:
    """[start, end) of every piece of code the unwind table describes, at the file's addresses."""

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        self._ranges = sorted(ranges)
        self._starts = [start for start, _ in self._ranges]

    def containing(self, address: int) -> Optional[tuple[int, int]]:
        """The piece `address` is in, or None."""
        at = bisect.bisect_right(self._starts, address) - 1
        if at >= 0 and self._ranges[at][0] <= address < self._ranges[at][1]:
            return self._ranges[at]
        return None


def function_ranges(path: str) -> Optional[FunctionRanges]:
    """The pieces of code of the ELF file at `path`; None if its table cannot be read."""
    index = elf.section(path, ".eh_frame_hdr")
    frames = elf.section(path, ".eh_frame")
    if index is None or frames is None:
        return None
    (hdr_addr, hdr_data), (eh_addr, eh_data) = index, frames
    if (len(hdr_data) < 12 or hdr_data[0] != 1 or hdr_data[1] != _PCREL_SDATA4 or hdr_data[2] != _UDATA4
            or hdr_data[3] != _DATAREL_SDATA4):
        return None
    count, = struct.unpack_from("<I", hdr_data, 8)
    if count > MAX_FDES or 12 + 8 * count > len(hdr_data):
        return None
    encodings: dict[int, Optional[int]] = {}  # CIE offset -> its FDEs' pointer encoding
    ranges = []
    for i in range(count):
        start, fde = struct.unpack_from("<ii", hdr_data, 12 + 8 * i)
        at = hdr_addr + fde - eh_addr  # the FDE, in .eh_frame's bytes
        length = _pc_range(eh_data, at, encodings, eh_addr, hdr_addr + start)
        if length is None:
            return None
        ranges.append((hdr_addr + start, hdr_addr + start + length))
    return FunctionRanges(ranges)


def _pc_range(data: bytes, at: int, encodings: dict[int, Optional[int]], base: int, start: int) -> Optional[int]:
    """The length of the code the FDE at `at` describes (.eh_frame at address `base`), once its
    own start is checked to be the index's `start`."""
    if at < 0 or at + 8 > len(data):
        return None
    length, cie_pointer = struct.unpack_from("<II", data, at)
    if length in (0, 0xFFFFFFFF) or cie_pointer == 0:
        return None  # a terminator, a 64-bit entry, or a CIE where an FDE was to be
    cie = at + 4 - cie_pointer
    if cie not in encodings:
        encodings[cie] = _fde_encoding(data, cie)
    encoding = encodings[cie]
    if encoding is None:
        return None
    size = _FORMAT_SIZE.get(encoding & 0x0F)
    if size is None or at + 8 + 2 * size > len(data):
        return None
    code = {2: "h", 4: "i", 8: "q"}[size]
    code = code if encoding & 0x0F in _FORMAT_SIGNED else code.upper()
    begin, value = struct.unpack_from("<" + code * 2, data, at + 8)  # pc_begin, then pc_range
    if encoding == _PCREL_SDATA4:
        begin += base + at + 8
    if encoding not in (_PCREL_SDATA4, 0x00) or begin != start:
        return None  # an encoding not read here, or a table that does not match its entries
    return value if value >= 0 else None


def _fde_encoding(data: bytes, cie: int) -> Optional[int]:
    """The pointer encoding a CIE gives its FDEs (its augmentation's 'R'); absolute when it has none."""
    if cie < 0 or cie + 9 > len(data):
        return None
    if struct.unpack_from("<I", data, cie + 4)[0] != 0:
        return None  # not a CIE
    version = data[cie + 8]
    end = data.find(b"\0", cie + 9)
    if end < 0 or version not in (1, 3):
        return None
    augmentation = data[cie + 9:end]
    if not augmentation.startswith(b"z"):
        return 0x00 if not augmentation else None
    at = end + 1
    for _ in range(2):  # code and data alignment factors
        at = _skip_leb128(data, at)
    at = at + 1 if version == 1 else _skip_leb128(data, at)  # return address register
    at = _skip_leb128(data, at)  # augmentation data's length
    for letter in augmentation[1:]:
        if at >= len(data):
            return None
        if letter == ord("R"):
            return data[at]
        if letter == ord("P"):
            size = _FORMAT_SIZE.get(data[at] & 0x0F) if data[at] != _OMIT else 0
            if size is None:
                return None
            at += 1 + size
        elif letter == ord("L"):
            at += 1
        elif letter not in (ord("S"), ord("B")):
            return None
    return 0x00


def _skip_leb128(data: bytes, at: int) -> int:
    while at < len(data) and data[at] & 0x80:
        at += 1
    return at + 1
