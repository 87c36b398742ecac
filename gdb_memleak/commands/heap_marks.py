"""py-heap --mark / --since / --marks / --drop-mark: what grew between two moments.

A mark is the census of one moment, per kind (count, size), kept in the target
itself by payloads/marks.py: statistics only, so it keeps nothing alive, and it
outlives gdb (detach, attach again, compare).  The difference is computed here.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..errors import NoRoom
from ..gdbside.invocation import Invocation
from ..inject import session
from ..render import text as render
from ..render.text import format_mark_growth, format_marks
from .base import CYCLES_PREFIX

ALL_KINDS = 1_000_000  # the census's --top for a mark: every kind


def run(command: Any, inv: Invocation, args: argparse.Namespace, room: dict[str, Any]) -> None:
    """`room`: the memory the census may use in the target (room.budget: memory_available...)."""
    name = args.mark or args.since or args.drop_mark  # checked by the parser (base.mark_name): never empty
    prefix = CYCLES_PREFIX if args.drop_mark and name.startswith(CYCLES_PREFIX) else ""

    def marks(op: str, **fields: Any) -> dict:
        fields["op"] = op
        return session.run_payload(inv, "marks", fields).result

    if args.marks:
        listed = marks("list")["marks"]
        if args.json:
            command.emit_json("heap.marks", {"marks": listed})
        else:
            command.out(format_marks(listed, command.styles))
        return
    if args.drop_mark:
        marks("drop", name=name, prefix=prefix)
        command.out("mark %s dropped" % name) if not args.json else command.emit_json("heap.dropped", {"dropped": name})
        return
    # One safe point: the census payload stores the mark itself (--mark), or reads it
    # before counting (--since: a typo is refused before the census runs).
    request: dict[str, Any] = dict(room, top=ALL_KINDS, largest=0, backend="census")
    if args.mark:
        request["mark"] = {"name": name, "time": time.time()}
    else:
        request["since"] = name
    try:
        census = session.run_payload(inv, "heap", request).result
    except NoRoom as e:
        raise NoRoom("refused: %s" % e) from e
    if args.mark:
        stored = census["stored_mark"]
        if args.json:
            command.emit_json("heap.mark", {"mark": name, "kinds": stored["kinds"], "total_count": stored["total_count"],
                                            "total_size": stored["total_size"]})
        else:
            command.out("mark %s recorded in the target: %d kinds, %d objects, %s"
                        % (name, stored["kinds"], stored["total_count"], render.human_size(stored["total_size"])))
        return
    doc = growth(census["since_mark"], census, args.top)
    if args.json:
        command.emit_json("heap.since", doc)
    else:
        command.out(format_mark_growth(doc, command.styles))


def growth(mark: dict, census: dict, top: int) -> dict:
    """Count and size deltas per kind from `mark` to `census`, largest size growth first."""
    before = {kind: (count, size) for kind, count, size in mark["rows"]}
    now = {row["kind"]: (row["count"], row["size"]) for row in census["rows"]}
    rows = []
    for kind in set(before) | set(now):
        count = now.get(kind, (0, 0))[0] - before.get(kind, (0, 0))[0]
        size = now.get(kind, (0, 0))[1] - before.get(kind, (0, 0))[1]
        if count or size:
            rows.append({"kind": kind, "count": count, "size": size})
    rows.sort(key=lambda r: (-r["size"], -r["count"], r["kind"]))
    return {
        "since": mark["name"],
        "seconds": max(0.0, time.time() - mark["time"]),
        "total_count": census["total_count"] - mark["total_count"],
        "total_size": census["total_size"] - mark["total_size"],
        "rows": rows[:top],
        "more_rows": max(0, len(rows) - top),
    }


