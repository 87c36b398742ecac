"""py-heap --read-only: the census (and --largest) read from memory, nothing run in the target (issue 16, phase 1).

Used on request on a live stopped target, and on its own on a core file.  The
gdb side (gdbside/memlayout.py) gives the layout, the roots and the memory; the
walk (host/heapwalk.py) does not touch gdb.
"""

from __future__ import annotations

import argparse
import time
from typing import Optional

from ..errors import Refused, TargetUnavailable, UsageError
from ..gdbside import images, memlayout
from ..gdbside import inferior as inf
from ..gdbside.invocation import Invocation
from ..host import heapwalk, procfs
from ..host.pyobjects import Reader
from ..render.text import format_heap, outside_python_note
from . import type_names

# A live target is stopped while it is read: the walk gives up after this long.
LIVE_LIMIT = 120.0


def wanted(args: argparse.Namespace) -> bool:
    """--read-only given, or a core file loaded (nothing could run in it)."""
    if getattr(args, "read_only", False):
        return True
    inferior = inf.selected_inferior()
    return inf.is_core(inferior)


def readable(version: tuple[int, int]) -> bool:
    """Whether this target's heap can be read from memory (version and debug info)."""
    try:
        memlayout.require_supported(version)
    except Refused:
        return False
    return True


def run(command, inv: Invocation, args: argparse.Namespace, instead: Optional[str] = None) -> None:
    """`instead`: why the injected census could not run (no safe point in time): said, then read from memory."""
    inferior = inf.selected_inferior()
    core = inf.is_core(inferior)
    if not core:
        inf.require_stopped(inferior)
        # the layouts must come from the target's own files (a container may run another libpython)
        images.require_matched_images()
    asked = getattr(args, "read_only", False)
    why = "with --read-only" if asked else "on a core file"
    if args.marks or args.drop_mark or args.mark or args.since:
        raise UsageError("--mark, --since, --marks and --drop-mark keep their data in the target: not %s" % why)
    if args.backend == "guppy":
        raise UsageError("--backend guppy runs in the target: not %s" % why)
    if core and not asked:
        command.note("a core file: read from memory, as --read-only (nothing can run in a core)")
    if instead is not None:
        command.note("%s; read from memory instead, as --read-only (the whole process stopped meanwhile)"
                     % instead.replace(" (try again, or raise --timeout)", ""))
    version = inf.require_python()
    memlayout.require_supported(version)
    started = time.monotonic()
    L = memlayout.layout(version)
    roots = memlayout.roots(version)
    image = memlayout.image(inferior, core)
    try:
        reader = Reader(image, L)
        try:
            doc = heapwalk.census(reader, roots, args.top, None if core else started + LIVE_LIMIT, args.largest)
        except heapwalk.WalkError as e:
            raise TargetUnavailable("--read-only: %s" % e) from None
    finally:
        image.close()
    seconds = time.monotonic() - started
    where = "a core file" if core else "the stopped process's memory"
    doc["source"] = "core" if core else "process"
    doc["seconds"] = round(seconds, 3)
    add_process_memory(command, None if core else inferior.pid, doc)
    type_names.remember_heap(doc)
    if args.json:
        command.emit_json("heap", doc)
        return
    command.out(format_heap(doc, command.styles))
    command.out("(memory backend: read from %s, nothing run in the target, %.2f s)" % (where, seconds))


def add_process_memory(command, pid: int | None, doc: dict) -> None:
    """The target's resident memory beside its Python objects in `doc` (None without a process),
    and a note when most of it is not Python objects; both backends' documents carry it."""
    doc["process_memory"] = None if pid is None else procfs.memory_beside_python(pid, doc["total_size"])
    outside = outside_python_note(doc["process_memory"], doc["total_size"])
    if outside:
        command.note(outside)
