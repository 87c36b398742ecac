"""The shared objects a running process has loaded, named as its dynamic linker names them.

gdb names each shared library by the link map's l_name (/lib/x86_64-linux-gnu/libc.so.6),
not by the path /proc/PID/maps shows (/usr/lib/x86_64-linux-gnu/libc.so.6 through the
/lib symlink), and shares what it read of a file only between objfiles opened under the
same name (gdb_bfd_open's cache).  So gdbside/preread.py, which reads the files before gdb
attaches, needs the link map's names: read here from /proc/PID/mem while the process runs
(the same permission as ptrace; no stop).  The executable's PT_DYNAMIC (found through
/proc/PID/auxv's AT_PHDR) gives DT_DEBUG, the address of the dynamic linker's r_debug,
whose r_map heads the list.  64-bit little-endian only; anything else, or anything that
does not read as expected (a dlopen racing the walk), gives [].  Nothing here imports gdb.
"""

from __future__ import annotations

import os
import struct
from typing import Optional

AT_PHDR, AT_PHNUM = 3, 5
PT_PHDR, PT_DYNAMIC = 6, 2
DT_NULL, DT_DEBUG = 0, 21
PHENT = 56  # Elf64_Phdr
MAX_PHNUM = 256
MAX_DYNAMIC = 512  # entries
MAX_OBJECTS = 4096  # a big service maps a few hundred shared objects
MAX_NAME = 4096


def loaded_objects(pid: int) -> list[tuple[str, int]]:
    """(l_name, l_addr) of each shared object in pid's link map, in load order, without the
    executable and the vDSO (no file); [] when the map cannot be read."""
    try:
        with open("/proc/%d/exe" % pid, "rb") as f:
            if f.read(6) != b"\x7fELF\x02\x01":  # ELFCLASS64, ELFDATA2LSB
                return []
        fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        return _walk(pid, fd)
    except (OSError, struct.error, ValueError, OverflowError):
        return []
    finally:
        os.close(fd)


def _auxv(pid: int) -> dict[int, int]:
    with open("/proc/%d/auxv" % pid, "rb") as f:
        data = f.read()
    pairs = struct.iter_unpack("<QQ", data[: len(data) // 16 * 16])
    return {key: value for key, value in pairs}


def _read(fd: int, address: int, size: int) -> bytes:
    data = os.pread(fd, size, address)
    if len(data) != size:
        raise ValueError("short read at 0x%x" % address)
    return data


def _r_debug(pid: int, fd: int) -> Optional[int]:
    aux = _auxv(pid)
    phdr, phnum = aux.get(AT_PHDR), aux.get(AT_PHNUM)
    if not phdr or not phnum or phnum > MAX_PHNUM:
        return None
    table = _read(fd, phdr, PHENT * phnum)
    headers = [struct.unpack_from("<IIQQQQQQ", table, i * PHENT) for i in range(phnum)]
    bias = next((phdr - h[3] for h in headers if h[0] == PT_PHDR), None)
    dynamic = next((h for h in headers if h[0] == PT_DYNAMIC), None)
    if bias is None or dynamic is None:
        return None  # no PT_PHDR: a static executable, or one gdb-memleak does not read
    entries = _read(fd, bias + dynamic[3], min(dynamic[5], MAX_DYNAMIC * 16) // 16 * 16)
    for tag, value in struct.iter_unpack("<qQ", entries):
        if tag == DT_DEBUG:
            return value or None  # 0 until the dynamic linker has filled it in
        if tag == DT_NULL:
            break
    return None


def _string(fd: int, address: int) -> str:
    data = b""
    while b"\0" not in data and len(data) < MAX_NAME:
        data += os.pread(fd, 256, address + len(data)) or b"\0"
    return data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _walk(pid: int, fd: int) -> list[tuple[str, int]]:
    r_debug = _r_debug(pid, fd)
    if r_debug is None:
        return []
    link, = struct.unpack("<Q", _read(fd, r_debug + 8, 8))  # r_version (int, padded), r_map
    objects: list[tuple[str, int]] = []
    seen: set[int] = set()
    while link and link not in seen and len(seen) < MAX_OBJECTS:
        seen.add(link)
        l_addr, l_name, _, l_next = struct.unpack("<QQQQ", _read(fd, link, 32))
        name = _string(fd, l_name) if l_name else ""
        if name.startswith("/") and os.path.isfile(name):
            objects.append((name, l_addr))
        link = l_next
    return objects
