"""gdb's text: tables, one-line errors, and the documents of py-memtop, py-heap and py-cycles.

Every cell and every target string goes through :func:`escape` (render.common).
Colours are gdb's: the command passes its `styles` (ANSI start codes by role,
"header", "filename", "function"; from gdbside.style) to each formatter, so
nothing here imports gdb, and no style outlives the command that asked for it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

from .common import (
    display_width,
    escape,
    escape_dot,
    fragmentation_notes,
    holding_text,
    human_size,
    native_memory_note,
    other_anonymous_split,
    path_text,
    percent,
    retained_text,
    signed_size,
    size_or_dash,
)

__all__ = [
    "escape", "escape_dot", "human_size", "styled", "table", "json_line", "error_line",
    "format_memtop", "format_watch_growth", "format_heap", "format_mark_growth", "format_marks", "format_cycles",
]

Styles = Optional[Mapping[str, str]]


def styled(text: str, role: str, styles: Styles = None) -> str:
    """`text` (already escaped) in gdb's style for `role`, when the command's styles have one."""
    code = (styles or {}).get(role)
    return "%s%s\x1b[0m" % (code, text) if code and text else text


MAX_CELL = 2000  # characters of one table cell; the payloads bound theirs well below this


def _cell(value: Any) -> str:
    text = escape(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "", styles: Styles = None) -> str:
    """A plain text table; `align` holds one 'l' or 'r' per column (default: right).
    Every cell is escaped (see :func:`escape`) and bounded."""
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [display_width(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], display_width(c))
    align = align.ljust(len(headers), "r")

    def fmt(row: Sequence[str]) -> str:
        pads = [" " * (w - display_width(c)) for c, w in zip(row, widths)]
        parts = [c + pad if a == "l" else pad + c for c, pad, a in zip(row, pads, align)]
        return "  ".join(parts).rstrip()

    return "\n".join([styled(fmt(list(headers)), "header", styles)] + [fmt(r) for r in cells])


def json_line(doc: Any) -> str:
    """One JSON document on one line; ASCII only, so control characters arrive escaped."""
    return json.dumps(doc, ensure_ascii=True, sort_keys=False, separators=(",", ":"))


MAX_ERROR = 1000  # characters of a one-line gdb error
_TRACEBACK_FRAME = re.compile(r'^\s*File "?(.*?)"?, line (\d+), in (.*)$')


def error_line(message: Any) -> str:
    """A gdb error as one escaped, bounded line.

    The injector reports a payload's exception as a first line ending with the
    exception's last line, followed by the target's traceback.  Only the first
    line is kept; where the traceback says the exception was raised is added in
    brackets, so no traceback reaches gdb's output.
    """
    lines = str(message).split("\n")
    first = next((line for line in lines if line.strip()), "unknown error")
    where = None
    for line in lines[1:]:
        match = _TRACEBACK_FRAME.match(line)
        if match:
            where = match
    if where is not None:
        first += " (raised in %s, line %s of the payload)" % (where.group(3).strip()[:100], where.group(2))
    text = escape(first)
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."


# py-memtop

def format_memtop(doc: Mapping[str, Any], styles: Styles = None) -> str:
    """py-memtop's page: the process's memory, the top processes, each thread's Python frames."""
    lines = []
    if doc["live"]:
        lines.append(
            "process %d: RSS %s (%s%% of memory), peak RSS %s, virtual %s, swap %s"
            % (doc["pid"], size_or_dash(doc["rss"]), doc["mem_percent"], size_or_dash(doc["peak_rss"]),
               size_or_dash(doc["vsize"]), size_or_dash(doc["swap"]))
        )
        lines += accounting_lines(doc.get("accounting"))
        lines.append("")
        lines.append("top processes by memory:")
        rows = [
            ("*" if p["pid"] == doc["pid"] else "", p["pid"], size_or_dash(p["rss"]), "%.1f" % p["mem_percent"], p["command"][:60])
            for p in doc["top_processes"]
        ]
        lines.append(table(("", "PID", "RSS", "%MEM", "COMMAND"), rows, "lrrrl", styles))
    else:
        lines.append("core file of process %d (no /proc figures)" % doc["pid"])
    lines.append("")
    lines.append("threads (Python frames innermost first, from %s):" % escape(doc["frames_source"] or "nowhere"))
    for thread in doc["threads"]:
        lines += _thread_lines(thread, bool(doc["frames_source"]), styles)
    return "\n".join(lines)


def accounting_lines(acc: Optional[Mapping[str, Any]]) -> list[str]:
    """Where the RSS is, by kind of mapping: the sum of the parts is the RSS."""
    if not acc:
        return []
    lines = ["  RSS by kind: file-backed %s, main heap (brk) %s, thread stacks %s (%d thread%s), other anonymous %s%s"
             % (human_size(acc["file_backed"]), human_size(acc["main_heap"]), human_size(acc["thread_stacks"]),
                acc["threads_with_stacks"], "" if acc["threads_with_stacks"] == 1 else "s", human_size(acc["other_anonymous"]),
                ", shared memory %s" % human_size(acc["shared_memory"]) if acc["shared_memory"] else "")]
    split = other_anonymous_split(acc)
    if split:
        lines.append("  other anonymous: " + ", ".join("%s %s" % (name, human_size(n)) for name, n in split))
    big = [m for m in acc["largest_anonymous"] if m["resident"] >= LARGE_MAPPING]
    if big:
        lines.append("  largest anonymous mappings (pymalloc arenas, malloc's blocks of 128 KiB and up, native memory): "
                     + ", ".join("%s resident at 0x%x" % (human_size(m["resident"]), m["start"]) for m in big))
    lines += allocator_lines(acc.get("pymalloc"), acc.get("malloc"))
    if acc.get("other_allocator"):
        lines.append("  the C allocator is %s, whose arenas are not read: its memory is in other anonymous"
                     % escape(acc["other_allocator"]))
    native = native_memory_note(acc)
    return lines + (["  " + native] if native else [])


def allocator_lines(pymalloc: Optional[Mapping[str, Any]], malloc: Optional[Mapping[str, Any]]) -> list[str]:
    """What pymalloc and glibc malloc do with their memory, and a line on fragmentation where it is worth one."""
    parts = []
    if pymalloc:
        parts.append("pymalloc %s in %d arena%s (%s in use, %s in empty pools)"
                     % (human_size(pymalloc["arena_bytes"]), pymalloc["arenas"], "" if pymalloc["arenas"] == 1 else "s",
                        human_size(pymalloc["in_use"]), human_size(pymalloc["free"])))
    if malloc:
        bound = "" if malloc["complete"] else ">="  # the walk of the free lists ran out of time
        parts.append("glibc malloc %s in %d arena%s (%s%s in use, %s%s free between chunks in use, %s at the top)"
                     % (human_size(malloc["arena_bytes"]), malloc["arenas"], "" if malloc["arenas"] == 1 else "s",
                        "" if malloc["complete"] else "<=", human_size(malloc["in_use"]), bound,
                        human_size(malloc["free_inside"]),
                        human_size(malloc["free"] - malloc["free_inside"])))
    lines = ["  allocators: " + "; ".join(parts)] if parts else []
    return lines + ["  fragmentation: " + sentence for sentence in fragmentation_notes(pymalloc, malloc)]


# A mapping this big is worth a line: pymalloc's arenas are 1 MiB (256 KiB before 3.10),
# glibc's own arenas 64 MiB at most.
LARGE_MAPPING = 8 * 1024 * 1024


def _thread_lines(thread: Mapping[str, Any], have_source: bool, styles: Styles) -> list[str]:
    cpu = "%.2fs cpu" % thread["cpu_seconds"] if thread["cpu_seconds"] is not None else ""
    if thread.get("cpu_window_seconds") is not None:
        cpu += " (%.2fs in the window)" % thread["cpu_window_seconds"]
    python_name = ' "%s"' % escape(thread["python_name"]) if thread.get("python_name") is not None else ""
    lines = ["  thread %d  tid %d%s  %s  %s %s"
             % (thread["num"], thread["tid"], python_name, escape(thread["name"]), escape(thread["state"] or ""), cpu)]
    if not thread["frames"]:
        lines.append("      (no Python frames)" if have_source else "      (Python frames unknown)")
    for f in thread["frames"]:
        lines.append("      %s:%s in %s" % (styled(escape(f["file"]), "filename", styles), f["line"],
                                             styled(escape(f["function"]), "function", styles)))
    return lines


def format_watch_growth(growth: Mapping[str, Any], styles: Styles = None) -> str:
    """py-memtop --watch: the RSS growth over the window and the lines that allocated what is still alive."""
    delta = growth["rss_delta"]
    # The target's own tracing was on before the window: its traces go back to when it turned it on.
    since = "since the target turned tracemalloc on" if growth.get("tracing_before") else "in the window"
    lines = [
        "watched %.1f s%s: RSS %s%s (%s/s); tracemalloc traced %s of blocks allocated %s and still alive"
        % (
            growth["seconds"],
            " (ended early)" if growth["ended_early"] else "",
            "+" if delta is not None and delta >= 0 else "-" if delta is not None else "",
            human_size(abs(delta)) if delta is not None else "?",
            signed_size(growth["rss_rate"]) if growth["rss_rate"] is not None else "?",
            human_size(growth["traced"]),
            since,
        ),
    ]
    allocations = growth["allocations"]
    if not allocations:  # (a header over no rows read as a table lost)
        lines.append("no allocation %s is still alive" % since)
        return "\n".join(lines)
    lines.append("top allocation lines (memory allocated %s and still alive):"
                 % (since if growth.get("tracing_before") else "during the window"))
    if any(a.get("caller") for a in allocations):  # --frames N: where the application called each library line
        called = [(human_size(a["size"]), a["count"], "%s:%d" % (a["file"], a["line"]), a["function"] or "?",
                   _called_from(a.get("caller"))) for a in allocations]
        lines.append(table(("Size", "Blocks", "Line", "Function", "Called from"), called, "rrlll", styles))
    else:
        rows = [(human_size(a["size"]), a["count"], "%s:%d" % (a["file"], a["line"]), a["function"] or "?")
                for a in allocations]
        lines.append(table(("Size", "Blocks", "Line", "Function"), rows, "rrll", styles))
    return "\n".join(lines)


def _called_from(caller: Optional[Mapping[str, Any]]) -> str:
    if not caller:
        return ""
    return "%s:%d %s" % (caller["file"], caller["line"], caller["function"] or "?")


# py-heap

# A bare interpreter has 5-10 MB of anonymous memory that is no Python object (its own
# tables, allocator pools, stacks): below this much outside, the share is not worth a word.
OUTSIDE_WORTH_SAYING = 32 * 1024 * 1024


def outside_python_note(memory: Optional[Mapping[str, int]], python_bytes: int) -> Optional[str]:
    """A line when most of the target's anonymous memory is not Python objects."""
    if not memory or memory["outside_python"] < OUTSIDE_WORTH_SAYING or python_bytes * 2 > memory["anonymous"]:
        return None
    return ("Python objects hold %s of the target's %s of anonymous resident memory (%d%%); the other %s is outside "
            "Python objects: native memory of C extensions and libraries (numpy buffers, ctypes malloc...), the "
            "allocators' free space, thread stacks; py-memtop shows where it is by kind of mapping (docs/usage.md)"
            % (human_size(python_bytes), human_size(memory["anonymous"]),
               100 * python_bytes // max(1, memory["anonymous"]), human_size(memory["outside_python"])))


def format_heap(doc: Mapping[str, Any], styles: Styles = None) -> str:
    """py-heap's partition by kind (guppy's layout), then the largest objects and what keeps them alive."""
    lines = [
        "Partition of a set of %d objects. Total size = %d bytes (%s)."
        % (doc["total_count"], doc["total_size"], human_size(doc["total_size"]))
    ]
    rows = []
    cumulative = 0
    for index, row in enumerate(doc["rows"]):
        cumulative += row["size"]
        rows.append((index, row["count"], percent(row["count"], doc["total_count"]), row["size"],
                     percent(row["size"], doc["total_size"]), cumulative, percent(cumulative, doc["total_size"]), row["kind"]))
    lines.append(table(("Index", "Count", "%", "Size", "%", "Cumulative", "%", "Kind"), rows, "rrrrrrrl", styles))
    if doc.get("more_rows"):
        lines.append("<%d more kinds; use --top to see them>" % doc["more_rows"])
    if doc.get("largest"):
        lines.append("")
        lines.extend(_largest_lines(doc, styles))
    if doc.get("tasks"):
        lines.append("")
        # (counted with the heap, grouped just after it while the service ran: the two can differ)
        lines.append("asyncio tasks alive: %d when counted; where the pending ones wait, read just after:" % doc["task_count"])
        tasks = [(t["count"], "%s:%d" % (t["file"], t["line"]), t["function"] or "?", t["task"] or "?") for t in doc["tasks"]]
        lines.append(table(("Tasks", "Waiting at", "In", "Task's coroutine"), tasks, "rlll", styles))
    return "\n".join(lines)


def _largest_lines(doc: Mapping[str, Any], styles: Styles) -> list[str]:
    largest = doc["largest"]
    if largest[0].get("retained") is None:  # the memory backend: own sizes only
        own = [(human_size(o["size"]), o["type"], path_text(o), o.get("repr", "")) for o in largest]
        return ["Largest objects:", table(("Size", "Type", "Kept alive by", "Value"), own, "rlll", styles)]
    top = largest[0]
    lines = ["Objects that keep the most memory alive (retained: what would be freed if the object went):"]
    rows = [(retained_text(o), human_size(o["size"]), o["type"], path_text(o), holding_text(o),
             o.get("repr", "")) for o in largest]
    lines.append(table(("Retains", "Own", "Type", "Kept alive by", "Holding", "Value"), rows, "rrllll", styles))
    if top.get("path") and doc.get("total_size"):
        lines.append(escape("%s %s retains %s (%d%% of the objects counted)%s" % (
            top["type"], top["path"], retained_text(top), percent(top["retained"], doc["total_size"]),
            " in " + holding_text(top) if top.get("items") else "")))
    inside = sorted((i for o in largest for i in o.get("inside", ())), key=lambda i: -i["size"])
    if inside:
        lines.append("Largest single objects inside them:")
        inner = [(human_size(i["size"]), i["type"], path_text(i), i.get("repr", "")) for i in inside]
        lines.append(table(("Size", "Type", "Kept alive by", "Value"), inner, "rlll", styles))
    return lines


def format_mark_growth(doc: Mapping[str, Any], styles: Styles = None) -> str:
    """py-heap --since NAME: the growth per kind since a mark."""
    lines = [
        "Growth since mark %s (%.1f s ago): %+d objects, %s"
        % (escape(doc["since"]), doc["seconds"], doc["total_count"], signed_size(doc["total_size"]))
    ]
    rows = [(i, "%+d" % r["count"], "%+d" % r["size"], r["kind"]) for i, r in enumerate(doc["rows"])]
    lines.append(table(("Index", "Count", "Size", "Kind"), rows, "rrrl", styles))
    if doc["more_rows"]:
        lines.append("<%d more kinds changed; use --top to see them>" % doc["more_rows"])
    return "\n".join(lines)


def format_marks(marks: Sequence[Mapping[str, Any]], styles: Styles = None, now: Optional[float] = None) -> str:
    """py-heap --marks: the marks recorded in the target."""
    if not marks:
        return "no marks in the target (make one with py-heap --mark NAME)"
    now = time.time() if now is None else now
    rows = [(m["name"], "%.0f s ago" % max(0.0, now - m["time"]), m["kinds"], m["total_count"], human_size(m["total_size"]))
            for m in marks]
    return table(("Mark", "Made", "Kinds", "Count", "Size"), rows, "llrrr", styles)


# py-cycles

def _group_table(groups: Sequence[Mapping[str, Any]], styles: Styles) -> str:
    rows = [(c["count"], c["objects"], human_size(c["size"]), c["path"]) for c in groups]
    return table(("Cycles", "Objects", "Size", "Path"), rows, "rrrl", styles)


def _cycles_beyond_rows(doc: Mapping[str, Any], cycles: Sequence[Mapping[str, Any]]) -> list[str]:
    """What the total counts that the rows do not: the groups past --top, the members of cycles without a
    TYPE asked for, the objects in no cycle that only cycles hold (a user's trial: 25,640 objects in the
    total, 10,256 in the rows, and nothing said why).  Documents without these fields, such as a
    memory walk's, get no such line."""
    lines = []
    groups, in_cycles = doc.get("groups"), doc.get("in_cycles")
    if groups:
        more = groups["count"] - len(cycles)
        if more > 0:
            lines.append("<%d more cycle groups: %d objects (%s); use --top to see them>" % (
                more, groups["objects"] - sum(c["objects"] for c in cycles),
                human_size(groups["size"] - sum(c["size"] for c in cycles))))
        if in_cycles and in_cycles["objects"] > groups["objects"]:
            lines.append("%d objects (%s) in cycles without a member of the types asked for" % (
                in_cycles["objects"] - groups["objects"], human_size(in_cycles["size"] - groups["size"])))
    if in_cycles and doc.get("total_objects", 0) > in_cycles["objects"]:
        lines.append("%d objects (%s) in no cycle that only the cycles hold (their data; in the total, not in the rows)" % (
            doc["total_objects"] - in_cycles["objects"], human_size(doc.get("total_size", 0) - in_cycles["size"])))
    return lines


def format_cycles(doc: Mapping[str, Any], styles: Styles = None, types: Sequence[str] = ()) -> str:
    """py-cycles: the cycle groups (or those grown since a mark), the uncollectable objects, the graph's file.
    `types`: the TYPEs asked for (the groups are only those with a member of one of them)."""
    lines = []
    cycles = doc.get("cycles") or []
    if doc.get("since"):
        if cycles:
            lines.append("cycle groups new or larger since mark %s:" % escape(doc["since"]))
            rows = [(c["count"], "new" if c["new"] else "%+d" % c["count_delta"], human_size(c["size"]), c["path"]) for c in cycles]
            lines.append(table(("Cycles", "Growth", "Size", "Path"), rows, "rrrl", styles))
        else:
            lines.append("no cycle group is new or larger since mark %s" % escape(doc["since"]))
    elif cycles:
        lines.append("%d objects (%s) live only in reference cycles:" % (doc.get("total_objects", 0), human_size(doc.get("total_size", 0))))
        lines.append(_group_table(cycles, styles))
        lines.extend(_cycles_beyond_rows(doc, cycles))
    elif types and doc.get("total_objects"):
        lines.append("no cycle group has a member of type %s; %d objects (%s) live only in reference cycles in all"
                     % (" or ".join(escape(t) for t in types), doc["total_objects"], human_size(doc.get("total_size", 0))))
    else:
        lines.append("no objects live only in reference cycles")
    uncollectable = doc.get("uncollectable") or {}
    if uncollectable.get("count"):
        lines.append("")
        lines.append("%d uncollectable objects in gc.garbage:" % uncollectable["count"])
        lines.append(table(("Count", "Kind"), [(r["count"], r["kind"]) for r in uncollectable.get("rows", [])], "rl", styles))
        if uncollectable.get("cycles"):
            lines.append("")
            lines.append("cycles among the uncollectable objects:")
            lines.append(_group_table(uncollectable["cycles"], styles))
    if doc.get("graph"):
        lines.append("")
        lines.append("reference graph written to %s" % escape(doc["graph"]))
    return "\n".join(lines)
