"""Every thread's Python stack on a 3.13+ build gdb has no debug info for: memory reads only.

CPython's helper needs the debug info's types.  Without them, the interpreter's own
`_Py_DebugOffsets` say where the threads and frames are (host/offset_frames.py): read at
the places the layout table kept for the version knows them at, and each offset the walk
uses checked to lie in its struct.  Unlike the memory backend (gdbside/memlayout.py), which
needs every number to be the table's, a build of another micro version is read too (its
strings are laid out as the table says: PyASCIIObject is the same in every 3.13-3.15 build).
"""

from __future__ import annotations

from typing import Optional

import gdb

from ..errors import MemleakError
from ..host import layout_tables, offset_frames, procfs, threading_names
from ..host.heapclasses import Classes
from ..host.memimage import Unreadable
from ..host.pyobjects import Reader
from . import inferior as inf
from . import memlayout
from .frame_chain import threads_by_pthread
from .frames import PyFrame
from .libpython import FramesUnavailable


def python_stacks(max_frames: int) -> tuple[dict[int, list[PyFrame]], dict[int, str]]:
    """(LWP -> that thread's Python frames, innermost first, at most `max_frames` each; LWP -> its
    `threading` name).  Raises FramesUnavailable (one line) where the build publishes no offsets
    this reading trusts, or what they lead to says nothing about the threads gdb sees."""
    version = inf.python_version()
    if version is None:
        raise FramesUnavailable("no CPython runtime found to read _Py_DebugOffsets from")
    if version < (3, 13):
        raise FramesUnavailable("no _Py_DebugOffsets before CPython 3.13")
    table = layout_tables.load(version)
    runtime = inf.minimal_symbol_address("_PyRuntime")
    code_type = inf.minimal_symbol_address("PyCode_Type")
    if table is None or runtime is None or code_type is None:
        raise FramesUnavailable("no layout kept for CPython %d.%d, or no _PyRuntime or PyCode_Type symbol" % version)
    target = gdb.selected_inferior()
    try:
        head = bytes(target.read_memory(runtime, layout_tables.span(table)))
    except (gdb.MemoryError, gdb.error):
        raise FramesUnavailable("its _Py_DebugOffsets cannot be read") from None
    # Its own numbers: a build of another micro version (Debian trixie's 3.13) is read too.
    offsets, why = layout_tables.own_offsets(table, head, offset_frames.USED)
    if why is not None:
        raise FramesUnavailable("its _Py_DebugOffsets cannot be used (%s)" % why)
    try:
        image = memlayout.image(target, inf.is_core(target))
    except MemleakError as e:
        raise FramesUnavailable(str(e)) from None
    try:
        reader = Reader(image, memlayout.layout(version))
        read = offset_frames.stacks(reader, runtime, offsets, code_type, max_frames)
        names = _names(reader, runtime, offsets)
    except (MemleakError, Unreadable, KeyError) as e:
        raise FramesUnavailable("its threads cannot be read with its _Py_DebugOffsets (%s)" % e) from None
    finally:
        image.close()
    lwps = _Lwps(target)
    return _by_lwp(lwps, read), _names_by_lwp(lwps, names)


class _Lwps:
    """How the target's threads name gdb's LWPs: by their id in their own PID namespace (NSpid:
    a container's), and by their pthread_t (a core of a container's process)."""

    def __init__(self, target: gdb.Inferior) -> None:
        lwps = [thread.ptid[1] or thread.ptid[0] for thread in target.threads()]
        self.by_native = {lwp: lwp for lwp in lwps} if inf.is_core(target) else procfs.namespace_tids(target.pid, lwps)
        self.by_pthread = threads_by_pthread(target)

    def find(self, native_id: Optional[int], pthread: Optional[int]) -> Optional[int]:
        return self.by_native.get(native_id or 0) or self.by_pthread.get(pthread or 0)


def _names(reader: Reader, runtime: int, offsets: dict[str, int]) -> list[threading_names.NamedThread]:
    """threading's names, from the main interpreter's sys.modules (its own offset to it, checked
    to lie in its struct); [] where they cannot be read: the frames are shown all the same."""
    at, size = offsets.get("interpreter_state.imports_modules"), offsets.get("interpreter_state.size")
    if at is None or size is None or not 0 <= at < size:
        return []
    try:
        main = offset_frames.interpreters(reader, runtime, offsets)[-1:]
        modules = reader.word(main[0] + at) if main else 0
        classes = Classes(reader, memlayout.roots(reader.L))
        return threading_names.named_threads(reader, classes, modules) if modules else []
    except Exception:  # damaged memory, whatever it raises: the frames are shown without names
        return []


def _names_by_lwp(lwps: _Lwps, named: list[threading_names.NamedThread]) -> dict[int, str]:
    """The names by LWP: a Thread's ident (its pthread_t) first; its _native_id can be another
    thread's (3.13-3.14's _MainThread takes that of the thread that first imported threading)."""
    names: dict[int, str] = {}
    for one in named:
        lwp = lwps.find(None, one.ident) or lwps.find(one.native_id, None)
        if lwp is not None:
            names.setdefault(lwp, one.name)
    return names


def _by_lwp(lwps: _Lwps, read: list[offset_frames.ThreadStack]) -> dict[int, list[PyFrame]]:
    """The stacks by the LWP gdb knows each thread by."""
    stacks: dict[int, list[PyFrame]] = {}
    for one in read:
        lwp = lwps.find(one.native_id, one.pthread)
        if lwp is not None and not stacks.get(lwp):  # a thread state with frames before an idle one
            stacks[lwp] = [PyFrame(*frame) for frame in one.frames]
    if any(one.linked for one in read) and not any(stacks.values()):
        raise FramesUnavailable("its _Py_DebugOffsets led to no frame of a thread gdb sees")
    return stacks
