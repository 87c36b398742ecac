"""The lines to add to ~/.gdbinit for this installation (no gdb needed to print them)."""

from __future__ import annotations

import os
import sys


def _load_statements() -> list[str]:
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # The environment this package runs from holds guppy3/objgraph for targets of its
    # Python version, and graphviz for gdb's side.
    venv = sys.prefix if sys.prefix != sys.base_prefix else ""
    return [
        "import sys",
        "sys.path.insert(0, %r)" % package_parent,
        "import gdb_memleak.plugin",
        "gdb_memleak.plugin.load(venv=%r)" % (venv or None),
    ]


def gdbinit_lines() -> str:
    return "\n".join(["# gdb-memleak: py-memtop, py-heap, py-cycles", "python", *_load_statements(), "end", ""])


def gdb_load_command() -> str:
    """The same as one gdb command line (`python a; b; c`), for gdb -ex: no file needed."""
    return "python " + "; ".join(_load_statements())
