"""gdb's index cache, turned on before gdb attaches (issue 13).

gdb indexes every shared library's DWARF at the attach, with the target stopped.  Its
index cache (`set index-cache enabled on`) keeps those indexes on disk by GNU build-id, and
an attach that finds them there read a small pyenv 3.11 service's symbols in about 0.13 s
of stop instead of 0.23 s (benchmarks/pauses.py, 5 runs each, 2026-12-02).  So, when
gdb-memleak is loaded before the attach (gdb -ix, ~/.gdbinit), it turns the cache on: the
first attach to a build of a program writes the entries, and later ones read them.  The
cache is gdb's own, in its own directory (`show index-cache directory`: $XDG_CACHE_HOME/gdb
or ~/.cache/gdb).  GDB_MEMLEAK_INDEX_CACHE=off in the environment leaves gdb's setting alone.

Filling the cache before the first attach, by adding each file as a symbol file and removing
it again, was tried and dropped: gdb 13 crashed once in the test suite ("Recursive internal
problem"), the removal probably racing the background write of the entry.
"""

from __future__ import annotations

import os

import gdb

SWITCH = "GDB_MEMLEAK_INDEX_CACHE"


def prepare() -> None:
    """Turn gdb's index cache on, unless switched off."""
    if os.environ.get(SWITCH, "").lower() in ("off", "0", "no"):
        return
    try:
        if not gdb.parameter("index-cache enabled"):
            gdb.execute("set index-cache enabled on", to_string=True)
    except (gdb.error, RuntimeError):
        pass  # gdb before 13 spells it `set index-cache on`: its setting is left as it is
