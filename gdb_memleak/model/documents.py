"""The documents gdb-memleak produces, each declared once, and the name (`kind`) each one carries.

A command's --json output, and report.json's parts, are these dicts.  Every
document carries "kind" (which declaration below it follows), "schema_version"
and "notes" (what the command said on stderr while making it).  The JSON Schemas
in model/schemas/ describe the same documents for other readers; a unit test
(tests/test_documents.py) holds these declarations and the schemas together.
Pure: no gdb.  Payloads return the inner parts (rows, threads, groups); the
gdb side adds the envelope fields.
"""

from __future__ import annotations

from typing import Any, Optional, TypedDict

SCHEMA_VERSION = 1  # raised only when a field moves or changes meaning; added fields keep it

# kind -> the schema file that describes it
KINDS = {
    "memtop": "memtop",
    "memtop.watch_stop": "memtop",
    "heap": "heap",
    "heap.since": "heap",
    "heap.mark": "heap",
    "heap.marks": "heap",
    "heap.dropped": "heap",
    "cycles": "cycles",
    "report": "report",
}


class Envelope(TypedDict):
    kind: str
    schema_version: int
    notes: list[str]


class Growth(TypedDict):
    """py-memtop --watch: what grew in the window, and the lines that allocated what is still alive."""
    seconds: float
    started_at: float
    ended_early: bool
    rss_before: Optional[int]
    rss_delta: Optional[int]
    rss_rate: Optional[int]
    traced: Any
    tracemalloc_memory: Any
    outside_python: Optional[int]  # RSS growth beyond traced + tracemalloc_memory, >= 0
    tracing_before: bool
    frames: int  # traced per allocation (--frames)
    allocations: list[dict[str, Any]]  # each with "caller": the application's line, or None


class _MemtopBody(TypedDict):
    pid: int
    live: bool
    rss: Optional[int]
    peak_rss: Optional[int]
    vsize: Optional[int]
    swap: Optional[int]
    mem_percent: Optional[float]
    top_processes: list[dict[str, Any]]
    accounting: Optional[dict[str, Any]]  # where the RSS is (host/accounting.py); None on a core
    frames_source: Optional[str]
    threads: list[dict[str, Any]]


class Memtop(Envelope, _MemtopBody, total=False):
    growth: Growth


class MemtopWatchStop(Envelope):
    """py-memtop --watch-stop: tracing is off now; whether it was on, and whether a --watch had left it on."""
    was_tracing: bool
    left_by_watch: bool


class _HeapPartitionBody(Envelope):
    backend: str
    note: Optional[str]
    total_count: int
    total_size: int
    rows: list[dict[str, Any]]
    more_rows: int
    largest: list[dict[str, Any]]
    task_count: Optional[int]  # asyncio tasks alive (census backend), else None
    tasks: Optional[list[dict[str, Any]]]  # where the pending ones wait, from 100 tasks on
    process_memory: Optional[dict[str, int]]  # rss, anonymous, outside_python (bytes); None on a core


class HeapPartition(_HeapPartitionBody, total=False):
    """py-heap: the partition by kind, and the largest objects with their paths."""
    # backend "memory" only (py-heap --read-only, issue 16)
    source: str  # "process" or "core"
    seconds: float
    walk: dict[str, int]


class HeapSince(Envelope):
    """py-heap --since NAME: growth per kind since the mark."""
    since: str
    seconds: float
    total_count: int
    total_size: int
    rows: list[dict[str, Any]]
    more_rows: int


class HeapMark(Envelope):
    mark: str
    kinds: int
    total_count: int
    total_size: int


class HeapMarks(Envelope):
    marks: list[dict[str, Any]]


class HeapDropped(Envelope):
    dropped: str


class _CyclesBody(TypedDict):
    cycles: list[dict[str, Any]]
    total_objects: int
    total_size: int
    uncollectable: dict[str, Any]
    graph: Optional[str]
    graph_note: Optional[str]


class Cycles(Envelope, _CyclesBody, total=False):
    since: str
    # what the total counts beyond the rows (not from a memory walk): all groups, all cycles' members
    groups: dict[str, int]
    in_cycles: dict[str, int]
    # py-cycles --read-only (issue 16): found in memory
    backend: str  # "memory"
    source: str  # "process" or "core"
    seconds: float
    walk: dict[str, int]


# kind -> its declaration (the heap kinds by their $defs name in heap.schema.json)
DECLARATIONS: dict[str, type] = {
    "memtop": Memtop,
    "memtop.watch_stop": MemtopWatchStop,
    "heap": HeapPartition,
    "heap.since": HeapSince,
    "heap.mark": HeapMark,
    "heap.marks": HeapMarks,
    "heap.dropped": HeapDropped,
    "cycles": Cycles,
}


def envelope(kind: str, body: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """`body` as a finished document of `kind`: kind, schema_version and notes first."""
    if kind not in KINDS:
        raise ValueError("unknown document kind %r" % kind)
    return {"kind": kind, "schema_version": SCHEMA_VERSION, "notes": list(notes), **body}
