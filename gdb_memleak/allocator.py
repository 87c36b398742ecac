"""Give the memory a payload's temporaries used back to the system.

Stop 10 also routed the payload's allocations to malloc (PyMem_SetAllocator
around the payload) to keep them out of pymalloc's arenas.  That is gone: a
child forked by another thread while the payload ran kept the routing for
life, the block count behind sys.getallocatedblocks() drifted by about 50k per
session on busy targets, and a gdb killed mid-payload left it routed
(issue 17).  What it saved was about 0.5 MB on a small service.
"""

from __future__ import annotations

from typing import Protocol

from . import inferior as inf


class Calls(Protocol):
    """What inject.calls.Caller offers."""

    def cleanup(self, function: str, *args: int) -> None: ...


def give_back_free_memory(calls: Calls) -> None:
    """glibc's malloc_trim(0): return the pages of freed heap memory to the system.

    It takes each arena's own lock, so it is safe wherever a malloc would be
    (our calls are made at a safe point).  Not glibc (musl): nothing to do."""
    if inf.minimal_symbol_address("malloc_trim") is not None:
        calls.cleanup("malloc_trim", 0)
