"""Running a payload's code in the parked thread: fresh globals, the code loaded and evaluated,
the answer read back.  Every step is a call the stub makes
(inject/calls.py), so the thread goes back by itself whenever gdb dies."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

import gdb

from ..errors import ChannelError
from ..gdbside import inferior as inf
from ..host.layout_tables import TRACING_OFFSET
from . import fork_handler, gc_pause, held_signals, packaging
from .calls import Caller
from .packaging import CLAIM_NAME, GC_MADE_NAME, GC_PAUSED_NAME, RESULT_NAME, UNTRACED_NAME
from .stub import ADD_TO_INT_NAME

PY_FILE_INPUT = 257  # Py_file_input in every CPython version
FILENAME = b"<string>\0"  # the payloads' frames' file name, as PyRun_String's (watch.py looks for it)


def execute(source: Optional[str], compiled: Optional[bytes], calls: Caller, paused: Optional[gc_pause.Pause]) -> tuple[bytes, bool]:
    """Run the payload in fresh globals; return the bytes it left in RESULT_NAME, and whether gdb
    claimed the signals it held (held_signals.claim: then gdb sends them again, not the payload's thread).

    `compiled` (marshalled code from the target's own interpreter binary) runs with
    PyMarshal_ReadObjectFromString + PyEval_EvalCode: nothing is compiled in the
    target.  Otherwise `source` is compiled by Py_CompileStringFlags, then run the same way.  `paused`:
    gdb's pause of gc (gc_pause.pause), whose flag the payload's globals hold (GC_PAUSED_NAME), so
    that the payload knows, and leaves gdb's fork guard out of what it counts; its guard gets its
    handler from the loaded code before that code runs (fork_handler.py).
    """
    # Names first, then the code: both travel in raw memory (not Python objects, so
    # the payload does not see them on the heap), freed in the same call sequence.
    names = (RESULT_NAME, "__builtins__", GC_PAUSED_NAME, GC_MADE_NAME, UNTRACED_NAME, CLAIM_NAME) + fork_handler.NAMES
    head = b"".join(name.encode("ascii") + b"\0" for name in names)
    at = {name: sum(len(n) + 1 for n in names[:i]) for i, name in enumerate(names)}
    at["filename"] = len(head)
    head += FILENAME
    at["undo"] = len(head)
    head += packaging.UNDO_QUIET.encode("ascii") + b"\0"
    at["code"] = len(head)
    code = compiled if compiled is not None else (source or "").encode("utf-8") + b"\0"
    data = head + code
    buffer = calls.call(calls.raw_malloc, len(data))
    if buffer == 0:
        raise ChannelError("the target could not allocate %d bytes for the payload" % len(data))
    with let_go_on_the_way_back(calls, [(calls.raw_free, (buffer,))]):
        gdb.selected_inferior().write_memory(buffer, data)
        namespace = calls.call("PyDict_New")
        if namespace == 0:
            calls.call("PyErr_Clear", ret="void")
            raise ChannelError("the target could not allocate a dict for the payload")
        with let_go_on_the_way_back(calls, [("PyDict_Clear", (namespace,)), ("Py_DecRef", (namespace,))]):
            at = {name: buffer + offset for name, offset in at.items()}
            marker = _fill_globals(calls, namespace, at, (gc_pause.flag(calls, paused), paused.made_gc if paused else 0))
            return _run_and_read(compiled, calls, namespace, at, (marker, paused))


def _fill_globals(calls: Caller, namespace: int, at: dict[str, int], gc_state: tuple[int, int]) -> int:
    """The payload's fresh globals get __builtins__: PyRun_String adds it only from 3.8 on, and
    PyEval_EvalCode before 3.10 would make up a dict holding only None.  Those of the frame the
    safe point is in (borrowed; the dict takes its own reference).  And in the same block the flags
    that say gdb paused gc and loaded it (`gc_state`: GC_PAUSED_NAME's value, GC_MADE_NAME's; 0: not
    set) and, where the thread can be marked as tracing (below), that it will be:
    then what marks it is returned (_marked_call's `marker`; 0 otherwise)."""
    getter = _this_thread_getter(calls)
    first = calls.call_many([("PyEval_GetBuiltins", ())] + ([(getter, ())] if getter else []))
    builtins, marker = first[0], first[1] if getter else 0
    if marker and calls.version < (3, 11):
        marker = _tracing_field(calls.version, marker)
    gc_paused, gc_made = gc_state
    sets = [("__builtins__", builtins)]
    if gc_paused:
        sets.append((GC_PAUSED_NAME, gc_paused))
    if gc_made:
        sets.append((GC_MADE_NAME, gc_made))
    if marker:
        sets.append((UNTRACED_NAME, calls.address("_Py_TrueStruct")))
    if builtins == 0 or any(r & 0xFFFFFFFF for r in calls.call_many(
            [("PyDict_SetItemString", (namespace, at[name], value)) for name, value in sets])):
        calls.call("PyErr_Clear", ret="void")
        raise ChannelError("the target could not give the payload its builtins")
    return marker


def _run_and_read(compiled: Optional[bytes], calls: Caller, namespace: int, at: dict[str, int],
                  how: tuple[int, Optional[gc_pause.Pause]]) -> tuple[bytes, bool]:
    """The payload run in `namespace` (`at`: where its names, code and the undoing are; `how`: the
    marker of _marked_call, and gdb's pause of gc): its answer."""
    returned, failure = _evaluate(compiled, at, namespace, calls, how)
    marker = how[0]
    result = calls.call("PyDict_GetItemString", namespace, at[RESULT_NAME])
    if returned == 0 and result == 0:
        # what the quiet block changed, changed back (packaging.UNDO_QUIET)
        undo = ("PyRun_StringFlags", (at["undo"], PY_FILE_INPUT, namespace, namespace, 0))
        calls.cleanup("Py_DecRef", _marked_call(calls, undo, marker))
        calls.call("PyErr_Clear", ret="void")
        raise ChannelError("the payload failed before it could report: %s; the target is unchanged" % failure)
    calls.cleanup("Py_DecRef", returned)  # NULL when the quiet block refused: nothing
    if result == 0:
        raise ChannelError("the payload left no result")
    pointer = calls.call(calls.as_string, result)
    size = calls.call(calls.size, result)
    answer = bytes(gdb.selected_inferior().read_memory(pointer, size))
    # (no call for the claim unless the answer says a thread would send held signals: a call is a stop)
    resent = b'"resent":true' in answer or b'"resent": true' in answer
    return answer, resent and held_signals.claim(calls, namespace, at)


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


# Marking the payload's thread as tracing (tstate->tracing, as CPython does while it runs a trace
# function or an audit hook) silences, for that thread only, everything that would see the payload's
# code: trace and profile functions, profilers written in C (cProfile's up to 3.11) and sys.monitoring
# tools (3.12+; interpreter-wide, so they saw the payload even in a thread of its own).  A ctypes
# trial, 2026-12-06: a sys.monitoring tool counting PY_START, LINE, CALL, INSTRUCTION and PY_RETURN saw
# 0 events of code run so marked on 3.12-3.15 (some 40 unmarked), and cProfile none on 3.11-3.15.
# 3.11+ exports the two functions that do it; they touch nothing but the thread state.
ENTER_TRACING, LEAVE_TRACING = "PyThreadState_EnterTracing", "PyThreadState_LeaveTracing"
THIS_THREAD = ("PyThreadState_GetUnchecked", "_PyThreadState_UncheckedGet")  # 3.13+, 3.5-3.12: NULL-safe
# Before 3.11 the block adds 1 to the field itself, and takes it off (stub.ADD_TO_INT; _tracing_field
# says where).  Every trace and profile call of these versions, cProfile's too, goes through
# call_trace(), which returns at once while it is non-zero.


def _this_thread_getter(calls: Caller) -> Optional[str]:
    """The function that gives the calling thread's state, where the target's threads can be marked as tracing."""
    if calls.version < (3, 11):
        if calls.version not in TRACING_OFFSET:
            return None
        # (2.7 has no unchecked one: PyThreadState_Get, which the thread holding the GIL passes)
        names = (THIS_THREAD[1], "PyThreadState_Get")
    elif any(inf.minimal_symbol_address(name) is None for name in (ENTER_TRACING, LEAVE_TRACING)):
        return None
    else:
        names = THIS_THREAD
    return next((name for name in names if inf.minimal_symbol_address(name) is not None), None)


def _tracing_field(version: tuple[int, int], thread_state: int) -> int:
    """Where gdb adds one to mark the thread (2.7, 3.6-3.10), or 0 where it must not: at the offset the
    interpreter's debug info gives, else the table's (host/layout_tables.py), and only if the field,
    read first, looks like itself: a small count, and up to 3.9 the flag after it (use_tracing) 0 or
    1.  A build laid out otherwise (a fork of CPython) is left unmarked: the quiet block switches."""
    offset, flag = TRACING_OFFSET.get(version), version <= (3, 9)
    try:
        fields = {f.name: (f.bitpos or 0) // 8 for f in gdb.lookup_type("struct _ts").fields() if f.name}
    except gdb.error:  # no debug info: the table's
        fields = {}
    if fields:
        offset = fields.get("tracing")
        flag = offset is not None and fields.get("use_tracing") == offset + 4
    if offset is None:
        return 0
    try:
        tracing, use_tracing = struct.unpack("<ii", gdb.selected_inferior().read_memory(thread_state + offset, 8).tobytes())
    except gdb.error:
        return 0
    return thread_state + offset if 0 <= tracing < 1 << 16 and (not flag or use_tracing in (0, 1)) else 0


def _marked_call(calls: Caller, call: tuple[str, tuple], marker: int, ahead: Optional[list[tuple[str, tuple]]] = None) -> int:
    """`call`'s result, made with the thread marked as tracing where `marker` (its thread state on 3.11+,
    its tracing field before: _fill_globals), 0: unmarked.  The marking, the
    call and the unmarking in one block.  A block once started runs to its end, with gdb or without
    (gdb starts it with one write of rip), so the two are made exactly once, or not at all: a count left
    one up, or taken down twice, would silence the thread's profilers for good, and a debug build
    (3.14d, 3.15d) aborts on the second.  Made apart, with the unmarking in the epilogue meanwhile, a
    Ctrl-C in gdb's Python between its bookkeeping and the block's start could do either (a review,
    2026-12-06).  `ahead`: calls made first in the same block."""
    ahead = ahead or []
    if not marker:
        return calls.call_many(ahead + [call], named=call[0])[-1]
    by_hand = calls.version < (3, 11)
    mark = (ADD_TO_INT_NAME, (marker, 1)) if by_hand else (ENTER_TRACING, (marker,))
    unmark = (ADD_TO_INT_NAME, (marker, -1)) if by_hand else (LEAVE_TRACING, (marker,))
    return calls.call_many(ahead + [mark, call, unmark], named=call[0])[len(ahead) + 1]


def _evaluate(compiled: Optional[bytes], at: dict[str, int], namespace: int, calls: Caller,
              how: tuple[int, Optional[gc_pause.Pause]]) -> tuple[int, str]:
    """Run the payload's code (marshalled when `compiled`, else source text; `at`: where it is, its
    file name and the names fork_handler needs) in `namespace`, its thread marked as tracing where
    `how`'s marker: (new reference to what it returned, "") or (0, the exception it raised).  A quiet
    block that refused (replaced builtins) raised after leaving its answer."""
    code_at, filename_at = at["code"], at["filename"]
    marker, paused = how
    if compiled is not None:
        code_object = calls.call("PyMarshal_ReadObjectFromString", code_at, len(compiled))
        if code_object == 0:
            kind, where = _pending_exception(calls), _raised_in(calls)
            calls.call("PyErr_Clear", ret="void")
            raise ChannelError("the target could not load the payload's code: %s; the target is unchanged"
                               % (_by_hook(where, kind) if where else
                                  "it raised %s (an audit hook refusing marshal.loads can do that)" % kind))
    else:
        # Compiled, then run: PyRun_StringFlags kept the parser's arena alive until the code returned,
        # a list of every object the parser made (each chunk's text, as str and on 3.10+ as bytes),
        # which the census counted as the target's: 1.0 MiB "with no path from a root" under uWSGI,
        # whose executable cannot compile the payload beforehand (a user's trial, 2026-12-05).
        code_object = calls.call("Py_CompileStringFlags", code_at, filename_at, PY_FILE_INPUT, 0)
    returned = 0
    if code_object != 0:
        with let_go_on_the_way_back(calls, [("Py_DecRef", (code_object,))]):
            ahead = fork_handler.hand_in(calls, paused, code_object, at)
            returned = _marked_call(calls, ("PyEval_EvalCode", (code_object, namespace, namespace)), marker, ahead)
    if returned != 0:
        return returned, ""
    kind, where = _pending_exception(calls), _raised_in(calls)
    calls.call("PyErr_Clear", ret="void")
    return 0, _by_hook(where, kind) if where else "the target raised %s while loading it (an audit hook that refuses can do that)" % kind


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


# PyTracebackObject (3.x): tb_next and tb_frame after the head.  PyFrameObject's f_code up to 3.8,
# which lack PyFrame_GetCode, after its variable-size head and f_back.
TB_NEXT, TB_FRAME, F_CODE_BEFORE_39 = 16, 24, 32
_CO_FILENAME = b"co_filename\0"


def _raised_in(calls: Caller) -> str:
    """'FILE, line N' of the innermost Python frame of the pending exception's traceback: the
    target's audit hook, when one refused what loading the payload does.  The exception is taken
    (PyErr_Fetch) and let go of, as the PyErr_Clear that follows would have: on the way back too, if
    gdb dies meanwhile.  '' where it cannot be read, or the frame is the payload's own (a hook
    written in C, an interrupt).  Only C functions that run no code of the target's, and no str()
    of the exception, whose class may be the target's."""
    needed = ["PyErr_Fetch", "PyFrame_GetLineNumber", "PyObject_GetAttrString", "PyUnicode_AsUTF8"]
    try:
        if calls.version < (3, 6) or not all(calls.address(name) for name in needed):
            return ""
    except ChannelError:  # (a function the target lacks: nothing was called)
        return ""
    buffer = calls.call(calls.raw_malloc, 24 + len(_CO_FILENAME))
    if buffer == 0:
        return ""
    memory = gdb.selected_inferior()
    with let_go_on_the_way_back(calls, [(calls.raw_free, (buffer,))]):
        try:
            memory.write_memory(buffer + 24, _CO_FILENAME)
            calls.call("PyErr_Fetch", buffer, buffer + 8, buffer + 16, ret="void")
            fetched = struct.unpack("<3Q", bytes(memory.read_memory(buffer, 24)))
        except _UNREADABLE:
            return ""
        with let_go_on_the_way_back(calls, [("Py_DecRef", (ref,)) for ref in fetched if ref]):
            try:
                return _innermost_place(calls, fetched[2], buffer + 24) if fetched[2] else ""
            except _UNREADABLE:
                return ""


_UNREADABLE = (gdb.error, RuntimeError, ValueError, UnicodeDecodeError)


def _innermost_place(calls: Caller, tb: int, attribute: int) -> str:
    """The traceback `tb` (a reference the caller holds, so its frames and code stay alive)."""
    memory = gdb.selected_inferior()
    for _ in range(1000):
        after = int.from_bytes(bytes(memory.read_memory(tb + TB_NEXT, 8)), "little")
        if after == 0:
            break
        tb = after
    frame = int.from_bytes(bytes(memory.read_memory(tb + TB_FRAME, 8)), "little")
    if frame == 0:
        return ""
    line = calls.call("PyFrame_GetLineNumber", frame, ret="int")
    if calls.version >= (3, 9):
        code = calls.call("PyFrame_GetCode", frame)  # (a new reference)
        drops = [("Py_DecRef", (code,))] if code else []
    else:
        code, drops = int.from_bytes(bytes(memory.read_memory(frame + F_CODE_BEFORE_39, 8)), "little"), []
    with let_go_on_the_way_back(calls, drops):
        name = calls.call("PyObject_GetAttrString", code, attribute) if code else 0
        if name == 0:
            calls.call("PyErr_Clear", ret="void")
            return ""
        with let_go_on_the_way_back(calls, [("Py_DecRef", (name,))]):
            text = calls.call("PyUnicode_AsUTF8", name)
            path = gdb.Value(text).cast(gdb.lookup_type("char").pointer()).string("utf-8", "replace") if text else ""
    return "%s, line %d" % (path, line) if path and path != FILENAME[:-1].decode() else ""


def _by_hook(where: str, kind: str) -> str:
    return "the target's own code (%s) raised %s as the payload loaded (an audit hook refusing it)" % (where, kind)
