"""The allocators' own books, read from the stopped target: pymalloc's arenas and glibc malloc's (issue 14).

py-memtop splits the RSS by kind of mapping (host/accounting.py). These say what the
two allocators do with their part: how much of pymalloc's arenas holds pools in use,
and how much of glibc's arenas is in use or free (fragmentation). Both are read, never
called: pymalloc's table of arenas through the interpreter's debug info, glibc's arenas
from memory without symbols (host/glibc_arenas.py). Nothing runs in the target.
"""

from __future__ import annotations

import struct
from typing import Any, Optional

import gdb

from ..host import glibc_arenas
from ..host.memimage import Image, ProcessImage, Unreadable
from . import inferior as inf
from . import memlayout

# A table of arenas this long is not one (pymalloc doubles it from 16: a million is 1 TiB of arenas).
MAX_ARENA_OBJECTS = 1 << 20


def _value(expression: str) -> Optional[int]:
    try:
        return int(gdb.parse_and_eval("(unsigned long)(%s)" % expression))
    except (gdb.error, RuntimeError):
        return None


def _arena_table(version: tuple[int, int]) -> Optional[tuple[int, int]]:
    """(address of pymalloc's array of arena objects, its length) in the main interpreter."""
    if not inf.runtime_may_have_debug_info():
        return None
    if version >= (3, 12):
        # 3.12 keeps the state in the interpreter, 3.13 behind a pointer
        places = ["_PyRuntime.interpreters.main->obmalloc.mgmt", "_PyRuntime.interpreters.main->obmalloc->mgmt"]
        for mgmt in places:
            arenas, count = _value(mgmt + ".arenas"), _value(mgmt + ".maxarenas")
            if arenas is not None and count is not None:
                return arenas, count
        return None
    # up to 3.11: file-level statics of Objects/obmalloc.c
    for scope in ("'Objects/obmalloc.c'::", ""):
        arenas, count = _value(scope + "arenas"), _value(scope + "maxarenas")
        if arenas is not None and count is not None:
            return arenas, count
    return None


def pymalloc_arenas(version: tuple[int, int]) -> Optional[dict[str, Any]]:
    """pymalloc's arenas: how many, their bytes, the bytes of pools in use, and (key "ranges", not
    for the document) their address ranges. None without debug info."""
    table = _arena_table(version)
    if table is None:
        return None
    address, count = table
    try:
        arena_type = gdb.lookup_type("struct arena_object")
    except gdb.error:
        return None
    offsets = {f.name: f.bitpos // 8 for f in arena_type.fields() if f.bitpos is not None}
    if not address or not 0 < count <= MAX_ARENA_OBJECTS or not {"address", "nfreepools", "ntotalpools"} <= set(offsets):
        return None
    size = arena_type.sizeof
    try:
        data = bytes(gdb.selected_inferior().read_memory(address, count * size))
    except (gdb.error, gdb.MemoryError, OverflowError):
        return None
    # 3.10+ on 64-bit: arenas of 1 MiB in pools of 16 KiB; before, 256 KiB in pools of 4 KiB
    arena_size = (1 << 20) if version >= (3, 10) else (1 << 18)
    pool_size = arena_size // 64
    arenas = pools_used = 0
    ranges = []
    for base in range(0, len(data), size):
        start = int.from_bytes(data[base + offsets["address"]:base + offsets["address"] + 8], "little")
        if start:
            arenas += 1
            ranges.append((start, start + arena_size))
            total = int.from_bytes(data[base + offsets["ntotalpools"]:base + offsets["ntotalpools"] + 4], "little")
            free = int.from_bytes(data[base + offsets["nfreepools"]:base + offsets["nfreepools"] + 4], "little")
            pools_used += max(total - free, 0)
    arena_bytes = arenas * arena_size
    return {"arenas": arenas, "arena_bytes": arena_bytes, "in_use": pools_used * pool_size,
            "free": arena_bytes - pools_used * pool_size, "ranges": ranges}


def glibc_malloc(inferior: gdb.Inferior, maps: str) -> Optional[dict[str, Any]]:
    """glibc malloc's arenas, in use and free, of a live target (`maps`: its /proc/PID/maps);
    None when they are not found."""
    image = memlayout.image(inferior, core=False)
    try:
        found = main_arena(inferior.pid, image, maps)
        return glibc_arenas.read_arenas(image, *found) if found is not None else None
    except (Unreadable, struct.error, ValueError, OverflowError):  # an arena that moved or went: not known
        return None
    finally:
        image.close()


# Where each process's main_arena is: libc's data never moves, so it is searched for once
# (before the attach when gdb-memleak is loaded first: locate_main_arena_ahead), and only
# checked afterwards (its arenas' ring must still come back to it).  Forgotten on exit.
_MAIN_ARENAS: dict[int, tuple[int, glibc_arenas.ArenaLayout]] = {}


def main_arena(pid: int, image: Image, maps: str) -> Optional[tuple[int, glibc_arenas.ArenaLayout]]:
    """(address of main_arena, its layout) in process pid, or None; remembered for the next look."""
    found = glibc_arenas.find_main_arena(image, glibc_arenas.libc_data_ranges(maps), _MAIN_ARENAS.get(pid))
    if found is None:
        _MAIN_ARENAS.pop(pid, None)
    else:
        _MAIN_ARENAS[pid] = found
    return found


def locate_main_arena_ahead(pid: int) -> None:
    """Search for main_arena while the target still runs, reading /proc/PID/mem (read only, as
    the kernel lets gdb's user): the search took 7-8 ms of py-memtop's stop at 1M records, and the
    check of what it finds, at the stop, well under a millisecond.  Whatever fails leaves it to
    the command, as before."""
    try:
        with open("/proc/%d/maps" % pid) as f:
            maps = f.read()
        image = ProcessImage(pid)
    except OSError:
        return
    try:
        main_arena(pid, image, maps)
    except (Unreadable, struct.error, ValueError, OverflowError):
        pass
    finally:
        image.close()


def forget_main_arenas() -> None:
    _MAIN_ARENAS.clear()
