"""Work done before gdb attaches (`gdb -p PID` with gdb-memleak loaded first), while the target still runs.

From the attach to the end of gdb's session the target is stopped.  What the first command
needs only the target's files for is done here instead:

* the interpreter's gdb helper (libpython), compiled and run (libpython.preload_for_process):
  the part that moved, 85 ms of a loaded machine's stop (2026-12-02, docs/how-it-works.md);
* the first lookups of the types the helper wraps objects as, which read their part of the
  debug info: done here only where the types are in the executable (a static build); a
  shared build's are in libpython, which gdb reads at the attach;
* for those lookups, the executable's symbols (`file`); gdb reads them at the attach too,
  and reading them first made no measurable difference to the stop for pyenv's builds;
* a program linked at fixed addresses with the runtime in it (Debian's python3.11): its
  minimal-symbol table (msymbols.py; preread.py reads the shared libraries').

Only for a target in gdb's own root (elsewhere, the paths name other files) and when gdb
has no program yet.  Whatever fails here is done again after the attach, as without it.
"""

from __future__ import annotations

import os

import gdb

from ..host import elf, gdb_command_line
from . import libpython, msymbols


def prepare(pid: int) -> None:
    try:
        if not os.path.samefile("/proc/%d/root" % pid, "/"):
            return
        exe = os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return
    progspace = gdb.current_progspace()
    if (progspace is not None and progspace.filename) or gdb_command_line.names_a_program():
        # The user's program file (`gdb PROGRAM PID`: gdb loads it after -ix, and would ask to replace a
        # `file` of ours): only the helper, which needs the target's path alone.
        libpython.preload_for_process(pid, exe)
        return
    if not os.path.isfile(exe) or any(c.isspace() or c in "'\"\\" for c in exe):
        return  # deleted since it started, or a name gdb's `file` would need quoted
    try:
        gdb.execute("file " + exe, to_string=True)
    except gdb.error:
        return
    if elf.linked_at_fixed_addresses(exe) and elf.exports_function(exe, msymbols.RUNTIME_MARK):
        # A program with the runtime linked in (Debian's python3.11): its symbol table now
        # (msymbols.py); a PIE program's addresses are only known at the attach.
        msymbols.read_ahead(pid, exe, exe, fixed=True)
    libpython.preload_for_process(pid, exe)
    for name in _type_names():
        try:
            gdb.lookup_type(name)
        except gdb.error:
            pass  # not in this version, or no debug info: the commands say so


def _type_names() -> list[str]:
    """PyObject, and the types the helper's classes wrap objects as (PyObjectPtr._typename):
    after the attach, the first lookup of one took up to 30 ms of the stop (PyUnicodeObject,
    3.13, benchmarks/threads.py, 2026-12-02)."""
    names = ["PyObject"]
    helper = libpython.loaded_helper_namespace()
    base = getattr(helper, "PyObjectPtr", None) if helper is not None else None
    if isinstance(base, type):
        for value in list(vars(helper).values()):
            name = getattr(value, "_typename", None)
            if isinstance(value, type) and issubclass(value, base) and isinstance(name, str) and name not in names:
                names.append(name)
    return names
