"""Keep a payload's temporaries out of the target's pymalloc arenas, and give their memory back.

A payload allocates a few MB of short-lived objects (ids, lists of chunks,
counting dicts).  Under pymalloc they leave the target bigger even once freed:
pools carved from an arena stay resident, and pymalloc keeps one empty arena
for later.  On a 25 MB service one py-heap + py-cycles left +1.3 MB that way
(measured 2026-11-27, see docs/safety.md).

So while the payload runs, the object and "mem" domains allocate with the raw
domain's malloc (glibc), and keep pymalloc's own free and realloc.  That pair
is sound in both directions, before, during and after: pymalloc's free and
realloc hand any pointer that is not in one of its arenas to the raw
allocator, which is exactly how CPython already frees every object over 512
bytes.  Afterwards the target's allocators are put back byte for byte, and
glibc's malloc_trim(0) returns the freed pages.

One number would go wrong: the count behind sys.getallocatedblocks().  A block
from malloc was never counted, but pymalloc's free uncounts it, so after a
payload the count would be hundreds of thousands too low, even negative (and
3.13 frees a subinterpreter's arenas at its end when its count is 0).  So the
counter is found (debug info, or the one load in _Py_GetAllocatedBlocks that
behaves like it), proven by allocating and freeing one counted block, and
written back afterwards to its value before the payload.

Only when the target runs the stock allocators ("pymalloc": not the debug
hooks, not tracemalloc, not a custom allocator), is 3.8 or newer (the first
that can tell which allocators run), runs one interpreter, and the counter is
found.  Otherwise nothing is changed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Optional, Protocol

import gdb

from . import inferior as inf

PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ = 0, 1, 2
# PyMemAllocatorEx: ctx, malloc, calloc, realloc, free (five pointers, every version).
ALLOCATOR_STRUCT = struct.Struct("<5Q")


class Calls(Protocol):
    """What injector._Calls offers: calls into the stopped target at a function entry."""

    raw_malloc: str
    raw_free: str
    version: tuple[int, int]

    def call(self, function: str, *args: int, ret: str = "long") -> int: ...

    def cleanup(self, function: str, *args: int) -> None: ...


@dataclass
class RoutedAllocators:
    """Target memory holding the saved MEM and OBJ allocators, a spare slot and the routed one."""

    buffer: int
    routed: bytes  # the PyMemAllocatorEx the MEM and OBJ domains were given
    block_counter: int  # address of the count behind sys.getallocatedblocks()
    blocks_before: int  # its value before the payload

    @property
    def saved_mem(self) -> int:
        return self.buffer

    @property
    def saved_obj(self) -> int:
        return self.buffer + ALLOCATOR_STRUCT.size

    @property
    def spare(self) -> int:
        return self.buffer + 2 * ALLOCATOR_STRUCT.size


COUNTER = struct.Struct("<q")  # Py_ssize_t


def _counter_candidates(calls: Calls) -> list[int]:
    """Addresses that may hold the interpreter's count of raw-allocated (3.8: all) blocks."""
    if calls.version >= (3, 12):
        interp = calls.call("PyInterpreterState_Get")
        expressions = ["&((struct _is *)%d)->obmalloc->mgmt.raw_allocated_blocks" % interp,
                       "&((struct _is *)%d)->obmalloc.mgmt.raw_allocated_blocks" % interp]
    else:
        expressions = ["&raw_allocated_blocks", "&_Py_AllocatedBlocks"]
    found = []
    for expression in expressions:  # debug info
        try:
            found.append(int(gdb.parse_and_eval(expression)))
        except (gdb.error, RuntimeError):
            pass
    getter = inf.minimal_symbol_address("_Py_GetAllocatedBlocks")
    if not found and calls.version < (3, 12) and getter is not None:
        # No debug info: the function starts by loading the counter (a 64-bit
        # RIP-relative mov).  Every such load in its first bytes is a candidate.
        code = gdb.selected_inferior().read_memory(getter, 64).tobytes()
        for i in range(len(code) - 7):
            rex, opcode, modrm = code[i], code[i + 1], code[i + 2]
            if rex in (0x48, 0x4C) and opcode == 0x8B and modrm & 0xC7 == 0x05:
                (displacement,) = struct.unpack_from("<i", code, i + 3)
                found.append(getter + i + 7 + displacement)
    return found


def _block_counter(calls: Calls) -> Optional[int]:
    """The address of the block count, proven: one block over 512 bytes from PyObject_Malloc
    counts one up, and PyObject_Free counts it down again.  None if no candidate behaves so."""
    target = gdb.selected_inferior()
    for address in _counter_candidates(calls):
        try:
            (before,) = COUNTER.unpack(target.read_memory(address, COUNTER.size).tobytes())
        except gdb.MemoryError:
            continue
        block = calls.call("PyObject_Malloc", 4096)
        if block == 0:
            return None
        (allocated,) = COUNTER.unpack(target.read_memory(address, COUNTER.size).tobytes())
        calls.call("PyObject_Free", block, ret="void")
        (freed,) = COUNTER.unpack(target.read_memory(address, COUNTER.size).tobytes())
        if allocated == before + 1 and freed == before:
            return address
    return None


def route_to_malloc(calls: Calls) -> Optional[RoutedAllocators]:
    """Make the MEM and OBJ domains allocate with malloc; None (nothing changed) when not safe to."""
    if calls.version < (3, 8) or inf.minimal_symbol_address("_PyMem_GetCurrentAllocatorName") is None:
        return None
    target = gdb.selected_inferior()
    name = calls.call("_PyMem_GetCurrentAllocatorName")
    if name == 0 or target.read_memory(name, 9).tobytes() != b"pymalloc\0":
        return None
    # Subinterpreters (3.12+: with their own allocator state) keep their own counts.
    if calls.call("PyInterpreterState_Next", calls.call("PyInterpreterState_Head")) != 0:
        return None
    block_counter = _block_counter(calls)
    if block_counter is None:
        return None
    size = ALLOCATOR_STRUCT.size
    buffer = calls.call(calls.raw_malloc, 4 * size)
    if buffer == 0:
        return None
    raw, routed = buffer + 2 * size, buffer + 3 * size
    calls.call("PyMem_GetAllocator", PYMEM_DOMAIN_MEM, buffer, ret="void")
    calls.call("PyMem_GetAllocator", PYMEM_DOMAIN_OBJ, buffer + size, ret="void")
    calls.call("PyMem_GetAllocator", PYMEM_DOMAIN_RAW, raw, ret="void")
    mem = ALLOCATOR_STRUCT.unpack(target.read_memory(buffer, size).tobytes())
    obj = ALLOCATOR_STRUCT.unpack(target.read_memory(buffer + size, size).tobytes())
    raw_functions = ALLOCATOR_STRUCT.unpack(target.read_memory(raw, size).tobytes())
    if mem != obj or 0 in obj[1:] or 0 in raw_functions[1:]:
        # "pymalloc" means both domains hold pymalloc's functions; anything else: leave it be.
        calls.call(calls.raw_free, buffer, ret="void")
        return None
    # The raw domain's malloc and calloc ignore their context; pymalloc's realloc and free ignore theirs.
    routed_functions = ALLOCATOR_STRUCT.pack(0, raw_functions[1], raw_functions[2], obj[3], obj[4])
    target.write_memory(routed, routed_functions)
    (blocks_before,) = COUNTER.unpack(target.read_memory(block_counter, COUNTER.size).tobytes())
    calls.call("PyMem_SetAllocator", PYMEM_DOMAIN_MEM, routed, ret="void")
    try:
        calls.call("PyMem_SetAllocator", PYMEM_DOMAIN_OBJ, routed, ret="void")
    except gdb.error:
        calls.cleanup("PyMem_SetAllocator", PYMEM_DOMAIN_MEM, buffer)  # never leave one domain routed
        raise
    return RoutedAllocators(buffer, routed_functions, block_counter, blocks_before)


def restore(calls: Calls, routed: Optional[RoutedAllocators]) -> Optional[str]:
    """Put the target's own allocators back (a no-op for None); a warning if that could not be done.

    A domain is only written back while it still holds what route_to_malloc put
    there: had the payload installed hooks over it (tracemalloc.start()), writing
    the old allocator would drop them.  The injector never routes such payloads."""
    if routed is None:
        return None
    target = gdb.selected_inferior()
    left = []
    for domain, saved, name in ((PYMEM_DOMAIN_OBJ, routed.saved_obj, "object"), (PYMEM_DOMAIN_MEM, routed.saved_mem, "mem")):
        if calls.gone:
            return None
        calls.call("PyMem_GetAllocator", domain, routed.spare, ret="void")
        if target.read_memory(routed.spare, ALLOCATOR_STRUCT.size).tobytes() == routed.routed:
            calls.call("PyMem_SetAllocator", domain, saved, ret="void")
        else:
            left.append(name)
    if not left:
        # The payload's blocks were never counted but were uncounted when freed.  Blocks
        # other threads allocated meanwhile and still hold will be uncounted when they go.
        target.write_memory(routed.block_counter, COUNTER.pack(routed.blocks_before))
    calls.cleanup(calls.raw_free, routed.buffer)
    if left:
        return ("the payload changed the target's %s allocator meanwhile, so it was left as the payload set it"
                % " and ".join(left))
    if not calls.gone and calls.call("PyInterpreterState_Next", calls.call("PyInterpreterState_Head")) != 0:
        return ("an interpreter was started while the payload ran; its sys.getallocatedblocks() "
                "may read low by the blocks it freed meanwhile")
    return None


def give_back_free_memory(calls: Calls) -> None:
    """glibc's malloc_trim(0): return the pages of freed heap memory to the system.

    It takes each arena's own lock, so it is safe wherever a malloc would be
    (our calls are made at a safe point).  Not glibc (musl): nothing to do."""
    if inf.minimal_symbol_address("malloc_trim") is not None:
        calls.cleanup("malloc_trim", 0)
