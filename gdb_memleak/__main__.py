"""python -m gdb_memleak gdbinit: print the lines that load gdb-memleak into gdb."""

from __future__ import annotations

import argparse
import sys

from .gdbinit import gdbinit_lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gdb_memleak", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("gdbinit", help="print the lines to add to ~/.gdbinit")
    args = parser.parse_args(argv)
    if args.command == "gdbinit":
        sys.stdout.write(gdbinit_lines())
    return 0


if __name__ == "__main__":
    sys.exit(main())
