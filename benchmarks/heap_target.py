"""The process that benchmarks/heap.py and benchmarks/pauses.py measure: N live records and two heartbeats.

    python heap_target.py serve N
        Builds the data, prints "ready", then answers one command per stdin line:
          reset -> forgets the longest stalls so far, prints "ok"
          stall -> prints "stall MAIN WORKER": each heartbeat's longest gap between two
                   wakeups, in seconds
          gaps  -> prints "gaps main START:SECONDS ... worker ...", the gaps over 20 ms
                   since the reset (START on time.monotonic's clock)
          path DIR -> appends DIR to sys.path (where the tools below, and memray, are
                   imported from), prints "ok"
          run TOOL -> runs TOOL in the main thread, as a pyrasite user would, and prints
                   "done SECONDS IMPORT_SECONDS" (or "error MESSAGE"): TOOL is guppy
                   (str(hpy().heap()), its first 10 rows) or objgraph
                   (show_most_common_types(limit=10)); SECONDS includes the import
        Two heartbeats wake up every millisecond: a thread that sleeps 1 ms in a loop, and
        the main thread between 1 ms polls of stdin. One cannot wake up while gdb holds the
        process, while the payload runs in it, or while another thread holds the GIL.

    python heap_target.py service
        The same protocol, with no records and no blobs: a small service that imported
        SERVICE_MODULES (about 29 MB on pyenv's 3.11), the small target of issue 13's memory bounds.

    python heap_target.py guppy N SITE_PACKAGES TOP
        The baseline: builds the same data, then times guppy's hpy().heap() and the
        reading of its TOP first rows in this process, and prints one JSON line.

The data (kept by the module global DATA) for N records:
  - N dicts {"name": distinct str, "id": distinct int, "point": Point}, in a list;
  - N instances of the slotted class Point, each holding two distinct ints;
  - four large strs of 4 MB each.
"""

from __future__ import annotations

import gc
import io
import json
import os
import select
import sys
import threading
import time
from typing import Any


class Point:
    __slots__ = ("x", "y")

    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y


BLOB_COUNT = 4
BLOB_BYTES = 4 * 1024 * 1024
DATA: tuple[list[dict[str, Any]], list[str]] | None = None


def build(n: int) -> tuple[list[dict[str, Any]], list[str]]:
    records = [{"name": "record-%09d" % i, "id": 1_000_000_000 + i, "point": Point(i + 1000, -i - 1000)} for i in range(n)]
    blobs = [chr(ord("a") + k) * BLOB_BYTES for k in range(BLOB_COUNT)]
    return records, blobs


class Node:
    """Half of a pair that refers to its other half (a cycle of 2 objects and their 2 dicts)."""

    def __init__(self) -> None:
        self.peer: Node | None = None
        self.payload = "p" * 200


class Session:
    """Holds handlers; a closure over the session is one of them (a cycle through a cell)."""

    def __init__(self) -> None:
        self.handlers: list[Any] = []


def _session_with_a_closure() -> None:
    session = Session()
    session.handlers.append(lambda: session)


def _exception_kept_by_its_frame() -> None:
    try:
        raise ValueError("x" * 100)
    except ValueError as e:
        err = e  # noqa: F841 (the frame's local holds the exception: a cycle through its traceback)


def make_garbage(n: int) -> None:
    """With gc off, n of each of three cycles dropped: a pair of instances, a session and a closure
    that holds it, an exception and the frame its traceback holds (11 objects each, of the kinds a
    leaking service makes): the heap is mostly cyclic garbage, py-cycles' own case."""
    gc.disable()
    for _ in range(n):
        a, b = Node(), Node()
        a.peer, b.peer = b, a
        _session_with_a_closure()
        _exception_kept_by_its_frame()


def status_bytes(field: str) -> int:
    """A field of /proc/self/status (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no %s in /proc/self/status" % field)


class Heartbeat:
    """Wakes up every millisecond and remembers its longest gap between two wakeups."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.longest = 0.0
        self.gaps: list[tuple[float, float]] = []

    def beat(self) -> None:
        now = time.monotonic()
        gap = now - self.last
        if gap > self.longest:
            self.longest = gap
        if gap > 0.02:
            self.gaps.append((self.last, gap))
        self.last = now

    def reset(self) -> None:
        self.longest = 0.0
        self.gaps = []

    def run_forever(self) -> None:
        while True:
            time.sleep(0.001)
            self.beat()


def serve() -> None:
    """Two heartbeats: a thread's, and the main thread's own, between 1 ms polls of stdin.

    Whichever thread gdb picks to run the payload is held for the whole payload; the
    other one shows what every other thread of the process went through."""
    worker = Heartbeat()
    threading.Thread(target=worker.run_forever, name="heartbeat", daemon=True).start()
    main = Heartbeat()
    print("ready", flush=True)
    buffer = b""
    while True:
        readable = select.select([0], [], [], 0.001)[0]
        main.beat()
        if not readable:
            continue
        chunk = os.read(0, 4096)
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            print(answer(line.decode().strip(), main, worker), flush=True)


def answer(command: str, main: Heartbeat, worker: Heartbeat) -> str:
    if command == "reset":
        main.reset()
        worker.reset()
        return "ok"
    if command == "stall":
        return "stall %.6f %.6f" % (main.longest, worker.longest)
    if command == "gaps":
        return "gaps main %s worker %s" % tuple(
            " ".join("%.3f:%.3f" % gap for gap in beat.gaps) or "-" for beat in (main, worker))
    if command.startswith("path "):
        sys.path.append(command[len("path "):])
        return "ok"
    if command.startswith("run "):
        return run_tool(command[len("run "):])
    return "error unknown command %r" % command


def run_tool(name: str) -> str:
    """A memory tool run in this process's main thread: what pyrasite-shell gives its user."""
    started = time.monotonic()
    try:
        if name == "guppy":
            from guppy import hpy

            imported = time.monotonic()
            str(hpy().heap())  # the partition's first 10 rows, as print() shows them
        elif name == "objgraph":
            import objgraph

            imported = time.monotonic()
            objgraph.show_most_common_types(limit=10, file=io.StringIO())
        else:
            return "error unknown tool %r" % name
    except Exception as e:  # reported to the benchmark, which records it
        return "error %s: %s" % (type(e).__name__, str(e).replace("\n", " "))
    return "done %.6f %.6f" % (time.monotonic() - started, imported - started)


def guppy_baseline(site_packages: str, top: int) -> dict[str, Any]:
    sys.path.append(site_packages)
    from guppy import hpy

    rss = status_bytes("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS
    started = time.monotonic()
    heap = hpy().heap()
    rows = []
    for row in heap.partition.get_rows():
        if len(rows) == top:
            break
        rows.append({"kind": str(row.name), "count": int(row.count), "size": int(row.size)})
    seconds = time.monotonic() - started
    return {
        "seconds": seconds,
        "rss": rss,
        "peak_added": status_bytes("VmHWM") - rss,
        "total_count": int(heap.count),
        "total_size": int(heap.size),
        "rows": rows,
    }


# A small service's modules: what `service` imports in place of the records and the blobs.
SERVICE_MODULES = ("argparse", "asyncio", "concurrent.futures", "csv", "dataclasses", "decimal", "email.mime.multipart",
                   "http.client", "http.server", "inspect", "json", "logging", "multiprocessing", "pdb", "sqlite3", "ssl",
                   "typing", "unittest", "urllib.request", "xml.dom.minidom")


def main(argv: list[str]) -> None:
    global DATA
    if argv[1] == "service":  # a small service: many modules, no data of its own
        for name in SERVICE_MODULES:
            __import__(name)
        DATA = ([], [])
        serve()
        return
    if argv[1] == "garbage":  # N of each of three cycles, dropped, gc off: no records
        make_garbage(int(argv[2]))
        DATA = ([], [])
        serve()
        return
    DATA = build(int(argv[2]))
    if argv[1] == "serve":
        serve()
    elif argv[1] == "guppy":
        print(json.dumps(guppy_baseline(argv[3], int(argv[4]))), flush=True)
    else:
        raise SystemExit("usage: heap_target.py serve N | service | garbage N | guppy N SITE_PACKAGES TOP")


if __name__ == "__main__":
    main(sys.argv)
