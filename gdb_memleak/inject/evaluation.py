"""Running a payload's code in the parked thread: fresh globals, the code loaded and evaluated,
the answer read back.  Every step is a call the stub makes
(inject/calls.py), so the thread goes back by itself whenever gdb dies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

import gdb

from ..errors import ChannelError
from . import packaging
from .calls import Caller
from .packaging import GC_PAUSED_NAME, RESULT_NAME

PY_FILE_INPUT = 257  # Py_file_input in every CPython version
FILENAME = b"<string>\0"  # the payloads' frames' file name, as PyRun_String's (watch.py looks for it)


def execute(source: Optional[str], compiled: Optional[bytes], calls: Caller, gc_paused: int) -> bytes:
    """Run the payload in fresh globals; return the bytes it left in RESULT_NAME.

    `compiled` (marshalled code from the target's own interpreter binary) runs with
    PyMarshal_ReadObjectFromString + PyEval_EvalCode: nothing is compiled in the
    target.  Otherwise `source` is compiled by Py_CompileStringFlags, then run the same way.  `gc_paused`: gc_pause.flag, the object
    the payload's globals hold (GC_PAUSED_NAME) when gdb paused gc (0: none), so that the payload
    knows, and leaves gdb's fork guard out of what it counts.
    """
    target = gdb.selected_inferior()
    # Names first, then the code: both travel in raw memory (not Python objects, so
    # the payload does not see them on the heap), freed in the same call sequence.
    head = RESULT_NAME.encode("ascii") + b"\0__builtins__\0"
    paused_name = len(head)
    head += GC_PAUSED_NAME.encode("ascii") + b"\0"
    filename = len(head)
    head += FILENAME
    names = head + packaging.UNDO_QUIET.encode("ascii") + b"\0"
    result_name, builtins_name, undo_at, code_at = 0, len(RESULT_NAME) + 1, len(head), len(names)
    code = compiled if compiled is not None else (source or "").encode("utf-8") + b"\0"
    data = names + code
    buffer = calls.call(calls.raw_malloc, len(data))
    if buffer == 0:
        raise ChannelError("the target could not allocate %d bytes for the payload" % len(data))
    with let_go_on_the_way_back(calls, [(calls.raw_free, (buffer,))]):
        target.write_memory(buffer, data)
        namespace = calls.call("PyDict_New")
        if namespace == 0:
            calls.call("PyErr_Clear", ret="void")
            raise ChannelError("the target could not allocate a dict for the payload")
        with let_go_on_the_way_back(calls, [("PyDict_Clear", (namespace,)), ("Py_DecRef", (namespace,))]):
            # Fresh globals need __builtins__: PyRun_String adds it only from 3.8 on, and
            # PyEval_EvalCode before 3.10 would make up a dict holding only None. Those
            # of the frame the safe point is in (borrowed; the dict takes its own reference).
            # And when gdb paused gc, the flag that says so, in the same block.
            builtins = calls.call("PyEval_GetBuiltins")
            flag = [("PyDict_SetItemString", (namespace, buffer + paused_name, gc_paused))] if gc_paused else []
            if builtins == 0 or any(r & 0xFFFFFFFF for r in calls.call_many(
                    [("PyDict_SetItemString", (namespace, buffer + builtins_name, builtins))] + flag)):
                calls.call("PyErr_Clear", ret="void")
                raise ChannelError("the target could not give the payload its builtins")
            returned, failure = _evaluate(compiled, (buffer + code_at, buffer + filename), namespace, calls)
            result = calls.call("PyDict_GetItemString", namespace, buffer + result_name)
            if returned == 0 and result == 0:
                # what the quiet block changed, changed back (packaging.UNDO_QUIET)
                calls.cleanup("Py_DecRef", calls.call("PyRun_StringFlags", buffer + undo_at, PY_FILE_INPUT, namespace, namespace, 0))
                calls.call("PyErr_Clear", ret="void")
                raise ChannelError("the payload failed before it could report: the target raised %s while loading it "
                                   "(an audit hook that refuses can do that); the target is unchanged" % failure)
            calls.cleanup("Py_DecRef", returned)  # NULL when the quiet block refused: nothing
            if result == 0:
                raise ChannelError("the payload left no result")
            pointer = calls.call(calls.as_string, result)
            size = calls.call(calls.size, result)
            return bytes(target.read_memory(pointer, size))


@contextmanager
def let_go_on_the_way_back(calls: Caller, drops: list[tuple[str, tuple]]) -> Iterator[None]:
    """`drops` (calls that let go of what an earlier block made: the payload's globals, its code) in the
    epilogue meanwhile, so that a thread whose gdb died makes them on its way back: each gdb SIGKILLed
    mid-payload left its code and functions behind, 2,000-3,200 blocks and 0.3-1.2 MB of RSS a kill,
    for good (a helper's trial, 2026-12-05).  Out of the epilogue before gdb makes them itself: made
    twice, the second would free what the first freed."""
    calls.epilogue = list(drops) + calls.epilogue
    try:
        yield
    finally:
        for drop in drops:  # each out just before gdb makes it: one left in if gdb dies in between (a review)
            calls.epilogue = [c for c in calls.epilogue if c != drop]
            calls.cleanup(drop[0], *drop[1])


def _evaluate(compiled: Optional[bytes], at: tuple[int, int], namespace: int, calls: Caller) -> tuple[int, str]:
    """Run the payload's code (marshalled when `compiled`, else source text; `at`: where it is, and its
    file name) in `namespace`: (new reference to what it returned, "") or (0, the exception it raised).
    A quiet block that refused (replaced builtins) raised after leaving its answer."""
    code_at, filename_at = at
    if compiled is not None:
        code_object = calls.call("PyMarshal_ReadObjectFromString", code_at, len(compiled))
        if code_object == 0:
            kind = _pending_exception(calls)
            calls.call("PyErr_Clear", ret="void")
            raise ChannelError("the target could not load the payload's code: it raised %s (an audit hook "
                               "refusing marshal.loads can do that); the target is unchanged" % kind)
    else:
        # Compiled, then run: PyRun_StringFlags kept the parser's arena alive until the code returned,
        # a list of every object the parser made (each chunk's text, as str and on 3.10+ as bytes),
        # which the census counted as the target's: 1.0 MiB "with no path from a root" under uWSGI,
        # whose executable cannot compile the payload beforehand (a user's trial, 2026-12-05).
        code_object = calls.call("Py_CompileStringFlags", code_at, filename_at, PY_FILE_INPUT, 0)
    returned = 0
    if code_object != 0:
        with let_go_on_the_way_back(calls, [("Py_DecRef", (code_object,))]):
            returned = calls.call("PyEval_EvalCode", code_object, namespace, namespace)
    if returned != 0:
        return returned, ""
    kind = _pending_exception(calls)
    calls.call("PyErr_Clear", ret="void")
    return 0, kind


TP_NAME_OFFSET = 24  # PyTypeObject.tp_name after ob_refcnt, ob_type, ob_size (x86-64, no Py_TRACE_REFS)


def _pending_exception(calls: Caller) -> str:
    """The name of the exception the target has set (PyErr_Occurred), read before it is cleared."""
    try:
        kind = calls.call("PyErr_Occurred")
        if kind == 0:
            return "no exception"
        memory = gdb.selected_inferior().read_memory
        name_at = int.from_bytes(bytes(memory(kind + TP_NAME_OFFSET, 8)), "little")
        name = bytes(memory(name_at, 128)).split(b"\0")[0].decode("ascii", "replace")
    except (gdb.error, RuntimeError, ValueError):
        return "an exception"
    return name if name.replace(".", "").replace("_", "").isalnum() else "an exception"
