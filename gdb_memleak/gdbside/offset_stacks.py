"""Every thread's Python stack on a 3.13+ build gdb has no debug info for: memory reads only.

CPython's helper needs the debug info's types.  Without them, the interpreter's own
`_Py_DebugOffsets` say where the threads and frames are (host/offset_frames.py): read at
the places the layout table kept for the version knows them at, and each offset the walk
uses checked to lie in its struct.  Unlike the memory backend (gdbside/memlayout.py), which
needs every number to be the table's, a build of another micro version is read too (its
strings are laid out as the table says: PyASCIIObject is the same in every 3.13-3.15 build).
"""

from __future__ import annotations

import gdb

from ..errors import MemleakError
from ..host import layout_tables, offset_frames, procfs
from ..host.memimage import Unreadable
from ..host.pyobjects import Reader
from . import inferior as inf
from . import memlayout
from .frame_chain import threads_by_pthread
from .frames import PyFrame
from .libpython import FramesUnavailable


def python_stacks(max_frames: int) -> dict[int, list[PyFrame]]:
    """LWP -> that thread's Python frames, innermost first, at most `max_frames` each.  Raises
    FramesUnavailable (one line) where the build publishes no offsets this reading trusts, or
    what they lead to says nothing about the threads gdb sees."""
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
        read = offset_frames.stacks(Reader(image, memlayout.layout(version)), runtime, offsets, code_type, max_frames)
    except (MemleakError, Unreadable, KeyError) as e:
        raise FramesUnavailable("its threads cannot be read with its _Py_DebugOffsets (%s)" % e) from None
    finally:
        image.close()
    return _by_lwp(target, read)


def _by_lwp(target: gdb.Inferior, read: list[offset_frames.ThreadStack]) -> dict[int, list[PyFrame]]:
    """The stacks by the LWP gdb knows each thread by: from its id in its own PID namespace (NSpid:
    a container's), else from its pthread_t (a core of a container's process)."""
    lwps = [thread.ptid[1] or thread.ptid[0] for thread in target.threads()]
    by_native = {lwp: lwp for lwp in lwps} if inf.is_core(target) else procfs.namespace_tids(target.pid, lwps)
    by_pthread = threads_by_pthread(target)
    stacks: dict[int, list[PyFrame]] = {}
    for one in read:
        lwp = by_native.get(one.native_id) or by_pthread.get(one.pthread)
        if lwp is not None and not stacks.get(lwp):  # a thread state with frames before an idle one
            stacks[lwp] = [PyFrame(*frame) for frame in one.frames]
    if any(one.linked for one in read) and not any(stacks.values()):
        raise FramesUnavailable("its _Py_DebugOffsets led to no frame of a thread gdb sees")
    return stacks
