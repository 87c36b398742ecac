"""What py-heap and py-cycles share when they read memory instead of running in the target (issue 16).

Used on request (--read-only) on a live stopped target, by itself on a core file, and when
no safe point comes in time.  The gdb side (gdbside/memlayout.py) gives the layout, the roots
and the memory; the walks (host/heapwalk.py, host/cyclewalk.py) do not touch gdb.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import MemleakError, NoSafePointInTime, OptedOut, Refused
from ..gdbside import images, memlayout
from ..gdbside import inferior as inf
from ..host import procfs
from ..host.pyobjects import Reader
from ..host.pyobjects27 import Reader27

# A live target is stopped while it is read: a walk gives up after this long.
LIVE_LIMIT = 120.0
# Read from memory without being asked only up to this RSS: the walk stops the whole process,
# 1.7-2 s for 1M records in a 460 MB target (docs/limits.md), so about 1 s here at most.
AUTO_READ_MAX_RSS = 256 << 20


@dataclass
class Source:
    """An open memory image of the target, with the layout and roots to walk it."""
    reader: Reader
    roots: dict[str, Any]
    core: bool
    pid: Optional[int]
    started: float

    @property
    def deadline(self) -> Optional[float]:
        return None if self.core else self.started + LIVE_LIMIT

    def finish(self, doc: dict[str, Any]) -> float:
        """Stamp `doc` with where it was read from and how long that took; returns the seconds."""
        seconds = time.monotonic() - self.started
        doc["source"] = "core" if self.core else "process"
        doc["seconds"] = round(seconds, 3)
        return seconds

    def footer(self, seconds: float) -> str:
        where = "a core file" if self.core else "the stopped process's memory"
        return "(memory backend: read from %s, nothing run in the target, %.2f s)" % (where, seconds)


def wanted(args: argparse.Namespace) -> bool:
    """--read-only given, or a core file loaded (nothing could run in it)."""
    if getattr(args, "read_only", False):
        return True
    return inf.is_core(inf.selected_inferior())


def readable(version: tuple[int, int]) -> bool:
    """Whether this target's heap can be read from memory (version and debug info)."""
    try:
        memlayout.require_supported(version)
    except Refused:
        return False
    return True


def instead(error: MemleakError, pid: int, command: str) -> str:
    """Why `command` reads the target's memory instead of running in it (`error`: no safe point came in
    time, or the target opted out of remote code execution); raises `error` again where it cannot read
    it (another version, no debug info) or should not unasked (a big target, stopped for the whole walk)."""
    if not readable(inf.require_python()):
        raise error
    if (procfs.proc_status(pid).get("VmRSS") or 0) > AUTO_READ_MAX_RSS:
        if isinstance(error, NoSafePointInTime):
            raise NoSafePointInTime(str(error), hint="%s --read-only reads its memory instead, with the whole "
                                                     "process stopped meanwhile: about 4 ms per MB of RSS" % command)
        raise error
    if isinstance(error, OptedOut):
        return "the target opted out of remote code execution (%s, PEP 768); --force runs %s in it anyway" % (
            error.why, command)
    return str(error)


@contextmanager
def opened(command, args: argparse.Namespace, instead: Optional[str] = None) -> Iterator[Source]:
    """The target's memory, ready to walk.  `instead`: why the command could not run in the target (no
    safe point in time), said before reading."""
    inferior = inf.selected_inferior()
    core = inf.is_core(inferior)
    if not core:
        inf.require_stopped(inferior)
        # the layouts must come from the target's own files (a container may run another libpython)
        images.require_matched_images()
    if core and not getattr(args, "read_only", False):
        command.note("a core file: read from memory, as --read-only (nothing can run in a core)")
    if instead is not None:
        command.note("%s; read from memory instead, as --read-only (the whole process stopped meanwhile)"
                     % instead.replace(" (try again, or raise --timeout)", ""))
    version = inf.require_python()
    memlayout.require_supported(version)
    started = time.monotonic()
    L = memlayout.layout(version)
    roots = memlayout.roots(L)
    image = memlayout.image(inferior, core)
    try:
        reader = Reader27(image, L) if version == (2, 7) else Reader(image, L)
        yield Source(reader, roots, core, None if core else inferior.pid, started)
    finally:
        image.close()
