"""What py-heap and py-cycles share when they read memory instead of running in the target (issue 16).

Used on request (--read-only) on a live stopped target, by itself on a core file, and when
no safe point comes in time.  The gdb side (gdbside/memlayout.py) gives the layout, the roots
and the memory; the walks (host/heapwalk.py, host/cyclewalk.py) do not touch gdb.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import MemleakError, NoSafePointInTime, OptedOut, Refused
from ..gdbside import images, memlayout
from ..gdbside import inferior as inf
from ..gdbside.settings import SETTINGS
from ..host import procfs
from ..host.pyobjects import Reader
from ..host.pyobjects27 import Reader27

# A live target is stopped while it is read: a walk gives up after this long.
LIVE_LIMIT = 120.0
# What reading a live target's memory stops it for: 0.29-0.31 s for a 13 MB target busy in one C call,
# 0.17 s for an idle 31 MB one, 1.1-1.4 s for 100,000 records in 72 MB (pyenv 3.11, 2026-12-05).  The
# estimate, a fixed part and a part per MB of RSS, is above each of those.  No live target is read
# within issue 13's 100 ms, so the read is made unasked only under a `set py-memleak max-stop` raised
# for it; the walk itself is not cut short at that estimate.
STOP_MS_FIXED = 100
STOP_MS_PER_MB = 20
# How the message of no safe point in time ends (inject/safepoint.py): not said when the memory is read.
RETRY = " (try again, or raise --timeout)"


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
    it (another version, no debug info) or should not unasked: the walk would stop the whole process
    longer than `set py-memleak max-stop` allows."""
    if not readable(inf.require_python()):
        raise error
    rss = procfs.proc_status(pid).get("VmRSS")
    rss_mb = (rss or 0) / (1 << 20)
    stop_ms = STOP_MS_FIXED + rss_mb * STOP_MS_PER_MB
    if not rss or stop_ms > SETTINGS.max_stop_ms:  # (an RSS that cannot be read: no estimate, no read)
        read = ("%s --read-only reads its memory instead, stopping the whole process about %.1f s (%.0f MB of "
                "RSS); `set py-memleak max-stop %d` lets %s do that by itself"
                % (command, stop_ms / 1000, rss_mb, math.ceil(stop_ms / 1000) * 1000, command))
        if isinstance(error, NoSafePointInTime):
            raise NoSafePointInTime(str(error).replace(RETRY, ""), hint="try again, raise --timeout, or: " + read)
        error.hint = read  # (an opted-out target's message names --force already)
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
                     % instead.replace(RETRY, ""))
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
