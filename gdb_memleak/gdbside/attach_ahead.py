"""Work done before gdb attaches (`gdb -p PID` with gdb-memleak loaded first), while the target still runs.

From the attach to the end of gdb's session the target is stopped.  Three things of every
first command do not need it stopped, only its files, and are done here instead:

* the executable's symbols: gdb reads the program's symbols when it attaches, unless it
  already has a program file (exec.c, exec_file_locate_attach), so reading
  /proc/PID/exe's file now takes that out of the stop;
* the interpreter's gdb helper (libpython), compiled and run (libpython.preload_for_process);
* the first type lookup, which expands the debug info the commands read.

Only for a target in gdb's own root (elsewhere, the paths name other files) and when gdb
has no program yet.  Whatever fails here is done again after the attach, as without it.
"""

from __future__ import annotations

import os

import gdb

from . import libpython


def prepare(pid: int) -> None:
    try:
        if not os.path.samefile("/proc/%d/root" % pid, "/"):
            return
        exe = os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return
    progspace = gdb.current_progspace()
    if progspace is not None and progspace.filename:
        return  # gdb PROGRAM -p PID: the user's program file
    if not os.path.isfile(exe) or any(c.isspace() or c in "'\"\\" for c in exe):
        return  # deleted since it started, or a name gdb's `file` would need quoted
    try:
        gdb.execute("file " + exe, to_string=True)
    except gdb.error:
        return
    libpython.preload_for_process(pid)
    for name in _type_names():
        try:
            gdb.lookup_type(name)
        except gdb.error:
            pass  # not in this version, or no debug info: the commands say so


def _type_names() -> list[str]:
    """PyObject, and the types the helper's classes wrap objects as (PyObjectPtr._typename):
    the first lookup of each reads its part of the debug info, 12 ms each for the 3.13 target
    of benchmarks/threads.py (2026-12-02)."""
    names = ["PyObject"]
    helper = libpython.loaded_helper_namespace()
    base = getattr(helper, "PyObjectPtr", None) if helper is not None else None
    if isinstance(base, type):
        for value in list(vars(helper).values()):
            name = getattr(value, "_typename", None)
            if isinstance(value, type) and issubclass(value, base) and isinstance(name, str) and name not in names:
                names.append(name)
    return names
