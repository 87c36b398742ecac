"""Every thread's Python frames read as bytes from the interpreter's own thread states: no unwinding.

Each thread state links the thread's innermost Python frame (tstate->frame up to 3.10,
a _PyInterpreterFrame on 3.11+), and each frame the one that called it.  Walking those
links reads memory only (rawmem: offsets from the debug info, a read per link), where
unwinding a thread's C stack to find its eval frames costs 1-25 ms a frame (25 ms on
Debian's 3.14, measured 2026-12-01; 300 idle threads on pyenv's 3.10: 2.1 s with the
target stopped, measured 2026-12-02).  frames.py describes each frame met (with the
helper, once per code and instruction) and walks the C stacks of threads not found here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gdb

from .inferior import python_version
from .rawmem import LayoutUnknown, Memory, Struct, uint

__all__ = ["ChainLayout", "chain", "chain_layout", "thread_states", "threads_by_pthread"]

# Bounds against corrupt memory (cycles in frame links).
_MAX_CHAIN = 20000
_MAX_INTERPRETERS = 1000
# The interpreters' list: 3.7+, then 2.7 and 3.6.
_INTERPRETERS = ("_PyRuntime.interpreters.head", "interp_head")


@dataclass(frozen=True)
class ChainLayout:
    """Where a frame keeps what its description depends on: byte offsets from the debug info."""

    code: int  # f_code; f_executable on 3.13+ (a tagged _PyStackRef from 3.14)
    instruction: tuple[int, int]  # offset, size: f_lasti (an int) up to 3.10, prev_instr or instr_ptr after
    previous: int  # f_back, or previous
    owner: tuple[int, int] | None  # 3.11+: offset, size of the frame's owner
    size: int  # bytes read per frame
    shim_owner: int | None  # the owner value of frames that stand for a C call (3.12+), not shown
    frame_pointer: Any  # gdb.Type of a frame pointer
    helper_frame: Any  # the helper's class for one frame: PyFramePtr (3.11+) or PyFrameObjectPtr


def chain_layout(libpython: Any) -> ChainLayout | None:
    """The frames' layout, or None (the helper or the debug info lacks something: the C
    frames are walked instead)."""
    try:
        if getattr(libpython, "PyFramePtr", None) is not None:  # 3.11+
            frame = Struct("struct _PyInterpreterFrame")
            pointer = gdb.lookup_type("struct _PyInterpreterFrame").pointer()
            code = frame.sized("f_executable" if frame.has("f_executable") else "f_code")
            instruction = frame.sized("instr_ptr" if frame.has("instr_ptr") else "prev_instr")
            previous = frame.sized("previous")
            owner: tuple[int, int] | None = frame.sized("owner")
            helper = libpython.PyFramePtr
        else:
            frame = Struct("PyFrameObject")
            pointer = gdb.lookup_type("PyFrameObject").pointer()
            code, instruction, previous = frame.sized("f_code"), frame.sized("f_lasti"), frame.sized("f_back")
            owner, helper = None, libpython.PyFrameObjectPtr
    except (LayoutUnknown, gdb.error, RuntimeError, AttributeError):
        return None
    fields = [code, instruction, previous] + ([owner] if owner else [])
    if code[1] != 8 or previous[1] != 8 or instruction[1] not in (4, 8) or (owner and owner[1] not in (1, 2, 4)):
        return None
    # 3.12 and 3.13 call it FRAME_OWNED_BY_CSTACK, 3.14+ FRAME_OWNED_BY_INTERPRETER; 3.11 has none.
    shim = getattr(libpython, "FRAME_OWNED_BY_CSTACK", getattr(libpython, "FRAME_OWNED_BY_INTERPRETER", None))
    end = max(at + size for at, size in fields)
    return ChainLayout(code[0], instruction, previous[0], owner, end, shim if isinstance(shim, int) and owner else None, pointer, helper)


def thread_states(memory: Memory) -> dict[int, int]:
    """LWP -> the address of its thread state's current frame pointer, read from the
    runtime's own lists; {} if they cannot be read.

    3.11+ keep each thread's LWP in its state; older ones its pthread_self(), matched to
    the threads gdb knows through libthread_db.  Nor is the 3.14 helper's
    PyFramePtr.get_thread_state() used: where thread-local variables are unreadable (no
    libthread_db, as in a container of another distro) it evaluates
    `pthread_getspecific(...)`, which gdb runs as a call in the target, the kind of call
    that kills targets on CPUs with AMX (measured: 6.8 s a thread, the target stopped
    throughout)."""
    found: dict[int, int] = {}
    try:
        tstate = Struct("PyThreadState")
        by_handle = None if tstate.has("native_thread_id") else _threads_by_handle()
        id_at = tstate.offset("thread_id" if by_handle is not None else "native_thread_id")
        next_at = tstate.offset("next")
        if tstate.has("current_frame"):  # 3.13+
            current_at, cframe_at = tstate.offset("current_frame"), None
        elif tstate.has("frame"):  # up to 3.10 (whose cframe holds no frame)
            current_at, cframe_at = tstate.offset("frame"), None
        else:  # 3.11, 3.12: tstate->cframe->current_frame
            current_at, cframe_at = Struct("_PyCFrame").offset("current_frame"), tstate.offset("cframe")
        size = max(next_at, id_at, current_at if cframe_at is None else cframe_at) + 8
        interp = _interpreters()
        for _ in range(_MAX_INTERPRETERS):
            if int(interp) == 0:
                break
            names = {f.name for f in interp.dereference().type.strip_typedefs().fields()}
            address = int(interp["threads"]["head"] if "threads" in names else interp["tstate_head"])
            for _ in range(_MAX_CHAIN):
                if address == 0:
                    break
                data = memory.read(address, size)
                where = address + current_at if cframe_at is None else uint(data, cframe_at) + current_at
                lwp = uint(data, id_at) if by_handle is None else by_handle.get(uint(data, id_at))
                if lwp:
                    found.setdefault(lwp, where)
                address = uint(data, next_at)
            interp = interp["next"]
    except (LayoutUnknown, gdb.error):  # another layout, or unreadable memory
        return {}
    return found


def threads_by_pthread(inferior: gdb.Inferior) -> dict[int, int]:
    """pthread_t (what CPython keeps as a thread's ident) -> LWP, from gdb's thread handles, else
    (no libthread_db: a container's libc that gdb declines to load, some core files) from each
    thread's fs_base, which is its pthread_t on x86-64 (glibc's and musl's pthread_self() read
    the thread's own descriptor, which fs points at)."""
    found = {}
    for thread in inferior.threads():
        try:
            handle = thread.handle()
        except (gdb.error, RuntimeError, AttributeError):
            continue
        if handle:
            found[int.from_bytes(bytes(handle), sys.byteorder)] = thread.ptid[1] or thread.ptid[0]
    return found or _threads_by_fs_base(inferior)


def _threads_by_fs_base(inferior: gdb.Inferior) -> dict[int, int]:
    found = {}
    selected = gdb.selected_thread()
    try:
        for thread in inferior.threads():
            try:
                thread.switch()
                base = int(gdb.parse_and_eval("$fs_base"))
            except (gdb.error, RuntimeError):
                continue  # gone, or its registers unavailable (no such register: another architecture)
            if base:
                found[base] = thread.ptid[1] or thread.ptid[0]
    finally:
        if selected is not None and selected.is_valid():
            selected.switch()
    return found


def _threads_by_handle() -> dict[int, int]:
    """pthread_t -> LWP of the threads gdb knows; LayoutUnknown without libthread_db."""
    found = threads_by_pthread(gdb.selected_inferior())
    if not found:
        raise LayoutUnknown("no thread handles: pthread_self() cannot be matched")
    return found


def _interpreters() -> Any:
    for expr in expressions_for_this_version(_INTERPRETERS):
        try:
            return gdb.parse_and_eval(expr)
        except gdb.error:
            continue
    raise LayoutUnknown("the interpreters' list")


def chain(layout: ChainLayout, memory: Memory, where: int, limit: int, describe: Callable[[tuple, int], Any]) -> list[Any] | None:
    """A thread's frames, innermost first, as `describe(key, frame address)` gives them (None
    ends the chain), from the current frame pointer at `where`; None if not even the first
    link could be read (the C frames are walked instead).  The key is the frame's code and
    instruction, the same for every frame that a description fits."""
    out: list[Any] = []
    try:
        current = memory.pointer(where)
        for _ in range(_MAX_CHAIN):  # shims add no frame: bound the links, not the frames
            if current == 0 or len(out) >= limit:
                break
            frame = memory.read(current, layout.size)
            if layout.owner is None or layout.shim_owner is None or uint(frame, *layout.owner) != layout.shim_owner:
                # 3.14+ hold the code in a tagged _PyStackRef: its raw bits are key enough
                one = describe(("link", uint(frame, layout.code), uint(frame, *layout.instruction)), current)
                if one is None:
                    break
                out.append(one)
            current = uint(frame, layout.previous)
    except (gdb.error, RuntimeError, TypeError, ValueError):  # (gdb.MemoryError is a gdb.error)
        return out or None  # an unreadable link: keep the frames read so far
    return out


def expressions_for_this_version(expressions: tuple[str, ...]) -> tuple[str, ...]:
    """Without those of _PyRuntime (3.7+) before 3.7: a symbol gdb does not find is looked
    for in every objfile, 17 ms each on 2.7 with 300 threads (2026-12-02), the target stopped."""
    version = python_version()
    if version is not None and version < (3, 7):
        return tuple(e for e in expressions if not e.startswith("_PyRuntime"))
    return expressions
