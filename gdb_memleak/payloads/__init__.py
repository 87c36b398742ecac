"""Payloads: plain Python files that run inside the target process.

Each file defines ``gdb_memleak_payload(args) -> dict`` and runs on Python 2.7
and 3.x with the standard library only; it never imports gdb.  Each one also
runs on its own (``python heap.py`` or as a pyrasite payload) and then prints
its JSON document.  This package holds them and their manifest: which files make
each payload, whether it needs the in-target tools, whether its allocations are
routed.  The channel (inject/) reads the manifest; the payloads import nothing of ours.
"""

import os
from dataclasses import dataclass

PAYLOAD_DIR = os.path.dirname(os.path.abspath(__file__))
COMMON = "_gdb_memleak_common"
RELEASE = "_gdb_memleak_release"
LABELS = "_gdb_memleak_labels"
MARKS = "_gdb_memleak_marks"
RETAINED = "_gdb_memleak_retained"
LARGEST = "_gdb_memleak_largest"
# Sent ahead of every payload by the injector: switches off what would run the target's code.
QUIET = "_gdb_memleak_quiet"
# Appended to every payload by the injector: runs it and returns its JSON.
RUNNER = "_gdb_memleak_runner"


@dataclass(frozen=True)
class Payload:
    name: str
    # Shared helper files sent first, in this order, so the payload's own loader (for
    # standalone runs) finds them already defined.
    helpers: tuple = ()
    # guppy3/objgraph built for the target's interpreter go on its sys.path for the run.
    needs_tools: bool = False
    # The payload's temporaries are kept out of pymalloc (inject/allocator.py).  Not for
    # watch: it starts and stops tracemalloc, whose hooks would wrap ours.
    routed: bool = True
    # Runs in a thread of its own, the safe point's thread given back at once (inject/own_thread.py):
    # the census payloads, which walk the heap for seconds on big ones.  The others take milliseconds, and a
    # thread of ours would leave its glibc arena behind for them (about 0.8 MB, measured 2026-12-02).
    own_thread: bool = False


MANIFEST = {p.name: p for p in (
    Payload("memtop", needs_tools=True),
    Payload("heap", helpers=(COMMON, RELEASE, LABELS, MARKS, RETAINED, LARGEST), needs_tools=True, own_thread=True),
    Payload("cycles", helpers=(COMMON, RELEASE, LABELS, MARKS), needs_tools=True, own_thread=True),
    Payload("marks", helpers=(MARKS,), own_thread=True),
    Payload("watch", routed=False),
    Payload("guppy_check", needs_tools=True),
    Payload("type_check"),
)}


def payload_path(name: str) -> str:
    return os.path.join(PAYLOAD_DIR, name + ".py")


def _read(name: str) -> str:
    with open(payload_path(name), encoding="utf-8") as f:
        return f.read()


def payload_source(name: str) -> str:
    source = _read(name)
    payload = MANIFEST.get(name)
    helpers = payload.helpers if payload is not None else ()
    return "".join(_read(helper) + "\n" for helper in helpers) + source
