"""Every thread's Python frames, read from memory with the interpreter's own `_Py_DebugOffsets` (3.13+).

A release build without its debug files (Debian's python3.13 in a container, forky's
python3.14) gives gdb no types, so CPython's gdb helper cannot read its frames, and
py-memtop ran a payload in the target for them.  CPython 3.13+ publishes, at the start of
`_PyRuntime`, the offsets that out-of-process tools (py-spy, pystack) walk its threads and
frames with; host/layout_tables.py checks them against a kept table.  With them the walk is
memory reads only, as with the debug info: the runtime's interpreters, each one's thread
states (native thread id, current frame), each frame's code object, instruction and
caller.  A frame's line comes from its code's location table (Objects/locations.md), at the
instruction the frame stands at, as the helper computes it.  Pure: imports nothing of gdb.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Optional

from .memimage import Unreadable
from .pyobjects import Reader

MAX_THREADS = 10000  # thread states in all, every interpreter's
MAX_INTERPRETERS = 1000
MAX_CHAIN = 20000  # frame links of one thread, shims included
MAX_LINETABLE = 1 << 20
MAX_TEXT = 1000  # characters of a file or function name, as the helper's path reads them
# Owners of frames that stand for no Python code: 3.13's CSTACK (3); 3.14+'s INTERPRETER (3) and CSTACK (4).
SHIM_OWNERS = (3, 4)
# 3.14+ keep the code in a tagged _PyStackRef: the low bits are tags, an object is 8-aligned at least.
TAG_BITS = 7

Frame = tuple[str, int, str]  # file, line (-1: none), function
# The _Py_DebugOffsets the walk reads with.
USED = ("runtime_state.interpreters_head", "interpreter_state.threads_head", "interpreter_state.next",
        "thread_state.next", "thread_state.current_frame", "thread_state.native_thread_id", "thread_state.thread_id",
        "interpreter_frame.owner", "interpreter_frame.executable", "interpreter_frame.instr_ptr",
        "interpreter_frame.previous", "code_object.filename", "code_object.name", "code_object.firstlineno",
        "code_object.linetable", "code_object.co_code_adaptive", "bytes_object.ob_size", "bytes_object.ob_sval")


@dataclass
class ThreadStack:
    """One thread state: the thread's id in its own PID namespace, its pthread_t, and its frames
    (innermost first); `linked`: it had a current frame (whether or not one could be described)."""

    native_id: int
    pthread: int
    frames: list[Frame]
    linked: bool


def stacks(reader: Reader, runtime: int, offsets: dict[str, int], code_type: int, limit: int) -> list[ThreadStack]:
    """Every thread state's frames, at most `limit` each.  `offsets`: the `_Py_DebugOffsets` by
    name ("thread_state.next"...); `code_type`: PyCode_Type's address.  A code object met
    again at the same instruction is described once.  Raises Unreadable when even the lists of
    interpreters or threads cannot be read."""
    described: dict[tuple[int, int], Frame] = {}
    found = []
    for tstate in _thread_states(reader, runtime, offsets):
        frame = reader.word(tstate + offsets["thread_state.current_frame"])
        found.append(ThreadStack(reader.word(tstate + offsets["thread_state.native_thread_id"]),
                                 reader.word(tstate + offsets["thread_state.thread_id"]),
                                 _frames(reader, frame, offsets, code_type, limit, described), frame != 0))
    return found


def interpreters(reader: Reader, runtime: int, offsets: dict[str, int]) -> list[int]:
    """The interpreter states, newest first (the main one last), each once, MAX_INTERPRETERS at most."""
    found: list[int] = []
    interp = reader.word(runtime + offsets["runtime_state.interpreters_head"])
    while interp and interp not in found and len(found) < MAX_INTERPRETERS:
        found.append(interp)
        interp = reader.word(interp + offsets["interpreter_state.next"])
    return found


def _thread_states(reader: Reader, runtime: int, offsets: dict[str, int]) -> Iterator[int]:
    """Each thread state once, whatever loops a damaged list makes, MAX_THREADS in all."""
    seen: set[int] = set()
    for interp in interpreters(reader, runtime, offsets):
        tstate = reader.word(interp + offsets["interpreter_state.threads_head"])
        while tstate and tstate not in seen:
            if len(seen) > MAX_THREADS:
                return
            seen.add(tstate)
            yield tstate
            tstate = reader.word(tstate + offsets["thread_state.next"])


def _frames(reader: Reader, frame: int, offsets: dict[str, int], code_type: int, limit: int,
            described: dict[tuple[int, int], Frame]) -> list[Frame]:
    out: list[Frame] = []
    seen: set[int] = set()
    try:
        while frame and frame not in seen and len(out) < limit and len(seen) < MAX_CHAIN:
            seen.add(frame)
            owner = reader.byte(frame + offsets["interpreter_frame.owner"])
            code = reader.word(frame + offsets["interpreter_frame.executable"]) & ~TAG_BITS
            if owner not in SHIM_OWNERS and code and reader.head(code)[1] == code_type:
                key = (code, reader.word(frame + offsets["interpreter_frame.instr_ptr"]))
                if key not in described:
                    described[key] = _describe(reader, code, key[1], offsets)
                out.append(described[key])
            frame = reader.word(frame + offsets["interpreter_frame.previous"])
    except Unreadable:
        pass  # an unreadable link: the frames read so far
    return out


def _describe(reader: Reader, code: int, instr_ptr: int, offsets: dict[str, int]) -> Frame:
    file = reader.text(reader.word(code + offsets["code_object.filename"]), MAX_TEXT) or "<unknown>"
    function = reader.text(reader.word(code + offsets["code_object.name"]), MAX_TEXT) or "<unknown>"  # as the helper
    first = reader.u32(code + offsets["code_object.firstlineno"])
    index = (instr_ptr - (code + offsets["code_object.co_code_adaptive"])) // 2
    table = reader.word(code + offsets["code_object.linetable"])
    size = reader.sword(table + offsets["bytes_object.ob_size"])
    if index < 0 or not 0 <= size <= MAX_LINETABLE:
        return file, -1, function
    line = line_at(reader.image.read(table + offsets["bytes_object.ob_sval"], size), first, index)
    return file, line if line is not None else -1, function


def line_at(table: bytes, first_line: int, index: int) -> Optional[int]:
    """The line of the code unit `index`, from a 3.11+ location table; None where it has none."""
    at, address, line = 0, 0, first_line
    try:
        while at < len(table):
            head = table[at]
            kind, length = (head >> 3) & 15, (head & 7) + 1
            at += 1
            delta: Optional[int] = 0
            if kind == 15:  # no location
                delta = None
            elif kind == 14:  # long form: line delta, end line delta, column, end column
                delta, at = _signed_varint(table, at)
                for _ in range(3):
                    at = _varint(table, at)[1]
            elif kind == 13:  # no column
                delta, at = _signed_varint(table, at)
            elif kind >= 10:  # one line: the delta in the kind, then two columns
                delta, at = kind - 10, at + 2
            else:  # short form: same line, one byte of columns
                at += 1
            if delta is not None:
                line += delta
            if address <= index < address + length:
                return line if delta is not None else None
            address += length
    except IndexError:
        return None
    return None


def _varint(data: bytes, at: int) -> tuple[int, int]:
    byte = data[at]
    value, shift = byte & 63, 0
    while byte & 64:
        at += 1
        byte = data[at]
        shift += 6
        value |= (byte & 63) << shift
    return value, at + 1


def _signed_varint(data: bytes, at: int) -> tuple[int, int]:
    value, at = _varint(data, at)
    return (-(value >> 1) if value & 1 else value >> 1), at
