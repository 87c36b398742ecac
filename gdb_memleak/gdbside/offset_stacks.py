"""Every thread's Python stack on a 3.13+ build gdb has no debug info for: memory reads only.

CPython's helper needs the debug info's types.  Without them, the interpreter's own
`_Py_DebugOffsets` say where the threads and frames are (host/offset_frames.py), once the
layout table kept for the version is checked against them, as the memory backend does
(gdbside/memlayout.py): any difference refuses, and py-memtop falls back to its payload.
"""

from __future__ import annotations

import gdb

from ..errors import MemleakError
from ..host import layout_tables, offset_frames, procfs
from ..host.memimage import Unreadable
from ..host.pyobjects import Reader
from . import inferior as inf
from . import memlayout
from .frames import PyFrame
from .libpython import FramesUnavailable


def python_stacks(max_frames: int) -> dict[int, list[PyFrame]]:
    """LWP -> that thread's Python frames, innermost first, at most `max_frames` each.  Raises
    FramesUnavailable (one line) where the build publishes no offsets this reading trusts."""
    version = inf.python_version()
    if version is None or version < (3, 13):
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
    why = layout_tables.mismatch(table, head)
    if why is not None:
        raise FramesUnavailable("the layout kept for CPython %d.%d does not fit it (%s)" % (version + (why,)))
    offsets = {name: value for name, _, value in table["debug_offsets"]}
    try:
        reader = Reader(memlayout.image(target, inf.is_core(target)), memlayout.layout(version))
        read = offset_frames.stacks(reader, runtime, offsets, code_type, max_frames)
    except (MemleakError, Unreadable, KeyError) as e:
        raise FramesUnavailable("its threads cannot be read with its _Py_DebugOffsets (%s)" % e) from None
    tids = [thread.ptid[1] for thread in target.threads()]
    # In a container, CPython keeps the tids of the target's own PID namespace.
    ours = {tid: tid for tid in tids} if inf.is_core(target) else procfs.namespace_tids(target.pid, tids)
    return {ours[tid]: [PyFrame(*frame) for frame in frames] for tid, frames in read.items() if tid in ours}
