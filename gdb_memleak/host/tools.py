"""Where the in-target tools (guppy3, objgraph) built for one interpreter live.

Tools for a target come only from a place built for the target's own interpreter:
the per-interpreter cache that ``python -m gdb_memleak prepare --python PYTHON``
fills is ``<cache>/tools/cpython-X.Y-<abi>/``, where ``<abi>`` is the interpreter's
extension-module tag (``312-x86_64-linux-gnu``, ``313t-...``; ``27-ucs4`` for
Python 2.7).  A directory there serves only targets of the same version *and* ABI.

``<cache>`` is ``$GDB_MEMLEAK_CACHE``, else ``$XDG_CACHE_HOME/gdb-memleak``, else
``~/.cache/gdb-memleak``.  Shared by ``prepare`` (outside gdb) and the gdb side.
"""

from __future__ import annotations

import os
import re
from typing import Optional

CACHE_ENV = "GDB_MEMLEAK_CACHE"
# Written last by `prepare`: a directory without it is incomplete and never used.
TOOLS_MARKER = "gdb-memleak-tools.json"


def cache_root() -> str:
    """Where gdb-memleak keeps its caches (read at each use: the environment may change)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = xdg if xdg and os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gdb-memleak")


def abi_from_suffix(suffix: str) -> Optional[str]:
    """'.cpython-312-x86_64-linux-gnu.so' -> '312-x86_64-linux-gnu' (None if not of that form)."""
    match = re.match(r"^\.cpython-(\d+[a-z]*-[A-Za-z0-9_.-]+?)\.so$", suffix)
    return match.group(1) if match else None


def tools_dir_name(version: tuple[int, int], abi: str) -> str:
    return "cpython-%d.%d-%s" % (version[0], version[1], abi)


def tools_dir(version: tuple[int, int], abi: str) -> str:
    return os.path.join(cache_root(), "tools", tools_dir_name(version, abi))
