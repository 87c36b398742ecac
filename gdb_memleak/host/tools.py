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

import hashlib
import os
import re
import tempfile
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


# What the venv's site-packages lends a target: the tools and their compiled code, nothing else.
# The whole site-packages on the target's sys.path lent it every package there: objgraph imports
# graphviz when it can, and py-cycles --graph left graphviz (0.21, with its own imports) in a 3.11
# target's sys.modules; a target thread importing a package of its own that it lacks would have
# got the venv's during a payload.
VIEW_ENTRIES = ("guppy", "objgraph.py", "__pycache__")  # (__pycache__: objgraph's .pyc, used as is)
VIEW_DIR = "gdb-memleak-tools"


def venv_view(venv: str, site: str, version: tuple[int, int]) -> Optional[str]:
    """A directory holding only links to the tools in `site` (the venv's site-packages for
    `version`), made on first use (`make setup` makes it) and again when it no longer matches
    `site`: in `venv`, else in the user's cache (a venv gdb-memleak cannot write to: a shared
    install); `site` itself when neither can be written, None when `site` has no tool."""
    present = [name for name in VIEW_ENTRIES if os.path.exists(os.path.join(site, name))]
    if not any(name in present for name in VIEW_ENTRIES[:2]):
        return None
    leaf = "python%d.%d" % version
    view = _linked_view(os.path.join(venv, VIEW_DIR, leaf), site, present)
    if view is not None:
        return view
    cache = cache_root()
    # Not where fewer users can reach it than site-packages: root's ~/.cache is 0700, and a target of
    # another user's could import from site-packages but not from there.
    if os.path.isabs(cache) and (_traversable_by_all(cache) or not _traversable_by_all(site)):
        digest = hashlib.sha256(os.path.realpath(site).encode()).hexdigest()[:16]
        view = _linked_view(os.path.join(cache, "views", digest, leaf), site, present)
    return view or site


def _traversable_by_all(path: str) -> bool:
    """Every directory of `path` that exists can be passed through by any user (o+x)."""
    while True:
        try:
            if not os.stat(path).st_mode & 0o001:
                return False
        except FileNotFoundError:
            pass
        except OSError:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def _linked_view(view: str, site: str, present: list[str]) -> Optional[str]:
    """`view`, holding links to `present` in `site` (made or made again); None if it cannot be written
    or read (a view root made, for another user)."""
    try:
        if sorted(os.listdir(view) if os.path.isdir(view) else []) == sorted(present) and \
                all(os.path.exists(os.path.join(view, name)) for name in present):
            return view
        os.makedirs(os.path.dirname(view), exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".tmp-", dir=os.path.dirname(view))  # (ours alone, whoever else makes one)
    except OSError:
        return None
    try:
        os.chmod(staging, 0o755)  # (mkdtemp's 0700 kept every other user's target, and gdb, out of it)
        for name in present:
            os.symlink(os.path.join(site, name), os.path.join(staging, name))
        if os.path.isdir(view):  # out of date (a tool added, a venv moved): its links go, then it
            for name in os.listdir(view):
                os.unlink(os.path.join(view, name))
            os.rmdir(view)
        os.rename(staging, view)
    except OSError:  # (another gdb made it meanwhile: then its own is used)
        for name in os.listdir(staging):
            os.unlink(os.path.join(staging, name))
        os.rmdir(staging)
    return view if os.path.isdir(view) else None
