"""gdb's breakpoints on the dynamic linker's shared-library events, left in the target by a gdb that
was killed while the target ran, put back (issue 17).

gdb puts an int3 at ld.so's `_dl_debug_state` (its internal "shlib events" breakpoint) each time it
resumes the target, and takes it out when the target stops.  A gdb SIGKILLed while the target ran (a
payload runs for seconds) leaves it in: the target then dies of SIGTRAP at its next dlopen (a C
extension's first import, ctypes.CDLL), 3 of 3 in a helper's trial (2026-12-05), where 6 of 6 kills
during a py-heap left it on pyenv 3.11 (gdb 13, 16 and 18 alike).  A later gdb does not know it: it
takes the int3 for the byte it replaces (its breakpoint's shadow) and puts it back each time, for good.
So, while the target is stopped and gdb's own breakpoints are out, each location of gdb's shlib-event
breakpoints that holds an int3 where its file has another byte gets the file's byte back."""

from __future__ import annotations

import re
from typing import Optional

import gdb

from ..host import stray_traps

_ENTRY = re.compile(r"^(-?\d+)(\.\d+)?\s")
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]+\b")


def event_addresses() -> set[int]:
    """Where gdb's shlib-event breakpoints are (`maint info breakpoints`: one per probe, or
    _dl_debug_state)."""
    try:
        text = gdb.execute("maint info breakpoints", to_string=True)
    except gdb.error:
        return set()
    entries: set[str] = set()
    found: set[int] = set()
    for line in text.splitlines():
        entry = _ENTRY.match(line)
        if entry is None:
            continue
        if entry.group(2) is None and "shlib events" in line:
            entries.add(entry.group(1))
        if entry.group(1) in entries:
            found.update(int(a, 16) for a in _ADDRESS.findall(line))
    return found


def put_back(pid: int, addresses: Optional[set[int]] = None) -> list[int]:
    """The addresses given their file's byte back (gdb writes it, so a breakpoint of its own that is
    inserted keeps its shadow right).  `addresses`: event_addresses(), if read already."""
    fixed = []
    for address, original in stray_traps.left_traps(pid, event_addresses() if addresses is None else addresses):
        try:
            gdb.selected_inferior().write_memory(address, bytes([original]))
        except gdb.error:
            continue
        fixed.append(address)
    return fixed


def hidden_bytes(addresses: set[int]) -> list[list[int]]:
    """[address, byte] for each of gdb's shlib-event breakpoints (event_addresses()): the byte its int3
    hides there (gdb reads through its breakpoints), for a payload to put back by itself if it sees its
    gdb gone (payloads/_gdb_memleak_common.py, _take_out_traps).  Read after put_back."""
    found = []
    for address in sorted(addresses):
        try:
            byte = bytes(gdb.selected_inferior().read_memory(address, 1))[0]
        except gdb.error:
            continue
        if byte != stray_traps.INT3:
            found.append([address, byte])
    return found
