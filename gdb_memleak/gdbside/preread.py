"""The target's shared libraries, read by gdb before it attaches (issue 13), in an inferior of their own.

At `gdb -p PID` gdb reads every shared library's symbols with the target stopped.  For a
pyenv 3.11 service with Debian's libc6-dbg that was most of the attach's stop, even with
the index cache (index_cache.py) on (2026-12-03, gdb 13.1, `set debug timestamp`,
`symtab-create` and `dwarf-read` traces): libpython's 18,394 minimal symbols 18 ms, libc's
and its debug file's 8 ms, the other 17 objects 6 ms; then, to print the stop location
(__select in libc), 24 ms inflating libc's zlib-compressed .debug_info and 11 ms expanding
its select.c unit.

gdb keeps minimal symbols, DWARF indexes and section contents per file (per BFD), not per
objfile, and opens a file again under the same name as the same BFD.  So here, while the
target runs, each shared object of its link map (host/linkmap.py: the names gdb will use)
is added as a symbol file, at its load address, to a second inferior's program space, and
the compilation unit of each thread's current pc (/proc/PID/task/TID/syscall) is looked
up there, which inflates those files' debug sections.  At the attach gdb creates its own
objfiles for the same files and reuses all of that.  What is per objfile (the expanded
units, the thread list, thread_db) is still done at the attach.  The minimal-symbol tables
the commands look names up in (the runtime's, libc's) are read there too (msymbols.py).

Measured on `benchmarks/heap_target.py serve 0` (pyenv 3.11, index cache warm, 7 runs,
medians (max), 2-core machine shared with a test suite, 2026-12-03): `gdb -batch -nx -ix
gdbinit.example -p PID` stopped it 0.093 s (0.106) before, 0.026 s (0.028) after; with
`-ex py-memtop` 0.132 s (0.153) before, 0.048 s (0.053) after; with the index cache empty
(a first attach) py-memtop 0.275 s before, 0.058 s after.  Debian's python3.11 (no debug
info): the attach 0.066 s -> 0.013 s.  gdb 16.3: py-memtop 0.129 s -> 0.053 s; gdb 18.1
0.083 s -> 0.053 s (with an empty cache still 0.14-0.22 s there: its command's lookups
expand some twenty libpython units, per objfile, which nothing here can do ahead).

The holding inferior is removed at gdb's first prompt (an interactive session; `gdb
-batch` exits first): it has no process, and gdb.objfiles(), symbol and type lookups see
only the current program space, so the commands do not see it meanwhile.  Only for a
target in gdb's own root (the link map's names are the target's); GDB_MEMLEAK_PREREAD=off
in the environment turns it off.  Whatever fails here leaves the attach as it was.
"""

from __future__ import annotations

import os
from typing import Optional

import gdb

from ..host import elf, linkmap
from ..host.procfs import read_small_file
from . import msymbols

SWITCH = "GDB_MEMLEAK_PREREAD"
MAX_THREAD_PCS = 64  # each new pc can expand a unit: a few ms each, before the attach

_holder: Optional[gdb.Inferior] = None


def prepare(pid: int) -> None:
    """Read the shared objects of process pid into a holding inferior, unless switched off."""
    global _holder
    if os.environ.get(SWITCH, "").lower() in ("off", "0", "no") or _holder is not None:
        return
    try:
        if not os.path.samefile("/proc/%d/root" % pid, "/"):
            return
    except OSError:
        return
    objects = [(name, base) for name, base in linkmap.loaded_objects(pid)
               if not any(c.isspace() or c in "'\"\\" for c in name)]
    if not objects:
        return
    pcs = _thread_pcs(pid)
    original = gdb.selected_inferior()
    with _quiet():
        try:
            gdb.execute("add-inferior -no-connection", to_string=True)
        except gdb.error:
            return
        holder = max(gdb.inferiors(), key=lambda i: i.num)
        try:
            gdb.execute("inferior %d" % holder.num, to_string=True)
            for name, base in objects:
                # "target:" keeps the name as it is: add-symbol-file would otherwise open the
                # real path (/usr/lib/...), another BFD than the attach's (/lib/...).
                try:
                    gdb.execute("add-symbol-file target:%s -o %d" % (name, base), to_string=True)
                except gdb.error:
                    pass  # unreadable, or not ELF: gdb says so again at the attach
            for pc in pcs:
                try:
                    gdb.find_pc_line(pc)
                except (gdb.error, RuntimeError):
                    pass
            # gdb indexes DWARF in worker threads.  gdb 13 waits for every index at a lookup
            # (11 ms for libpython's, measured), so that none is still being built once the
            # target is stopped; gdb 14+ also writes the index cache's entries in the
            # background, and the holding inferior is not removed under a pending write (the
            # race index_cache.py's docstring tells of).  gdb 13 has no wait-for-index-cache.
            try:
                gdb.lookup_global_symbol("gdb_memleak_preread_done")
            except (gdb.error, RuntimeError):
                pass
            try:
                gdb.execute("maintenance wait-for-index-cache", to_string=True)
            except gdb.error:
                pass
            _read_symbol_tables(pid, objects)
        finally:
            gdb.execute("inferior %d" % original.num, to_string=True)
    _holder = holder
    gdb.events.before_prompt.connect(_release)


def _read_symbol_tables(pid: int, objects: list[tuple[str, int]]) -> None:
    """The minimal-symbol tables of the runtime and the C library, read here at the target's
    addresses (msymbols.py): 45 ms of the first command's stop before (2026-12-03)."""
    held = {msymbols.real_name(o.filename): o.filename for o in gdb.objfiles() if o.filename}
    for name, _ in objects:
        base = os.path.basename(name)
        if not base.startswith(("libc.so", "libc-", "libpthread")) and not elf.exports_function(name, msymbols.RUNTIME_MARK):
            continue
        objfile = held.get(msymbols.real_name(name))
        if objfile is not None:
            msymbols.read_ahead(pid, objfile, name)


def _thread_pcs(pid: int) -> list[int]:
    """The pc of each thread of pid that is blocked in the kernel (the last field of
    /proc/PID/task/TID/syscall; "running" for the others), distinct, at most MAX_THREAD_PCS."""
    pcs: list[int] = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return pcs
    for tid in tids:
        fields = (read_small_file("/proc/%d/task/%s/syscall" % (pid, tid)) or "").split()
        if len(fields) < 3 or fields[0] == "running":
            continue
        try:
            pc = int(fields[-1], 16)
        except ValueError:
            continue
        if pc and pc not in pcs:
            pcs.append(pc)
        if len(pcs) >= MAX_THREAD_PCS:
            break
    return pcs


class _quiet:
    """`set suppress-cli-notifications on` for the inferior switches (gdb 12+): gdb prints
    "[Switching to inferior N ...]" even into execute(to_string=True)."""

    def __enter__(self) -> None:
        try:
            self.saved = gdb.parameter("suppress-cli-notifications")
            gdb.execute("set suppress-cli-notifications on", to_string=True)
        except (gdb.error, RuntimeError):
            self.saved = None

    def __exit__(self, *exc: object) -> None:
        if self.saved is False:
            gdb.execute("set suppress-cli-notifications off", to_string=True)


def _release(*_: object) -> None:
    """Remove the holding inferior: by the first prompt the attach has read its own objfiles.
    (gdb calls before_prompt's handlers with no argument; its type stubs say one.)"""
    global _holder
    gdb.events.before_prompt.disconnect(_release)
    holder, _holder = _holder, None
    if holder is None or not holder.is_valid() or holder.pid or holder == gdb.selected_inferior():
        return
    try:
        gdb.execute("remove-inferiors %d" % holder.num, to_string=True)
    except gdb.error:
        pass
