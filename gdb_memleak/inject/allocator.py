"""Keep a payload's temporaries out of the target's pymalloc arenas, and give their memory back.

A payload allocates a few MB of short-lived objects (ids, chunk lists,
counting dicts).  Under pymalloc they leave the target bigger even once freed:
pools carved from arenas stay resident, kept there by the target's own objects
allocated meanwhile.  Measured 2026-12-01 on a 65 MB service, py-heap --largest 2
+ py-cycles per session: +1.4 MB after the first session, +2.3 MB after the
second, then flat, without what follows.

So while the payload runs, the "mem" and "object" domains get a malloc and a
calloc of ours (stub.allocator_hook, machine code in the padding) that send the
payload's own thread to the raw domain (glibc's malloc) and every other thread
to pymalloc, as before.  realloc and free stay pymalloc's: they hand any block
outside pymalloc's arenas to the raw allocator, which is how CPython frees
every object over 512 bytes, so the pair is sound before, during and after.
A routed block is counted in the counter behind sys.getallocatedblocks(), as
pymalloc counts the blocks it hands to the raw allocator, so the count stays
right whoever frees it and whenever.

Stop 10 routed every thread and wrote the count back afterwards: the count
drifted on busy targets (other threads' blocks), a child forked meanwhile
allocated through malloc for life, and a gdb killed mid-payload left it all
routed (issue 17).  Now the hooks send other threads, and any child, to
pymalloc, and the allocators are put back by the stub's way back, with gdb or
without.

Only under the stock allocators ("pymalloc": not the debug hooks, not
tracemalloc, not a custom allocator), on 3.8+, with one interpreter, once the
counter is found and proven.  Otherwise nothing is changed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import gdb

from ..gdbside import inferior as inf
from . import counter_scan, stub

if TYPE_CHECKING:
    from .calls import Caller

PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ = 0, 1, 2
# PyMemAllocatorEx: ctx, malloc, calloc, realloc, free (five pointers, every version).
ALLOCATOR_STRUCT = struct.Struct("<5Q")
COUNTER = struct.Struct("<q")  # Py_ssize_t
# The routing area (landing.ROUTING_AREA bytes): two hooks, then three structs.
_MALLOC_HOOK, _CALLOC_HOOK, _ROUTED, _SAVED_MEM, _SAVED_OBJ = 0, 96, 192, 232, 272


@dataclass
class Routing:
    area: int

    @property
    def routed(self) -> int:
        return self.area + _ROUTED

    def restore_calls(self) -> list[tuple[str, tuple]]:
        return [("PyMem_SetAllocator", (PYMEM_DOMAIN_MEM, self.area + _SAVED_MEM)),
                ("PyMem_SetAllocator", (PYMEM_DOMAIN_OBJ, self.area + _SAVED_OBJ))]


def _counter_candidates(calls: Caller) -> Iterator[int]:
    """Addresses that may hold the interpreter's count of raw-allocated (3.8: all) blocks, one at a
    time: gdb's lookup of a name the debug info lacks searches all of it (&_Py_AllocatedBlocks on
    3.11: 32 ms of the stop, 2026-12-03), so the next name is looked up only when the last failed.
    3.12+: first the one word of the interpreter's data that counts a block (counter_scan.py)."""
    if calls.version >= (3, 12):
        scanned = _scanned_counter(calls)
        if scanned is not None:
            yield scanned
        interp = calls.call("PyInterpreterState_Get")
        expressions = ["&((struct _is *)%d)->obmalloc->mgmt.raw_allocated_blocks" % interp,
                       "&((struct _is *)%d)->obmalloc.mgmt.raw_allocated_blocks" % interp]
    else:
        expressions = ["&raw_allocated_blocks", "&_Py_AllocatedBlocks"]
    found = False
    for expression in expressions if inf.runtime_may_have_debug_info() else []:  # debug info
        try:
            address = int(gdb.parse_and_eval(expression))
        except (gdb.error, RuntimeError):
            continue
        found = True
        yield address
    getter = inf.minimal_symbol_address("_Py_GetAllocatedBlocks")
    if not found and calls.version < (3, 12) and getter is not None:
        # No debug info: the function starts by loading the counter (a 64-bit
        # RIP-relative mov).  Every such load in its first bytes is a candidate.
        code = gdb.selected_inferior().read_memory(getter, 64).tobytes()
        for i in range(len(code) - 7):
            rex, opcode, modrm = code[i], code[i + 1], code[i + 2]
            if rex in (0x48, 0x4C) and opcode == 0x8B and modrm & 0xC7 == 0x05:
                (displacement,) = struct.unpack_from("<i", code, i + 3)
                yield getter + i + 7 + displacement


def _scanned_counter(calls: Caller) -> Optional[int]:
    code = inf.minimal_symbol_address("PyObject_Malloc")
    if code is None:
        return None
    block = []

    def allocate() -> None:
        block.append(calls.call("PyObject_Malloc", 4096))

    def free() -> None:
        if block and block[0]:
            calls.call("PyObject_Free", block[0], ret="void")

    return counter_scan.find(calls.pid, code, allocate, free)


def _read_counter(address: int) -> int:
    return COUNTER.unpack(gdb.selected_inferior().read_memory(address, COUNTER.size).tobytes())[0]


def _block_counter(calls: Caller) -> Optional[int]:
    """The address of the block count, proven: one block over 512 bytes from PyObject_Malloc
    counts one up, and PyObject_Free counts it down again.  None if no candidate behaves so."""
    for address in _counter_candidates(calls):
        try:
            before = _read_counter(address)
        except gdb.MemoryError:
            continue
        block = calls.call("PyObject_Malloc", 4096)
        if block == 0:
            return None
        allocated = _read_counter(address)
        calls.call("PyObject_Free", block, ret="void")
        if allocated == before + 1 and _read_counter(address) == before:
            return address
    return None


def _allocators(calls: Caller, domains: tuple[int, ...]) -> list[tuple]:
    """The target's current allocators of `domains`, read through a scratch buffer."""
    size = ALLOCATOR_STRUCT.size
    buffer = calls.call(calls.raw_malloc, size * len(domains))
    if buffer == 0:
        return []
    try:
        calls.call_many([("PyMem_GetAllocator", (domain, buffer + i * size)) for i, domain in enumerate(domains)])
        memory = gdb.selected_inferior().read_memory(buffer, size * len(domains)).tobytes()
    finally:
        calls.cleanup(calls.raw_free, buffer)
    return [ALLOCATOR_STRUCT.unpack_from(memory, i * size) for i in range(len(domains))]


def route_payload_thread(calls: Caller) -> Optional[Routing]:
    """Route the parked thread's MEM and OBJ allocations to malloc; None (nothing changed) when not safe to."""
    if calls.version < (3, 8) or inf.minimal_symbol_address("_PyMem_GetCurrentAllocatorName") is None:
        return None
    name = calls.call("_PyMem_GetCurrentAllocatorName")
    if name == 0 or gdb.selected_inferior().read_memory(name, 9).tobytes() != b"pymalloc\0":
        return None
    # Subinterpreters (3.12+: with their own allocator state) keep their own counts.
    if calls.call("PyInterpreterState_Next", calls.call("PyInterpreterState_Head")) != 0:
        return None
    counter = _block_counter(calls)
    if counter is None:
        return None
    found = _allocators(calls, (PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ, PYMEM_DOMAIN_RAW))
    if len(found) != 3:
        return None
    mem, obj, raw = found
    if mem != obj or 0 in obj[1:] or 0 in raw[1:]:
        return None  # "pymalloc" means both domains hold pymalloc's functions; anything else: leave it be
    thread = int(gdb.newest_frame().read_register("fs_base"))
    area = calls.routing_area
    routing = Routing(area)
    write = gdb.selected_inferior().write_memory
    write(area + _MALLOC_HOOK, stub.allocator_hook(area + _MALLOC_HOOK, payload_thread=thread, counter=counter,
                                                   routed=(raw[0], raw[1]), own=(obj[0], obj[1])))
    write(area + _CALLOC_HOOK, stub.allocator_hook(area + _CALLOC_HOOK, payload_thread=thread, counter=counter,
                                                   routed=(raw[0], raw[2]), own=(obj[0], obj[2])))
    write(area + _ROUTED, ALLOCATOR_STRUCT.pack(0, area + _MALLOC_HOOK, area + _CALLOC_HOOK, obj[3], obj[4]))
    write(area + _SAVED_MEM, ALLOCATOR_STRUCT.pack(*mem))
    write(area + _SAVED_OBJ, ALLOCATOR_STRUCT.pack(*obj))
    # The block that routes already carries the way back: from here on, every block puts
    # the allocators back on its way out unless gdb chains the next one.
    calls.call_many([("PyMem_SetAllocator", (PYMEM_DOMAIN_MEM, routing.routed)),
                     ("PyMem_SetAllocator", (PYMEM_DOMAIN_OBJ, routing.routed))],
                    epilogue=routing.restore_calls() + calls.epilogue)
    return routing


def unroute(calls: Caller, routing: Optional[Routing]) -> Optional[str]:
    """Put the target's own allocators back (a no-op for None); a warning if that could not be done.

    A domain is only written back while it still holds our routing: had another thread
    installed hooks over it meanwhile (tracemalloc.start()), writing the old allocator
    would drop them.  Our hooks then stay, and so does the padding they live in."""
    if routing is None or calls.gone:
        return None
    restore = routing.restore_calls()
    rest = [c for c in calls.epilogue if c not in restore]
    current = _allocators(calls, (PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ))
    ours = gdb.selected_inferior().read_memory(routing.routed, ALLOCATOR_STRUCT.size).tobytes()
    if len(current) != 2:  # could not look: put them back anyway
        current = [ALLOCATOR_STRUCT.unpack(ours)] * 2
    still = [r for r, a in zip(restore, current) if ALLOCATOR_STRUCT.pack(*a) == ours]
    if still:
        calls.call_many(still, epilogue=rest)
    else:
        calls.epilogue = rest
    if len(still) == len(restore):
        return None
    calls.keep_padding = True
    return "another thread changed the target's allocators while the payload ran; they were left as that thread set them"


def empty_python2_free_lists(calls: Caller) -> None:
    """Python 2.7 keeps every block of int and float objects it ever made, for reuse by
    ints and floats only: a payload's ids and sizes left a 30 MB 2.7 service 2.9-3.0 MB bigger
    for good after one py-cycles, and 0.6-1.9 MB with these lists emptied (2026-12-02).  A full
    collection would empty them (2.7's gc calls these two); we call them instead, with the
    GIL held, before giving the freed pages back.  3.x has no such lists."""
    if calls.version >= (3, 0):
        return
    for name in ("PyInt_ClearFreeList", "PyFloat_ClearFreeList"):
        if inf.minimal_symbol_address(name) is not None:
            calls.cleanup(name)


def give_back_free_memory(calls: Caller) -> None:
    """glibc's malloc_trim(0): return the pages of freed heap memory to the system.

    It takes each arena's own lock, so it is safe wherever a malloc would be
    (our calls are made at a safe point).  Not glibc (musl): nothing to do."""
    if inf.minimal_symbol_address("malloc_trim") is not None:
        calls.cleanup("malloc_trim", 0)
