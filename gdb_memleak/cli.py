"""The gdb-memleak console script.

  gdb-memleak report PID --out DIR [--watch SECONDS]   one-shot leak report: DIR/report.json and DIR/report.html
  gdb-memleak gdbinit                                  print the lines to add to ~/.gdbinit

Runs outside gdb and never imports it: `report` starts gdb in batch mode.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Optional

from . import __version__
from .gdbinit import gdbinit_lines
from .report import html as report_html
from .report import run as report_run

REPORT_VERSION = 1
MAX_WATCH = 600.0
PROG = "gdb-memleak"


def _pid(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a process id, got %r" % text)
    if value <= 0:
        raise argparse.ArgumentTypeError("expected a process id, got %d" % value)
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected seconds, got %r" % text)
    if not 0 < value <= MAX_WATCH:
        raise argparse.ArgumentTypeError("expected seconds from 0 to %g, got %s" % (MAX_WATCH, text))
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser(
        "report",
        help="attach gdb to PID once and write a leak report (report.json and a self-contained report.html)",
        description="Attach gdb (batch mode, $GDB or gdb on PATH) to the CPython process PID, run py-memtop, "
        "py-heap --largest %d and py-cycles --graph, and write DIR/report.json and DIR/report.html "
        "(one file: tables and the reference graph, nothing loaded from elsewhere)." % report_run.LARGEST,
    )
    report.add_argument("pid", type=_pid, metavar="PID")
    report.add_argument("--out", required=True, metavar="DIR", help="directory for report.json, report.html and the graph (made if missing)")
    report.add_argument("--watch", type=_seconds, metavar="SECONDS",
                        help="also let the target run SECONDS with allocation tracing on: RSS growth and the top allocation lines")
    sub.add_parser("gdbinit", help="print the lines to add to ~/.gdbinit")
    return parser


def progress(text: str) -> None:
    sys.stderr.write("%s: %s\n" % (PROG, text))
    sys.stderr.flush()


def make_report(pid: int, out_dir: str, watch: Optional[float]) -> dict:
    gdb = report_run.find_gdb()  # both before DIR is made: a failed report leaves nothing behind
    report_run.check_pid(pid)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise report_run.ReportError("cannot make %s: %s" % (out_dir, e.strerror or e))
    if not os.access(out_dir, os.W_OK):
        raise report_run.ReportError("cannot write in %s" % out_dir)
    docs, notes = report_run.run(pid, out_dir, watch, progress, gdb=gdb)
    for note in notes:
        progress(note)
    graph_file = os.path.join(out_dir, report_run.GRAPH_NAME)
    graph = None
    if docs["cycles"].get("graph") and os.path.isfile(graph_file):
        with open(graph_file, "rb") as f:
            graph = ("image/svg+xml", f.read())
    report = {
        "version": REPORT_VERSION,
        "tool_version": __version__,
        "pid": pid,
        "created_at": round(time.time(), 3),
        "watch": watch,
        "memtop": docs["memtop"],
        "heap": docs["heap"],
        "cycles": docs["cycles"],
        "graph": report_run.GRAPH_NAME if graph else None,
        "notes": notes,
    }
    json_path = os.path.join(out_dir, "report.json")
    html_path = os.path.join(out_dir, "report.html")
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(report, f, ensure_ascii=True, indent=1)
        f.write("\n")
    progress("wrote %s" % json_path)
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(report_html.page(report, graph))
    progress("wrote %s" % html_path)
    return report


def main(argv: Optional[list] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "gdbinit":
        sys.stdout.write(gdbinit_lines())
        return 0
    try:
        make_report(args.pid, args.out, args.watch)
    except report_run.ReportError as e:
        sys.stderr.write("%s report: %s\n" % (PROG, str(e).splitlines()[0] if str(e) else "failed"))
        return 1
    except OSError as e:
        sys.stderr.write("%s report: %s: %s\n" % (PROG, e.filename or "", e.strerror or e))
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("%s report: interrupted\n" % PROG)
        return 130
    except Exception as e:  # a bug of ours: one line, not a traceback
        sys.stderr.write("%s report: internal error: %s: %s\n" % (PROG, type(e).__name__, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
