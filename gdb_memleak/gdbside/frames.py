"""Every thread's Python stack, read through CPython's own gdb helper (libpython.py).

The threads' `threading` names are read in thread_names.py.

Only memory is read: nothing here runs code in the inferior, so it is safe
on any stop (even inside the allocator) and on core files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gdb

from .frame_chain import chain, chain_layout, thread_states
from .inferior import python_version
from .libpython import NO_DEBUG_INFO, FramesUnavailable, require_libpython
from .rawmem import LayoutUnknown, Memory, NotCompact, Objects, objects_for

__all__ = ["FramesUnavailable", "PyFrame", "python_stacks"]

UNKNOWN = "<unknown>"
# Bounds against corrupt memory (cycles in frame links, runaway unwinds).
_MAX_C_FRAMES = 20000
_MAX_CHAIN = 20000


@dataclass(frozen=True)
class PyFrame:
    file: str
    line: int  # -1 if unknown
    function: str


# --- walking the stacks ------------------------------------------------------


def _require_helper_and_types() -> Any:
    """The interpreter's gdb helper, once the debug info has its types (without them the helper decodes nothing)."""
    libpython = require_libpython()
    try:
        gdb.lookup_type("PyObject")
    except gdb.error:
        raise FramesUnavailable(NO_DEBUG_INFO) from None
    _helper_types.clear()  # (once per command: python_stacks starts with this)
    _remember_helper_types(libpython)
    _answer_the_frame_question(libpython)
    return libpython


def _answer_the_frame_question(libpython: Any) -> None:
    """The 3.14 and 3.15 helpers ask, once, whether an interpreter frame has a tlbc_index, by
    `gdb.lookup_type("_PyInterpreterFrame")`, and keep the answer in a global.  With gdb's index
    cache on (index_cache.py), Debian forky's python3.14d's index gave that typedef to no plain
    lookup (gdb 13.1 and 18.1, not 16.3; `struct _PyInterpreterFrame` was found): the helper then
    decoded no frame, and py-memtop injected its fallback payload (2026-12-03).  So the question is
    answered from the struct's fields before the helper asks; helpers without it are left alone."""
    if getattr(libpython, "_INTERP_FRAME_HAS_TLBC_INDEX", False) is not None:
        return  # not that helper, or already answered
    try:
        fields = gdb.lookup_type("struct _PyInterpreterFrame").fields()
    except gdb.error:
        return  # the helper says what it can
    libpython._INTERP_FRAME_HAS_TLBC_INDEX = any(f.name == "tlbc_index" for f in fields)


# The gdb types the helper looked up in this command, by name.  The helper looks a type
# up each time it wraps an object (PyObjectPtr.get_gdb_type): 70 lookups, 31 ms of the
# 3.13 target's stop with 300 threads (2026-12-02), for a handful of distinct types.
# Emptied at the start of each command (_require_helper_and_types): types do not change within one.
_helper_types: dict[str, Any] = {}


def _remember_helper_types(libpython: Any) -> None:
    """Make the helper's PyObjectPtr.get_gdb_type look each type up once per command."""
    cls: Any = getattr(libpython, "PyObjectPtr", None)
    original = cls.__dict__.get("get_gdb_type") if cls is not None else None
    if not isinstance(original, classmethod) or getattr(original.__func__, "remembers", False):
        return
    lookup = original.__func__

    def get_gdb_type(klass: Any) -> Any:
        name = getattr(klass, "_typename", None)
        if not isinstance(name, str):
            return lookup(klass)
        found = _helper_types.get(name)
        if found is None:
            found = _helper_types[name] = lookup(klass)
        return found

    get_gdb_type.remembers = True  # type: ignore[attr-defined]
    cls.get_gdb_type = classmethod(get_gdb_type)


def python_stacks(max_frames: int) -> dict[int, list[PyFrame]]:
    """LWP/TID -> that thread's Python frames, innermost first, at most
    max_frames each (threads running no Python map to []).

    Raises FramesUnavailable when there is no helper or no debug info.
    Restores the selected thread and frame afterwards, whatever happens."""
    libpython = _require_helper_and_types()
    inferior = gdb.selected_inferior()
    saved_thread = gdb.selected_thread()
    try:
        saved_frame: gdb.Frame | None = gdb.selected_frame()
    except gdb.error:
        saved_frame = None

    global _objects
    stacks: dict[int, list[PyFrame]] = {}
    eval_frames = unreadable = 0
    _described.clear()
    layout = chain_layout(libpython)
    _objects = objects_for(python_version())
    memory = _objects.memory if _objects is not None else Memory()
    tstates = thread_states(memory) if layout is not None else {}

    def describe(key: tuple, address: int) -> PyFrame | None:
        if key not in _described:
            assert layout is not None
            _described[key] = _describe_new(libpython, layout.helper_frame(gdb.Value(address).cast(layout.frame_pointer)))
        return _described[key]

    try:
        for thread in sorted(inferior.threads(), key=lambda t: t.num):
            if not thread.is_valid():
                continue
            pid, lwp, _tid = thread.ptid
            key = lwp or pid  # lwp is 0 only for a process gdb sees no threads in
            if thread.is_running():  # non-stop mode: its registers are not readable
                stacks[key] = []
                continue
            linked = chain(layout, memory, tstates[key], max_frames, describe) if layout and key in tstates else None
            if linked is not None:  # memory reads only, no unwinding
                stacks[key] = linked
                continue
            try:
                thread.switch()
            except gdb.error:
                stacks[key] = []
                continue
            frames, evals, bad = _thread_stack(libpython, max_frames)
            stacks[key] = frames
            eval_frames += evals
            unreadable += bad
    finally:
        _described.clear()
        _objects = None
        _restore(saved_thread, saved_frame)

    _require_readable(stacks, eval_frames, unreadable)
    return stacks


def _require_readable(stacks: dict[int, list[PyFrame]], eval_frames: int, unreadable: int) -> None:
    """FramesUnavailable where the stacks read say nothing true about the threads."""
    if eval_frames and unreadable == eval_frames:
        # Interpreter frames exist but not one could be decoded.
        raise FramesUnavailable(NO_DEBUG_INFO)
    if not eval_frames and not any(stacks.values()) and not _interpreter_has_symbols():
        # No frame anywhere, and none could have been recognized: "(no Python frames)" would be wrong.
        raise FramesUnavailable(NO_DEBUG_INFO)


def _interpreter_has_symbols() -> bool:
    """Whether the interpreter's evaluation loop has debug symbols. The type PyObject alone does
    not say so: an extension module's debug info has it too (forky's python3.14 with _ctypes
    loaded, 2026-12-02: the helper then recognized no frame and py-memtop said "(no Python
    frames)" for every thread). Asked only when no frame was found: a lookup costs a search."""
    for name in ("_PyEval_EvalFrameDefault", "PyEval_EvalFrameEx"):
        try:
            if gdb.lookup_global_symbol(name) is not None:
                return True
        except gdb.error:
            continue
    return False


def _thread_stack(libpython: Any, max_frames: int) -> tuple[list[PyFrame], int, int]:
    """The selected thread's Python frames, how many C eval frames were seen,
    and how many of those could not be read (each gives one UNKNOWN frame)."""
    frames: list[PyFrame] = []
    evals = bad = 0
    try:
        frame = libpython.Frame(gdb.newest_frame())
    except gdb.error:
        return frames, 0, 0  # no stack (thread not started, or exited)
    depth = 0
    while frame is not None and len(frames) < max_frames and depth < _MAX_C_FRAMES:
        if _is_eval_frame(frame):
            evals += 1
            found = _eval_frame_pyframes(libpython, frame, max_frames - len(frames))
            if found is None:
                bad += 1
                frames.append(PyFrame(UNKNOWN, -1, UNKNOWN))
            else:
                frames.extend(found)
        try:
            frame = frame.older()
        except Exception:
            break  # unwinder gave up: keep what we have
        depth += 1
    return frames[:max_frames], evals, bad


def _is_eval_frame(frame: Any) -> bool:
    # 2.7's helper names it is_evalframeex (PyEval_EvalFrameEx).
    check = getattr(frame, "is_evalframe", None) or frame.is_evalframeex
    try:
        return bool(check())
    except Exception:
        return False


def _eval_frame_pyframes(libpython: Any, frame: Any, limit: int) -> list[PyFrame] | None:
    """The Python frames run by one C eval frame, innermost first; None if unreadable."""
    try:
        pyop = frame.get_pyop()
    except Exception:
        return None  # e.g. "Cannot locate block for frame": no debug info
    if pyop is None:
        return None  # 3.11+: `frame` unreadable (gh-127147 on optimized 3.13)
    if not hasattr(pyop, "previous"):
        # <= 3.10 and 2.7: one PyFrameObject per C eval frame.
        one = _describe(libpython, pyop)
        return [one] if one else None
    # 3.11+: one C eval frame runs a chain of _PyInterpreterFrame linked by
    # previous(), ending (as in py-bt) at a 3.12+ shim frame (not shown) or
    # after a 3.11 entry frame (shown).
    out: list[PyFrame] = []
    for _ in range(_MAX_CHAIN):
        if len(out) >= limit:
            break
        try:
            if hasattr(pyop, "is_shim") and pyop.is_shim():
                break  # end of this C call's frames (may be first: none yet)
            one = _describe(libpython, pyop)
            if one is None:
                break
            out.append(one)
            if hasattr(pyop, "is_entry") and pyop.is_entry():
                break
            pyop = pyop.previous()
        except Exception:
            break  # a bad link: keep the frames read so far
    # Nothing read at all is unreadable, unless we stopped cleanly at a shim.
    if not out and not _is_shim(pyop):
        return None
    return out


def _is_shim(pyop: Any) -> bool:
    try:
        return hasattr(pyop, "is_shim") and bool(pyop.is_shim())
    except Exception:
        return False


# One command's frames already described, by (code object, instruction offset): the
# threads of a pool wait at the same few places, and the helper decodes a frame's
# names and line table byte by byte (about 2 ms a frame, measured 2026-12-01: 300
# idle threads kept the target stopped 3 s in py-memtop).  Memory can change
# between commands, so python_stacks starts each command with an empty one.
_described: dict[tuple, PyFrame | None] = {}
# The command's raw reader (None: 2.7, or layouts the debug info lacks): a frame's names and
# line table read as bytes, not a gdb.Value per character.
_objects: Objects | None = None


def _describe(libpython: Any, pyop: Any) -> PyFrame | None:
    """file:line:function of one libpython frame object, or None if unreadable."""
    try:
        if pyop.is_optimized_out():
            return None
        key = (int(pyop.co.as_address()), int(pyop.f_lasti))
    except Exception:
        return None
    if key not in _described:
        _described[key] = _describe_new(libpython, pyop)
    return _described[key]


def _describe_new(libpython: Any, pyop: Any) -> PyFrame | None:
    if _objects is not None:
        _read_code_raw(_objects, pyop)
    file = _field_text(libpython, lambda: pyop.co_filename.proxyval(set()))
    function = _field_text(libpython, lambda: pyop.co_name.proxyval(set()))
    if file == UNKNOWN and function == UNKNOWN:
        return None
    try:
        line = int(pyop.current_line_num())
    except Exception:
        line = -1  # None (no line table) or an unreadable one
    return PyFrame(file, line, function)


class _Read:
    """A value read as bytes, standing in for the helper's proxy of it."""

    def __init__(self, value: str) -> None:
        self.value = value

    def proxyval(self, visited: object) -> str:
        return self.value


def _read_code_raw(objects: Objects, pyop: Any) -> None:
    """Give the helper's frame its names, and its code object the line table, read as bytes
    (the helper reads them a gdb.Value per character, then decodes them itself): what cannot
    be read so is left to the helper."""
    try:
        code = pyop.co
        address = int(code.as_address())
        for name in ("co_filename", "co_name"):
            value = objects.text(objects.code_field(address, name), 1000, more="")  # the helper's cap
            if value is not None:
                setattr(pyop, name, _Read(value))
        original = code.pyop_field

        def pyop_field(name: str) -> Any:
            if name in ("co_linetable", "co_lnotab"):
                table = objects.bytes_text(objects.code_field(address, name))
                if table is not None:
                    return _Read(table)
            return original(name)

        code.pyop_field = pyop_field  # this frame's code proxy only, made for this description
    except (LayoutUnknown, NotCompact, gdb.error, RuntimeError, AttributeError):
        pass


def _field_text(libpython: Any, read: Callable[[], object]) -> str:
    # libpython's proxyval() reads at most 1000 characters of a string.
    try:
        value = read()
    except Exception:
        return UNKNOWN
    if not isinstance(value, str):
        return UNKNOWN  # a corrupt object decoded as something else
    if not hasattr(libpython.Frame, "is_evalframe"):
        # 2.7's helper decodes byte strings as latin-1 under gdb's Python 3;
        # they are usually UTF-8.
        try:
            value = value.encode("latin-1").decode("utf-8", "replace")
        except UnicodeEncodeError:
            pass  # a unicode object: already right
    return value


def _restore(thread: gdb.InferiorThread | None, frame: gdb.Frame | None) -> None:
    try:
        if thread is not None and thread.is_valid():
            thread.switch()
        if frame is not None and frame.is_valid():
            frame.select()
    except gdb.error:
        pass  # the thread or frame vanished: nothing better to select
