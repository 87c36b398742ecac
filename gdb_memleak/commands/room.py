"""The memory a payload may use in the target, or a one-line refusal before anything runs in it.

The payloads that grow with the heap refuse themselves once they know how many objects
there are (payloads/_gdb_memleak_release.py, _no_room); they are given the room found
here.  What does not depend on the heap is checked here first: under the target's own
address-space limits (host/limits.py, address_room), the thread the payload runs in
can take more than the whole room before the payload starts.
"""

from __future__ import annotations

from typing import Any

from ..errors import NoRoom
from ..host import limits
from ..render.common import human_size

# What the census and py-cycles count on besides their per-object bookkeeping (_BYTES_FIXED
# and _CENSUS_BYTES_FIXED in payloads/cycles.py and heap.py).
PAYLOAD_FIXED = 6 << 20
CGROUP_FROM = "to the machine or the target's cgroup"


def budget(pid: int, force: bool, own_thread: bool, fixed: int = PAYLOAD_FIXED) -> dict[str, Any]:
    """The payload's memory_available (None: unknown, or --force) and, when the tightest is one of
    the target's own limits, memory_from (what the payload's refusal says it is).  NoRoom when
    not even `fixed`, and what the payload's own thread maps first, would fit under them."""
    if force:
        return {"memory_available": None}
    available = limits.available_to(pid)
    address = limits.address_room(pid, own_thread)
    if address is None or (available is not None and available <= address.room):
        return {"memory_available": available}
    if address.room < fixed:
        raise NoRoom("refused: %s; --force runs it anyway" % too_tight(address, fixed, "%s to start" % human_size(fixed)))
    after = ", after the %s its own thread maps" % human_size(address.thread) if address.thread else ""
    return {"memory_available": address.room, "memory_from": "under the target's %s%s" % (address.limit, after)}


def too_tight(address: limits.AddressRoom, need: int, what: str) -> str:
    """'it would need ... and its RLIMIT_AS ... leaves ...': `need` bytes (`what` they are for)
    and what the payload's own thread maps, against the limit that is too tight for them."""
    arena = limits.THREAD_ARENA if address.limit == "RLIMIT_AS" else 0
    if address.thread and arena:
        what += ", and for a thread of its own a glibc arena (%s of address space while it is made) and a stack of %s" % (
            human_size(arena), human_size(address.thread - arena))
    elif address.thread:
        what += ", and a stack of %s for a thread of its own" % human_size(address.thread)
    return ("it would need about %s of %s in the target (%s), and its %s of %s leaves %s above the %s it maps"
            % (human_size(need + address.thread), "address space" if address.limit == "RLIMIT_AS" else "data",
               what, address.limit, human_size(address.maximum), human_size(max(0, address.maximum - address.used)),
               human_size(address.used)))
