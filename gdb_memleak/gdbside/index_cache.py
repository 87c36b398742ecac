"""gdb's index cache, turned on and filled before gdb attaches, while the target still runs (issue 13).

gdb indexes every shared library's DWARF at the attach, with the target stopped.  Its
index cache (`set index-cache enabled on`) keeps those indexes on disk by GNU build-id,
and an attach that finds them there read the same pyenv 3.11 service's symbols in about
0.13 s of stop instead of 0.23 s (benchmarks/pauses.py, 2026-12-02).  So, when
gdb-memleak is loaded before the attach (gdb -ix, ~/.gdbinit), it turns the cache on and
indexes the target's files that are not in it yet: each is added as a symbol file, which
writes its entry, and removed again (0.09 s for libpython 3.11 and one module, once per
build of a file).  The cache is gdb's own, in its own directory (`show index-cache
directory`: $XDG_CACHE_HOME/gdb or ~/.cache/gdb).  GDB_MEMLEAK_INDEX_CACHE=off in the
environment leaves gdb's setting and the cache alone.
"""

from __future__ import annotations

import os
import time

import gdb

from ..host import index_cache

BUDGET = 10.0  # seconds of indexing before one attach; what is left waits for the next one
SWITCH = "GDB_MEMLEAK_INDEX_CACHE"


def prepare(pid: int) -> list[str]:
    """Turn gdb's index cache on and fill it with the target's files: the paths indexed now."""
    if os.environ.get(SWITCH, "").lower() in ("off", "0", "no"):
        return []
    try:
        if not gdb.parameter("index-cache enabled"):
            gdb.execute("set index-cache enabled on", to_string=True)
        directory = str(gdb.parameter("index-cache directory"))
    except (gdb.error, RuntimeError):
        return []  # gdb before 13 spells it `set index-cache on`: its setting is left as it is
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return []
    deadline = time.monotonic() + BUDGET
    indexed = []
    for path in index_cache.files_to_index(pid, directory):
        if time.monotonic() > deadline:
            break
        if _index(path):
            indexed.append(path)
    return indexed


def _index(path: str) -> bool:
    """Load `path` as a symbol file, which writes its cache entry, and unload it; no query asked,
    no auto-loaded script (a libpython's -gdb.py helper) run."""
    before = {id(o) for o in gdb.objfiles()}
    scripts = gdb.parameter("auto-load python-scripts")
    gdb.execute("set auto-load python-scripts off", to_string=True)
    try:
        gdb.execute("with confirm off -- add-symbol-file %s -o 0" % path, to_string=True)
        return True
    except gdb.error:
        return False
    finally:
        gdb.execute("set auto-load python-scripts %s" % ("on" if scripts else "off"), to_string=True)
        # gdb names the objfile by the file's real path, not by the /proc path it was given
        for name in [o.filename for o in gdb.objfiles() if id(o) not in before and o.filename]:
            try:
                gdb.execute("with confirm off -- remove-symbol-file %s" % name, to_string=True)
            except gdb.error:
                pass
