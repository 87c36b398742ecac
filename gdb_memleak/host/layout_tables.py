"""Layouts kept for interpreters gdb has no debug info for, checked against their `_Py_DebugOffsets` (issue 16).

A release build without its debug files (a container's python3.14, a stripped binary) has no
DWARF for gdb to read the layout from.  CPython 3.13+ keeps `_Py_DebugOffsets` at the start of
`_PyRuntime` (a cookie, the version, then the offsets into its runtime, interpreter, thread,
frame, code, type, tuple, list, dict, int and str structs that out-of-process tools such as
py-spy and pystack read).  It does not hold all that a heap walk needs (a dict's keys table, a
set, the collector's lists), so layouts/X.Y.json keeps what gdbside/dwarf_layout.py read from
one build of X.Y with debug info, together with that build's `_Py_DebugOffsets`: a build
whose own `_Py_DebugOffsets` are the same in every number is laid out the same, and the table
serves it.  Any difference (another micro version that moved a field, a free-threaded build, a
debug build whose structs differ) refuses.  `make layouts` writes the tables; tests/test_layout_tables.py checks them
against the debug info of the builds they came from.  No gdb here.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

COOKIE = b"xdebugpy"
# Before 3.11, PyThreadState.tracing, which gdb adds one to for the length of a payload (nothing the
# interpreter exports does it: inject/evaluation.py).  No field before it depends on the build on
# x86-64: the same in release and debug builds (tests/test_layout_tables.py reads pyenv's).
TRACING_OFFSET = {(2, 7): 28, (3, 6): 40, (3, 7): 44, (3, 8): 44, (3, 9): 44, (3, 10): 44}
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layouts")


def path(version: tuple[int, int]) -> str:
    return os.path.join(HERE, "%d.%d.json" % version)


def load(version: tuple[int, int]) -> Optional[dict[str, Any]]:
    """The kept table for `version` ({"offsets", "debug_offsets", "source"}), or None."""
    try:
        with open(path(version), encoding="utf-8") as f:
            table = json.load(f)
    except FileNotFoundError:
        return None
    table["offsets"]["version"] = tuple(table["offsets"]["version"])
    return table


def span(table: dict[str, Any]) -> int:
    """How many bytes from `_PyRuntime`'s start the check reads."""
    return max([8 + 8] + [at + 8 for _, at, _ in table["debug_offsets"]])


def _foreign(table: dict[str, Any], runtime_head: bytes) -> Optional[str]:
    """Why `runtime_head` holds no _Py_DebugOffsets of the table's version, or None."""
    if runtime_head[:8] != COOKIE:
        return "its _PyRuntime does not start with _Py_DebugOffsets"
    version = int.from_bytes(runtime_head[8:16], "little")
    want = tuple(table["offsets"]["version"])
    if (version >> 24, (version >> 16) & 0xFF) != want:
        return "its _Py_DebugOffsets are those of %d.%d" % (version >> 24, (version >> 16) & 0xFF)
    return None


def own_offsets(table: dict[str, Any], runtime_head: bytes, names: tuple[str, ...]) -> tuple[dict[str, int], Optional[str]]:
    """The build's own `_Py_DebugOffsets` by name, read at the places `table` knows them at (the
    struct is the same in every build of a minor version; its numbers are not: Debian trixie's
    3.13.5 and pyenv's 3.13.0 differ in two struct sizes), and why they cannot be trusted, or
    None: another version, a free-threaded build, or one of `names` outside its struct's size."""
    why = _foreign(table, runtime_head)
    if why is not None:
        return {}, why
    own = {name: int.from_bytes(runtime_head[at:at + 8], "little") for name, at, _ in table["debug_offsets"]}
    if own.get("free_threaded"):
        return own, "a free-threaded build"
    for name in names:
        size = own.get(name.split(".")[0] + ".size")
        if name not in own or size is None or not 0 <= own[name] < size:
            return own, "its _Py_DebugOffsets give %s = %s, outside its struct" % (name, own.get(name))
    return own, None


def mismatch(table: dict[str, Any], runtime_head: bytes) -> Optional[str]:
    """Why the build whose `_PyRuntime` starts with `runtime_head` is not laid out as `table` says, or None."""
    why = _foreign(table, runtime_head)
    if why is not None:
        return why
    for name, at, value in table["debug_offsets"]:
        found = int.from_bytes(runtime_head[at:at + 8], "little")
        if found != value:
            return "its _Py_DebugOffsets give %s = %d where %s has %d" % (name, found, table["source"], value)
    return None


def dump(offsets: dict[str, Any], debug_offsets: list, source: str) -> str:
    """The JSON text of a table (`make layouts`)."""
    return json.dumps({"source": source, "debug_offsets": debug_offsets, "offsets": offsets}, indent=1, sort_keys=True) + "\n"
