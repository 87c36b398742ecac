"""The lines to add to ~/.gdbinit for this installation (no gdb needed to print them)."""

from __future__ import annotations

import os
import sys


def gdbinit_lines() -> str:
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # The environment this package runs from holds guppy3/objgraph for targets of its
    # Python version, and graphviz for gdb's side.
    venv = sys.prefix if sys.prefix != sys.base_prefix else ""
    return "\n".join(
        [
            "# gdb-memleak: py-memtop, py-heap, py-cycles",
            "python",
            "import sys",
            "sys.path.insert(0, %r)" % package_parent,
            "import gdb_memleak.plugin",
            "gdb_memleak.plugin.load(venv=%r)" % (venv or None),
            "end",
            "",
        ]
    )
