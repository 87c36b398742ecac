"""How much more memory the target may use before something kills it.

A payload that needs more memory than the target can get is worse than no
answer: the kernel's (or the container's) OOM killer ends the service.  So the
commands whose payloads grow with the heap (py-cycles, py-heap --backend guppy)
compare what they will need with the smaller of:

* MemAvailable in /proc/meminfo (the whole machine), and
* the room left under the memory limit of the target's cgroup and of each of
  its ancestors (cgroup v2 memory.max, v1 memory.limit_in_bytes), which is what
  a container's OOM killer goes by.

A target may also limit its own address space (setrlimit RLIMIT_AS, or
RLIMIT_DATA, which since Linux 4.7 counts private writable mappings: malloc's
mmaps, thread stacks).  There a payload that does not fit makes the target's own
allocations fail (MemoryError in its threads), and glibc retried a failing
arena mmap in the payload's thread for minutes, GIL held: address_room.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from . import procfs

CGROUP_ROOTS_V2 = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")
CGROUP_ROOT_V1 = "/sys/fs/cgroup/memory"


def _read_int(path: str) -> Optional[int]:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (v2): no limit


def machine_available() -> Optional[int]:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _ancestors(path: str) -> list[str]:
    """'/a/b' -> ['/a/b', '/a', '/']."""
    out = [path]
    while path not in ("/", ""):
        path = os.path.dirname(path)
        out.append(path or "/")
    return out


def cgroup_room(pid: int) -> Optional[int]:
    """Bytes left under the tightest memory limit over the target's cgroup and its ancestors."""
    try:
        with open("/proc/%d/cgroup" % pid) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    room: Optional[int] = None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        candidates = []
        if controllers == "":  # v2
            for root in CGROUP_ROOTS_V2:
                candidates += [(root + p, "memory.max", "memory.current") for p in _ancestors(path)]
        elif "memory" in controllers.split(","):  # v1
            candidates += [(CGROUP_ROOT_V1 + p, "memory.limit_in_bytes", "memory.usage_in_bytes") for p in _ancestors(path)]
        for directory, limit_file, usage_file in candidates:
            limit = _read_int(os.path.join(directory.rstrip("/") or "/", limit_file))
            usage = _read_int(os.path.join(directory.rstrip("/") or "/", usage_file))
            if limit is None or usage is None or limit >= 1 << 60:  # v1 writes "no limit" as ~2**63
                continue
            left = max(0, limit - usage)
            room = left if room is None else min(room, left)
    return room


def available_to(pid: int) -> Optional[int]:
    """The smaller of the machine's available memory and the target's cgroup room; None if neither is known."""
    known = [n for n in (machine_available(), cgroup_room(pid)) if n is not None]
    return min(known) if known else None


# What the payload's own thread (inject/own_thread.py) maps before the payload allocates anything:
# glibc reserves a new arena's whole heap at once, HEAP_MAX_SIZE (64 MiB on 64-bit; PROT_NONE until
# used, so RLIMIT_AS counts it and RLIMIT_DATA does not), and the thread's stack (glibc's default is
# RLIMIT_STACK; 8 MiB is counted when that is unlimited).  To align it, glibc's new_heap maps twice
# that and trims it: with less than 128 MiB of room a thread got no arena at all (74-124 MiB of room,
# a reviewer's trial, 2026-12-05), and each of its mallocs then failed to make one and took a page
# of address space of its own.
THREAD_ARENA = 128 << 20
DEFAULT_STACK = 8 << 20
_LIMIT_ROWS = {"Max address space": "RLIMIT_AS", "Max data size": "RLIMIT_DATA", "Max stack size": "RLIMIT_STACK"}


def soft_limits(pid: int) -> dict[str, int]:
    """The target's finite soft RLIMIT_AS, RLIMIT_DATA and RLIMIT_STACK in bytes, from /proc/PID/limits."""
    try:
        with open("/proc/%d/limits" % pid) as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        for label, name in _LIMIT_ROWS.items():
            if line.startswith(label):
                words = line[len(label):].split()  # soft, hard, units; "unlimited" is no limit
                if words and words[0].isdigit():
                    out[name] = int(words[0])
    return out


@dataclass(frozen=True)
class AddressRoom:
    """The room a payload has under one of the target's own limits."""

    limit: str  # "RLIMIT_AS" or "RLIMIT_DATA"
    maximum: int
    used: int  # VmSize or VmData
    thread: int  # what the payload's own thread maps of it first (0 without one)

    @property
    def room(self) -> int:
        return max(0, self.maximum - self.used - self.thread)


def address_room(pid: int, own_thread: bool) -> Optional[AddressRoom]:
    """The tighter of the room above VmSize under RLIMIT_AS and above VmData under RLIMIT_DATA, less
    what a thread of the payload's own maps first when `own_thread`; None when neither is limited.
    (The census's bookkeeping partly lands in the arena already reserved: counting both is on the safe side.)"""
    found = soft_limits(pid)
    status = procfs.proc_status(pid)
    stack = found.get("RLIMIT_STACK") or DEFAULT_STACK
    rooms = []
    for limit, used, thread in (("RLIMIT_AS", "VmSize", THREAD_ARENA + stack), ("RLIMIT_DATA", "VmData", stack)):
        if limit in found and used in status:
            rooms.append(AddressRoom(limit, found[limit], status[used], thread if own_thread else 0))
    return min(rooms, key=lambda r: r.room) if rooms else None
