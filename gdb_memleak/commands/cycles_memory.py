"""py-cycles --read-only: cyclic garbage found in memory, nothing run in the target (issue 16)."""

from __future__ import annotations

import argparse
from typing import Any, Optional

from ..errors import NotFound, TargetUnavailable, UsageError
from ..gdbside.invocation import Invocation
from ..host import cyclewalk, heapwalk
from ..host.memimage import Unreadable
from . import read_only


def find(command, inv: Invocation, args: argparse.Namespace, instead: Optional[str] = None) -> dict[str, Any]:
    """The cycles document read from memory (its graph as dot source); `instead`: why py-cycles could not
    run in the target."""
    why = "with --read-only" if getattr(args, "read_only", False) else "on a core file"
    if args.mark or args.since:
        raise UsageError("--mark and --since keep their data in the target: not %s" % why)
    with read_only.opened(command, args, instead) as source:
        try:
            doc = cyclewalk.find(source.reader, source.roots, args.types, args.top, bool(args.graph), source.deadline)
        except heapwalk.WalkError as e:
            raise TargetUnavailable("--read-only: %s" % e) from None
        except Unreadable as e:  # a root the walk starts from (sys.modules, the collector's lists) cannot be read
            raise TargetUnavailable("--read-only: the interpreter's state cannot be read (%s): a damaged core, or "
                                    "memory that changed while it was read; nothing was counted" % e) from None
    seconds = source.finish(doc)
    unknown = doc.pop("unknown_types")
    if args.types and unknown and not doc["cycles"]:
        raise NotFound("no type named %s in the target" % ", ".join(unknown))
    doc["footer"] = source.footer(seconds)
    return doc
