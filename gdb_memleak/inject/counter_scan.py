"""The counter behind sys.getallocatedblocks() found in the interpreter's data by what it does, not by name.

allocator.py counts the blocks it routes in that counter.  Up to 3.11 it is a global that debug
info names, or that _Py_GetAllocatedBlocks loads first.  From 3.12 on it is a field of the
interpreter's allocator state (interp->obmalloc, a pointer from 3.13), which only debug info
describes: builds without it (Debian's, containers') were never routed, and with it gdb's
first lookup of `struct _is` waited for its index of libpython's debug info, about 1 s with
the target stopped when the plugin was loaded after the attach (pyenv 3.13, heartbeat gap
0.89-1.06 s against 0.05-0.07 s loaded before it, 2026-12-07).  The main interpreter's state
lies in the writable data of the file that holds PyObject_Malloc (in _PyRuntime on 3.12, in a
static of obmalloc.c from 3.13), and PyObject_Malloc of a block over 512 bytes counts it up by
one and PyObject_Free down again: the one word there that does exactly that is the counter.
Nothing here imports gdb.
"""

from __future__ import annotations

import struct
from typing import Callable, Optional

from . import landing

_WORD = struct.Struct("<q")
_CHUNK = 4096
_READ_LIMIT = 16 << 20  # bytes of data: past that, no scan (3.12-3.15: 1.1-1.5 MB)


def counted_words(before: bytes, allocated: bytes, freed: bytes) -> list[int]:
    """Offsets of the 8-aligned words one up in `allocated` and back in `freed`, against `before`."""
    found = []
    size = min(len(before), len(allocated), len(freed))  # (a short read: what all three hold)
    for start in range(0, size, _CHUNK):
        end = min(start + _CHUNK, size)
        if before[start:end] == allocated[start:end]:
            continue
        for at in range(start, end - 7, 8):
            (was,) = _WORD.unpack_from(before, at)
            if _WORD.unpack_from(allocated, at)[0] == was + 1 and _WORD.unpack_from(freed, at)[0] == was:
                found.append(at)
    return found


def find(pid: int, code: int, allocate: Callable[[], None], free: Callable[[], None]) -> Optional[int]:
    """The address of the one word of the data of the file holding `code` that `allocate` counts up by
    one and `free` down again, read between them from /proc/PID/mem; None if not exactly one."""
    ranges = landing.image_data(pid, code)
    if not ranges or sum(high - low for low, high in ranges) > _READ_LIMIT:
        return None
    try:
        with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
            def snapshot() -> list[bytes]:
                pieces = []
                for low, high in ranges:
                    mem.seek(low)
                    pieces.append(mem.read(high - low))
                return pieces
            before = snapshot()
            allocate()
            try:
                allocated = snapshot()
            finally:
                free()
            freed = snapshot()
    except (OSError, ValueError):
        return None
    found = [low + at for (low, _), b, a, f in zip(ranges, before, allocated, freed) for at in counted_words(b, a, f)]
    return found[0] if len(found) == 1 else None
