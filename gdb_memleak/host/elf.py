"""Which functions an ELF file exports, read from its dynamic symbol table on disk.

gdb can answer "which loaded files define Py_AddPendingCall" too, but only by
searching every symbol table, debug info included: 0.15-0.3 s on the first
command, with the target stopped (measured 2026-12-01, pyenv 3.11 and Debian's
3.14).  Every copy of the CPython runtime exports its C API (extension modules
link against it), so the dynamic symbol table is enough, and reading it takes
milliseconds.  Nothing here imports gdb.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Optional

SHT_DYNSYM = 11
STT_FUNC = 2
SHN_UNDEF = 0
# Bounds against a corrupt or hostile file: a libc's .dynsym is about 70 kB, libpython's 60 kB.
MAX_TABLE = 16 << 20


def linked_at_fixed_addresses(path: str) -> bool:
    """The ELF file at `path` is a program linked at fixed addresses (ET_EXEC, not PIE): its
    symbols' addresses are the running process's, whatever gdb has relocated yet."""
    try:
        with open(path, "rb") as f:
            header = f.read(18)
    except OSError:
        return False
    return len(header) == 18 and header[:4] == b"\x7fELF" and header[5] == 1 and header[16:18] == b"\x02\x00"


def exports_function(path: str, name: str) -> Optional[bool]:
    """Whether the ELF file at `path` defines and exports function `name`; None if it cannot be read as ELF."""
    wanted = name.encode("ascii")
    try:
        with open(path, "rb") as f:
            ident = f.read(64)
            if len(ident) < 52 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] not in (1, 2):
                return None
            wide, order = ident[4] == 2, "<" if ident[5] == 1 else ">"
            if wide:
                shoff, = struct.unpack_from(order + "Q", ident, 40)
                shentsize, shnum = struct.unpack_from(order + "HH", ident, 58)
            else:
                shoff, = struct.unpack_from(order + "I", ident, 32)
                shentsize, shnum = struct.unpack_from(order + "HH", ident, 46)
            if shoff == 0 or shnum == 0 or shentsize < (64 if wide else 40):
                return None
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            sections = []
            for i in range(shnum):
                at = i * shentsize
                if wide:
                    _, kind, _, _, offset, size, link, _, _, entsize = struct.unpack_from(order + "IIQQQQIIQQ", table, at)
                else:
                    _, kind, _, _, offset, size, link, _, _, entsize = struct.unpack_from(order + "IIIIIIIIII", table, at)
                sections.append((kind, offset, size, link, entsize))
            for kind, offset, size, link, entsize in sections:
                if kind != SHT_DYNSYM or link >= len(sections) or size > MAX_TABLE or entsize == 0:
                    continue
                _, str_offset, str_size, _, _ = sections[link]
                if str_size > MAX_TABLE:
                    return None
                f.seek(offset)
                symbols = f.read(size)
                f.seek(str_offset)
                strings = f.read(str_size)
                if wanted + b"\0" not in strings:
                    return False  # not even its name: no symbol to look through (most files)
                for at in range(0, len(symbols) - entsize + 1, entsize):
                    if wide:
                        name_at, info, _, shndx = struct.unpack_from(order + "IBBH", symbols, at)
                    else:
                        name_at, _, _, info, _, shndx = struct.unpack_from(order + "IIIBBH", symbols, at)
                    if shndx == SHN_UNDEF or info & 0xF != STT_FUNC:
                        continue
                    if strings.startswith(wanted, name_at) and strings[name_at + len(wanted):name_at + len(wanted) + 1] == b"\0":
                        return True
                return False
            return False  # no dynamic symbols: a static program exports nothing
    except (OSError, struct.error):
        return None


DEBUG_SECTIONS = (".debug_info", ".zdebug_info")


def _section_headers(f: BinaryIO) -> Optional[tuple[bytes, int, int, int]]:
    """(the section header table, its entry size, its count, the index of the names' section) of
    an open 64-bit little-endian ELF file; None if it is not one, or has no section headers."""
    ident = f.read(64)
    if len(ident) < 64 or ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1:
        return None
    shoff, = struct.unpack_from("<Q", ident, 40)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ident, 58)
    if shoff == 0 or shnum == 0 or shentsize < 64:
        return None
    f.seek(shoff)
    return f.read(shentsize * shnum), shentsize, shnum, shstrndx


def has_debug_info(path: str) -> Optional[bool]:
    """Whether the ELF file at `path` carries DWARF (a .debug_info section, compressed or not);
    None if it cannot be read as a 64-bit little-endian ELF file."""
    found = sections(path)
    if found is not None:
        return any(name in DEBUG_SECTIONS for name in found)
    try:
        with open(path, "rb") as f:
            ident = f.read(64)
    except OSError:
        return None
    valid = len(ident) == 64 and ident[:4] == b"\x7fELF" and ident[4] == 2 and ident[5] == 1
    # no section headers at all: nothing to read DWARF from
    return False if valid and struct.unpack_from("<Q", ident, 40)[0] == 0 else None


SHF_EXECINSTR = 0x4


def code_sections(path: str) -> Optional[list[tuple[int, int]]]:
    """[start, end) of each section of code (SHF_EXECINSTR) of the 64-bit little-endian ELF file at
    `path`, at its own addresses; None if it cannot be read as one."""
    try:
        with open(path, "rb") as f:
            headers = _section_headers(f)
        if headers is None:
            return None
        table, shentsize, shnum, _ = headers
        ranges = []
        for i in range(shnum):
            _, _, flags, addr, _, size, _, _, _, _ = struct.unpack_from("<IIQQQQIIQQ", table, i * shentsize)
            if flags & SHF_EXECINSTR and size:
                ranges.append((addr, addr + size))
        return ranges
    except (OSError, struct.error):
        return None


SHT_NOBITS = 8


def sections(path: str) -> Optional[dict[str, tuple[int, int, int, int]]]:
    """Each section of the 64-bit little-endian ELF file at `path` by name: (type, address, file
    offset, size); None if it cannot be read as one."""
    try:
        with open(path, "rb") as f:
            headers = _section_headers(f)
            if headers is None:
                return None
            table, shentsize, shnum, shstrndx = headers
            if shstrndx >= shnum:
                return None
            fields = "<IIQQQQIIQQ"
            str_offset, str_size = struct.unpack_from(fields, table, shstrndx * shentsize)[4:6]
            if str_size > MAX_TABLE:
                return None
            f.seek(str_offset)
            strings = f.read(str_size)
        found: dict[str, tuple[int, int, int, int]] = {}
        for i in range(shnum):
            name_at, kind, _, addr, offset, size, _, _, _, _ = struct.unpack_from(fields, table, i * shentsize)
            name = strings[name_at:].split(b"\0", 1)[0].decode("ascii", "replace")
            found.setdefault(name, (kind, addr, offset, size))
        return found
    except (OSError, struct.error):
        return None


def section(path: str, name: str) -> Optional[tuple[int, bytes]]:
    """(address, contents) of the section called `name` of the 64-bit little-endian ELF file at
    `path`; None if it has none with contents (a separate debug file's code is NOBITS), or the
    file cannot be read as one."""
    found = (sections(path) or {}).get(name)
    if found is None or found[0] == SHT_NOBITS or found[3] > MAX_TABLE:
        return None
    _, addr, offset, size = found
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(size)
    except OSError:
        return None
    return (addr, data) if len(data) == size else None
