"""Payloads: plain Python files that run inside the target process.

Each file defines ``gdb_memleak_payload(args) -> dict`` and runs on Python 2.7
and 3.x with the standard library only; it never imports gdb.  Each one also
runs on its own (``python heap.py`` or as a pyrasite payload) and then prints
its JSON document.  This package only hands their source text to the injector.
"""

import os

PAYLOAD_DIR = os.path.dirname(os.path.abspath(__file__))
COMMON = "_gdb_memleak_common"
# Appended to every payload by the injector: runs it and returns its JSON.
RUNNER = "_gdb_memleak_runner"
# Payloads that use the shared helpers; the injector sends those first, so the
# payload's own loader (for standalone runs) finds them already defined.
USES_COMMON = ("heap", "cycles")
# Payloads whose allocations are never routed (allocator.py): watch starts and stops
# tracemalloc, whose hooks would wrap ours.
UNROUTED = ("watch",)


def payload_path(name: str) -> str:
    return os.path.join(PAYLOAD_DIR, name + ".py")


def _read(name: str) -> str:
    with open(payload_path(name), encoding="utf-8") as f:
        return f.read()


def payload_source(name: str) -> str:
    source = _read(name)
    return _read(COMMON) + "\n" + source if name in USES_COMMON else source
