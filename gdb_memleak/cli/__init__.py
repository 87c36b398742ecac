"""The gdb-memleak command line (also `python -m gdb_memleak`): set-up and reports, outside gdb.

  gdb-memleak report PID --out DIR [--watch S] [--timeout S] [--max-stop MS] [--breakpoints]   one-shot leak report: DIR/report.json and DIR/report.html
  gdb-memleak report --core CORE [--exe PROGRAM] --out DIR    the same from a core file, nothing run
  gdb-memleak gdbinit                                  print the lines to add to ~/.gdbinit
  gdb-memleak prepare --python PYTHON                  install guppy3 and objgraph for targets that run PYTHON

Never imports gdb: `report` starts gdb in batch mode.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from .. import __version__
from ..model.arguments import MAX_TIMEOUT, seconds_up_to
from ..render.common import escape
from . import prepare, report
from .gdbinit import gdbinit_lines

MAX_WATCH = 600.0
MAX_STOP_MS = 600000  # as `set py-memleak max-stop`
PROG = "gdb-memleak"


def _pid(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a process id, got %r" % text) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("expected a process id, got %d" % value)
    return value


def _milliseconds(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= MAX_STOP_MS:
        raise argparse.ArgumentTypeError("expected milliseconds from 0 to %d, got %r" % (MAX_STOP_MS, text))
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser(
        "report",
        help="attach gdb to PID once and write a leak report (report.json and a self-contained report.html)",
        description="Attach gdb (batch mode, $GDB or gdb on PATH) to the CPython process PID, run py-memtop, "
        "py-heap --largest %d and py-cycles --graph, and write DIR/report.json and DIR/report.html "
        "(one file: tables and the reference graph, nothing loaded from elsewhere)." % report.LARGEST,
    )
    rep.add_argument("pid", type=_pid, metavar="PID", nargs="?", help="the live process (or --core)")
    rep.add_argument("--core", metavar="CORE", help="read a core file (e.g. from gcore) instead of a live process: "
                     "nothing runs, the heap and the cycles are read from memory (CPython 2.7 and 3.8-3.15 with debug info, 3.13+ also without)")
    rep.add_argument("--exe", metavar="PROGRAM", help="with --core: the program that made it (default: the one "
                     "the core's notes name)")
    rep.add_argument("--out", required=True, metavar="DIR", help="directory for report.json, report.html and the graph (made if missing)")
    rep.add_argument("--watch", type=seconds_up_to(MAX_WATCH), metavar="SECONDS",
                     help="also let the target run SECONDS with allocation tracing on: RSS growth and the top allocation lines")
    rep.add_argument("--timeout", type=seconds_up_to(MAX_TIMEOUT), metavar="SECONDS",
                     help="how long each command may wait for a safe point (default: gdb-memleak's, 30); a command that "
                          "gets none is reported as such and the rest of the report is still written")
    rep.add_argument("--max-stop", type=_milliseconds, metavar="MS",
                     help="py-heap and py-cycles read the memory of a target that gives no safe point, stopping it for "
                          "the whole walk, only if that is estimated at most MS milliseconds (100 ms plus 20 ms per MB of RSS; default: "
                          "gdb-memleak's own, 'show py-memleak max-stop')")
    rep.add_argument("--breakpoints", action="store_true",
                     help="where nothing else finds a safe point (an interpreter without debug info whose eval loop "
                          "cannot be read), let a breakpoint find one, in for 20 ms at a time: if gdb were killed "
                          "while it is in, the target would die of SIGTRAP ('set py-memleak breakpoints on')")
    sub.add_parser("gdbinit", help="print the lines to add to ~/.gdbinit")
    prep = sub.add_parser(
        "prepare",
        help="install guppy3 and objgraph for the targets that run PYTHON",
        description="Install guppy3 and objgraph (objgraph only for Python 2.7) with "
        "PYTHON's own pip into a cache directory for PYTHON's version and ABI "
        "($GDB_MEMLEAK_CACHE or ~/.cache/gdb-memleak, under tools/). py-heap --backend guppy and "
        "py-cycles --graph then use them in targets that run the same version and ABI, and only there.",
    )
    prep.add_argument("--python", required=True, metavar="PYTHON", help="the interpreter the targets run (its real binary)")
    return parser


def progress(text: str) -> None:
    """One line on stderr: control characters (a newline in a path ...) are shown escaped."""
    sys.stderr.write("%s: %s\n" % (PROG, escape(text)))
    sys.stderr.flush()


def _fail(command: str, text: str, code: int = 1) -> int:
    sys.stderr.write("%s %s: %s\n" % (PROG, command, escape(text)))
    return code


def _check_target(args: argparse.Namespace) -> None:
    """A pid or --core, not both; what only a live process has is refused with --core."""
    if (args.pid is None) == (args.core is None):
        raise report.ReportError("give a PID or --core CORE (one of them)")
    if args.core is None and args.exe is not None:
        raise report.ReportError("--exe goes with --core")
    if args.core is not None and (args.watch or args.timeout or args.max_stop is not None or args.breakpoints):
        raise report.ReportError("--watch, --timeout, --max-stop and --breakpoints need a live process, not a core file")


def main(argv: Optional[list] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "gdbinit":
        sys.stdout.write(gdbinit_lines())
        return 0
    try:
        if args.command == "prepare":
            return prepare.prepare(args.python)
        _check_target(args)
        report.write_report(args.pid, args.out, args.watch, progress, timeout=args.timeout, core=args.core, exe=args.exe,
                            max_stop=args.max_stop, breakpoints=args.breakpoints)
    except (report.ReportError, prepare.PrepareError) as e:
        return _fail(args.command, str(e).splitlines()[0] if str(e) else "failed", 2 if args.command == "prepare" else 1)
    except OSError as e:
        return _fail(args.command, "%s: %s" % (e.filename or "", e.strerror or e))
    except KeyboardInterrupt:
        return _fail(args.command, "interrupted", 130)
    except Exception as e:  # a bug of ours: one line, not a traceback
        return _fail(args.command, "internal error: %s: %s" % (type(e).__name__, e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
