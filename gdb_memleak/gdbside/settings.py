"""Settings shared by the commands: the timeout and where the in-target tools live.

Tools (guppy3, objgraph) for a target come from two places, and only ever from a
place built for the target's own interpreter:

* the virtual environment gdb-memleak runs from (``load(venv=...)``): the tools in its
  ``site-packages``, through a directory of links to them alone (host/tools.venv_view),
  serve targets of the venv's Python version;
* the per-interpreter tool cache that ``prepare`` fills (host/tools.py), used
  only for targets of the same version and ABI as read from the target's binary;
  when the target's ABI cannot be told, none is.
"""

from __future__ import annotations

import glob
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Optional

from ..host.tools import TOOLS_MARKER, tools_dir, venv_view

DEFAULT_TIMEOUT = 30
# The longest a command may stop the whole process without being asked to (issue 13's 100 ms): a
# memory read it would make by itself when no safe point comes stops the process for the whole walk.
DEFAULT_MAX_STOP_MS = 100
MAX_MAX_STOP_MS = 600000


@dataclass
class Settings:
    timeout: int = DEFAULT_TIMEOUT
    max_stop_ms: int = DEFAULT_MAX_STOP_MS
    verbose: bool = False  # errors also show the gdb side's traceback and the target's
    # Whether the queue point's breakpoint may go in where nothing else finds a safe point (a build
    # whose eval loop cannot be checked: inject/queue_point.py).  Off: a gdb killed while it is in
    # leaves the target to die of SIGTRAP, so it is the user's choice, never made for them.
    breakpoints: bool = False
    # (major, minor) -> directories holding guppy3/objgraph built for that Python.
    tool_dirs: dict[tuple[int, int], list[str]] = field(default_factory=dict)

    def add_venv(self, venv: str) -> None:
        """Use a virtual environment's site-packages for targets of its Python version."""
        for site in sorted(glob.glob(os.path.join(venv, "lib", "python*", "site-packages"))):
            # python3.13t (free-threaded) and other ABI-flagged builds are not the
            # default ABI of that version: their extension modules would not load.
            match = re.search(r"python(\d)\.(\d+)([a-z]*)[/\\]site-packages$", site)
            if match and not match.group(3):
                version = (int(match.group(1)), int(match.group(2)))
                dirs = self.tool_dirs.setdefault(version, [])
                view = venv_view(venv, site, version)
                if view and view not in dirs:
                    dirs.append(view)
                # gdb's own Python can use the same directory when it is the same version
                # (for the graphviz package that renders --graph).
                if version == sys.version_info[:2] and site not in sys.path:
                    sys.path.append(site)

    def tool_paths(self, version: tuple[int, int], abi: Optional[str] = None) -> list[str]:
        """Directories to put on the target's sys.path: only ones built for its version (and ABI).

        `abi` is the target's extension tag; when not given it is read from the
        selected inferior's binary (inside gdb).  The venv's directories come
        first, then the prepared cache directory of exactly that version and ABI.
        """
        paths = list(self.tool_dirs.get(version, []))
        if abi is None:
            abi = _target_abi()
        if abi:
            cached = tools_dir(version, abi)
            if os.path.isfile(os.path.join(cached, TOOLS_MARKER)) and cached not in paths:
                paths.append(cached)
        return paths


def _target_abi() -> Optional[str]:
    """The selected inferior's extension tag, or None (outside gdb, or not readable)."""
    try:
        from .inferior import extension_abi
    except ImportError:  # not inside gdb
        return None
    try:
        return extension_abi()
    except Exception:  # never let a courtesy lookup break a command
        return None


SETTINGS = Settings()
