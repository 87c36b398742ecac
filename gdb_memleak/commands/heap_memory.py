"""py-heap --read-only: the census (and --largest) read from memory, nothing run in the target (issue 16, phase 1)."""

from __future__ import annotations

import argparse
from typing import Optional

from ..errors import TargetUnavailable, UsageError
from ..gdbside.invocation import Invocation
from ..host import heapwalk, procfs
from ..host.memimage import Unreadable
from ..render.text import format_heap, outside_python_note
from . import read_only, type_names


def run(command, inv: Invocation, args: argparse.Namespace, instead: Optional[str] = None) -> None:
    """`instead`: why the injected census could not run (no safe point in time): said, then read from memory."""
    why = "with --read-only" if getattr(args, "read_only", False) else "on a core file"
    if args.marks or args.drop_mark or args.mark or args.since:
        raise UsageError("--mark, --since, --marks and --drop-mark keep their data in the target: not %s" % why)
    if args.backend == "guppy":
        raise UsageError("--backend guppy runs in the target: not %s" % why)
    with read_only.opened(command, args, instead) as source:
        try:
            doc = heapwalk.census(source.reader, source.roots, args.top, source.deadline, args.largest)
        except heapwalk.WalkError as e:
            raise TargetUnavailable("--read-only: %s" % e) from None
        except Unreadable as e:  # a root the walk starts from (sys.modules, the collector's lists) cannot be read
            raise TargetUnavailable("--read-only: the interpreter's state cannot be read (%s): a damaged core, or "
                                    "memory that changed while it was read; nothing was counted" % e) from None
    seconds = source.finish(doc)
    add_process_memory(command, source.pid, doc)
    type_names.remember_heap(doc)
    if args.json:
        command.emit_json("heap", doc)
        return
    command.out(format_heap(doc, command.styles))
    command.out(source.footer(seconds))


def add_process_memory(command, pid: int | None, doc: dict) -> None:
    """The target's resident memory beside its Python objects in `doc` (None without a process),
    and a note when most of it is not Python objects; both backends' documents carry it."""
    doc["process_memory"] = None if pid is None else procfs.memory_beside_python(pid, doc["total_size"])
    outside = outside_python_note(doc["process_memory"], doc["total_size"])
    if outside:
        command.note(outside)
