"""The after-fork handler of gdb's fork guard (gc_pause.py), made from the payload's own code
before that code runs.

Why: gdb's guard goes in with gc.enable as its handler, a C function, which cannot tell who
forked.  subprocess's _execute_child turns gc off around its fork on purpose (bpo-1336: a
collection between fork and exec can hang the child), and a child with a preexec_fn forked
before the payload's quiet block had put its own handler in ran it with gc on: 0 or 1 in about
110 spawned during three commands (3.6, 3.11, 3.13; 2026-12-07).  A thread forks only while it
holds the GIL, and the thread gdb runs in holds it from the pause to the payload's first bytecode;
a handler put in before that bytecode leaves no such window.

The handler is the quiet block's __gdb_memleak_forked__ (the first code object among the
payload's module constants: the quiet block's first statement), made a function by
PyFunction_New with globals of gdb's own, a dict of sys and gc: no bytecode runs for it, and
nothing is compiled (an audit hook would see a compile).  Where anything is not as expected, gc.enable
stays in and the quiet block puts its handler in, as before.  A gdb killed before its resume
leaves the few objects made here behind with the guard's references (a dict, a function).
"""

from __future__ import annotations

import struct
from typing import Optional

import gdb

from .calls import Caller
from .gc_pause import Pause, exact_type
from .packaging import FORK_HANDLER_NAME as HANDLER

NAMES = ("sys", "gc", "_stop", "_after_fork")
TUPLE_SIZE = 16  # PyTupleObject's ob_size (x86-64, no Py_TRACE_REFS)
STR_LENGTH = 16  # PyASCIIObject.length, after the head


def _function_fields(version: tuple[int, int]) -> tuple[int, int]:
    """PyFunctionObject's func_code and func_name: after the head until 3.10, which put the fields it
    shares with frames (globals, builtins, name, qualname, code...) first."""
    return (16, 64) if version < (3, 10) else (48, 32)


def _code_consts(version: tuple[int, int]) -> int:
    """PyCodeObject.co_consts: read, not asked for (a reference of gdb's, had gdb died before dropping it,
    would have kept the payload's constants alive, most of its code)."""
    return 48 if version < (3, 8) else 56 if version < (3, 11) else 24


def _tuple_items(version: tuple[int, int]) -> int:
    """Where a tuple's items start: after ob_size, and from 3.14 on after its cached hash too."""
    return 24 if version < (3, 14) else 32


def _ascii_data(version: tuple[int, int]) -> int:
    """Where a compact ASCII str's characters start: after PyASCIIObject (its wstr went in 3.12)."""
    return 48 if version < (3, 12) else 40


def hand_in(calls: Caller, paused: Optional[Pause], code: int, at: dict[str, int]) -> list[tuple[str, tuple]]:
    """The handler made for the guard; returned, the calls that go ahead of the payload in the block
    that runs it: the handler into the guard (when made), and any error left by the calls here cleared.  The references gdb makes here join
    the pause's, dropped after the resume (gc_pause.resume).  `code`: the payload's module code;
    `at`: where NAMES are in the target."""
    if paused is None or not paused.references.guard or not paused.sys or calls.gone or calls.abandoned:
        return []
    for alias, real in (("paused.PyDict_New", "PyDict_New"), ("paused.PyFunction_New", "PyFunction_New")):
        calls.addresses[alias] = calls.address(real)
    made = paused.references
    try:
        handler_code = _first_code(calls, _word(code + _code_consts(calls.version)))
    except (gdb.error, OverflowError, struct.error):  # (not the layout read: nothing made, nothing in)
        handler_code = 0
    if not handler_code:
        return []
    (space,) = calls.call_many([("paused.PyDict_New", ())])
    if not space:
        return [("PyErr_Clear", ())]
    made.append(space)
    *stored, function = calls.call_many([("PyDict_SetItemString", (space, at["sys"], paused.sys)),
                                         ("PyDict_SetItemString", (space, at["gc"], paused.gc)),
                                         ("paused.PyFunction_New", (handler_code, space))])
    if function:
        made.append(function)
    if not function or any(r & 0xFFFFFFFF for r in stored) or not _is_handler(calls, function, handler_code):
        return [("PyErr_Clear", ())]
    # In the payload's block, ahead of it (a block fewer; the thread still holds the GIL); a MemoryError
    # there is cleared, and the quiet block puts its handler in both.
    setting = [("PyObject_SetAttrString", (made.guard, at[attribute], function)) for attribute in ("_after_fork", "_stop")]
    return setting + [("PyErr_Clear", ())]


def _word(address: int) -> int:
    return int(struct.unpack("<Q", gdb.selected_inferior().read_memory(address, 8).tobytes())[0])


def _first_code(calls: Caller, consts: int) -> int:
    """The first code object in the tuple `consts`, or 0."""
    if not exact_type(consts, "PyTuple_Type"):
        return 0
    memory = gdb.selected_inferior().read_memory
    (size,) = struct.unpack("<q", memory(consts + TUPLE_SIZE, 8).tobytes())
    size = max(0, min(size, 64))
    items = struct.unpack("<%dQ" % size, memory(consts + _tuple_items(calls.version), 8 * size).tobytes())
    return next((item for item in items if item and exact_type(item, "PyCode_Type")), 0)


def _is_handler(calls: Caller, function: int, handler_code: int) -> bool:
    """The function made of `handler_code` is named HANDLER: its code where the layout says (so the
    layout is the one read), and its name, a compact ASCII str, HANDLER."""
    code_at, name_at = _function_fields(calls.version)
    try:
        if _word(function + code_at) != handler_code:
            return False
        name = _word(function + name_at)
        if not name or not exact_type(name, "PyUnicode_Type") or _word(name + STR_LENGTH) != len(HANDLER):
            return False
        text = gdb.selected_inferior().read_memory(name + _ascii_data(calls.version), len(HANDLER) + 1).tobytes()
    except (gdb.error, OverflowError):
        return False
    return text == HANDLER.encode("ascii") + b"\0"
