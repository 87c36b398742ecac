"""How much more memory the target may use before something kills it.

A payload that needs more memory than the target can get is worse than no
answer: the kernel's (or the container's) OOM killer ends the service.  So the
commands whose payloads grow with the heap (py-cycles, py-heap --backend guppy)
compare what they will need with the smaller of:

* MemAvailable in /proc/meminfo (the whole machine), and
* the room left under the memory limit of the target's cgroup and of each of
  its ancestors (cgroup v2 memory.max, v1 memory.limit_in_bytes), which is what
  a container's OOM killer goes by.
"""

from __future__ import annotations

import os
from typing import Optional

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
