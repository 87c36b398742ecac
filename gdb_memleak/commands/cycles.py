"""py-cycles: reference cycles and uncollectable objects, as text and as a graphviz picture."""

from __future__ import annotations

import argparse
import os
import subprocess
import time

from ..errors import NoRoom, NoSafePointInTime, NotFound, OptedOut, OutputError, UsageError
from ..gdbside import inferior as inf
from ..gdbside.invocation import Invocation, note
from ..inject import session
from ..render import text as render
from ..render.text import format_cycles
from . import cycles_memory, read_only, room, type_names
from .base import CYCLES_PREFIX, MemleakCommand, mark_name, positive_int, type_name

# Cycle marks share the target's mark store with py-heap's, under this prefix.
MARK_PREFIX = CYCLES_PREFIX
ALL_GROUPS = 100_000

GRAPH_FORMATS = (".png", ".svg", ".dot")


class PyCycles(MemleakCommand):
    name = "py-cycles"

    def build_parser(self):
        parser = self.new_parser(
            "Find objects that live only in reference cycles (cyclic garbage the collector has not "
            "freed, e.g. with gc disabled) and uncollectable objects in gc.garbage, grouped by the "
            "shape of their cycle. Found from reference counts without collecting, so nothing is freed, "
            "finalized or moved into gc.garbage. Runs in the target at a safe point; with --read-only, on a core file, "
            "or when no safe point comes in time, reads the target's memory instead."
        )
        parser.add_argument("types", nargs="*", type=type_name, metavar="TYPE", help="only cycles containing one of these types (e.g. ObjectA)")
        parser.add_argument("--top", type=positive_int, default=10, metavar="N", help="cycle groups to show (default 10)")
        parser.add_argument("--graph", metavar="FILE", help="write the reference graph of the top cycles (.png, .svg or .dot)")
        parser.add_argument("--depth", type=positive_int, default=3, metavar="N", help="with --graph: steps objgraph walks out from each object of the top cycles (default 3)")
        marks = parser.add_mutually_exclusive_group()
        marks.add_argument("--mark", type=mark_name, metavar="NAME", help="record the cycle groups of now as NAME, in the target (counts only)")
        marks.add_argument("--since", type=mark_name, metavar="NAME", help="show only cycle groups that are new or larger since mark NAME")
        parser.add_argument(
            "--force", action="store_true",
            help="run even if the target may not have the memory it needs (about 128 bytes per tracked object), "
                 "or opted out of remote code execution (PEP 768)",
        )
        parser.add_argument(
            "--read-only", action="store_true",
            help="run nothing in the target: find the cycles from its memory, the collector's lists and the "
                 "reference counts (the memory backend; CPython 2.7 and 3.8-3.15 with debug info, 3.13+ also without; used by itself on a core "
                 "file, and when no safe point comes in time); the graph shows the cycles' members only",
        )
        self.add_timeout(parser)
        return parser

    def positional_words(self) -> list[str]:
        return type_names.names()  # from this session's last py-heap / py-cycles: nothing runs in the target

    def run(self, inv: Invocation, args: argparse.Namespace) -> None:
        if args.graph is not None:  # (--graph "" too: it wrote nothing and said nothing)
            _check_graph_path(args.graph)
        if read_only.wanted(args):
            self._show(cycles_memory.find(self, inv, args), args)
            return
        target = inf.require_live_stopped()
        version = inf.require_python()
        request = {
            # The payload refuses when its bookkeeping would not fit: an OOM kill ends the service, and under
            # the target's own address-space limit its threads' allocations fail.
            **room.budget(target.pid, args.force, own_thread=version >= (3, 7)),
            "types": args.types,
            "top": ALL_GROUPS if args.mark or args.since else args.top,
            "graph": bool(args.graph),
            "depth": args.depth,
            # One safe point: the payload stores the mark itself, or reads it before counting.
            "mark": {"name": MARK_PREFIX + args.mark, "time": time.time(), "prefix": MARK_PREFIX} if args.mark else None,
            "since": {"name": MARK_PREFIX + args.since, "prefix": MARK_PREFIX} if args.since else None,
        }
        try:
            doc = session.run_payload(inv, "cycles", request).result
        except NotFound as e:
            raise NotFound(str(e), hint="make one with py-cycles --mark %s" % args.since) from e
        except NoRoom as e:  # the payload's own memory guard
            raise NoRoom("refused: %s" % e) from e
        except (NoSafePointInTime, OptedOut) as e:  # idle, hung or opted out: its memory can still be read (issue 16)
            if args.mark or args.since:
                raise
            self._show(cycles_memory.find(self, inv, args, instead=read_only.instead(e, target.pid, self.name)), args)
            return
        mark = doc.pop("since_mark", None)
        payload_note = doc.pop("note", None)  # what the payload could not do (its closing pass did not fit)
        if payload_note:
            note(payload_note)
        unknown = doc.get("unknown_types")
        if args.types and not doc.get("cycles") and not (doc.get("uncollectable") or {}).get("cycles") and unknown is None:
            unknown = session.run_payload(inv, "type_check", {"types": args.types}).result.get("unknown")
        if args.types and unknown:
            raise NotFound("no type named %s in the target" % ", ".join(unknown))
        stored = doc.pop("stored_mark", None)
        if args.mark and stored is not None:
            note("mark %s recorded in the target: %d cycle groups" % (args.mark, stored["kinds"]))
            doc["cycles"] = doc["cycles"][: args.top]
        if mark is not None:
            doc = dict(doc, cycles=_new_or_larger(doc["cycles"], mark)[: args.top], since=args.since)
        self._show(doc, args)

    def _show(self, doc: dict, args: argparse.Namespace) -> None:
        """Write the graph, remember the type names, print the document (and a memory walk's footer)."""
        footer = doc.pop("footer", None)
        graph_path = None
        if args.graph:
            if doc.get("graph_note"):
                note(doc["graph_note"])
            if doc.get("graph"):
                try:
                    graph_path = write_graph(doc["graph"], args.graph)
                except OSError as e:
                    raise OutputError("cannot write %s: %s" % (e.filename or args.graph, e.strerror or e)) from e
        doc = dict(doc, graph=graph_path)
        type_names.remember_cycles(doc)
        if args.json:
            self.emit_json("cycles", doc)
            return
        self.out(format_cycles(doc, self.styles, args.types))
        if footer:
            self.out(footer)


def _new_or_larger(groups: list[dict], mark: dict) -> list[dict]:
    """The cycle groups with more objects than at the mark (or none then), with their growth."""
    before = {path: (count, size) for path, count, size in mark["rows"]}
    grown = []
    for group in groups:
        count, size = before.get(group["path"], (0, 0))
        if group["count"] > count:
            grown.append(dict(group, new=group["path"] not in before, count_delta=group["count"] - count, size_delta=group["size"] - size))
    return grown


def _check_graph_path(path: str) -> None:
    """Fail before touching the target if the graph (and its .dot beside it) cannot be written."""
    extension = os.path.splitext(path)[1].lower()
    name = os.path.basename(path)
    if not name or name.lower() in GRAPH_FORMATS:  # "", "dir/", "dir/.svg" (a hidden file without an extension)
        raise UsageError("--graph FILE needs a file name, e.g. cycles.svg, got %r" % path)
    if extension not in GRAPH_FORMATS:
        raise UsageError("--graph FILE must end in .png, .svg or .dot, got %r" % path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise OutputError("cannot write %s: directory %s is missing or not writable" % (path, directory))
    dot_path = path if extension == ".dot" else os.path.splitext(path)[0] + ".dot"
    for candidate in dict.fromkeys((path, dot_path)):
        if os.path.isdir(candidate):
            raise OutputError("cannot write %s: it is a directory" % candidate)
        if os.path.exists(candidate) and not os.path.isfile(candidate):  # a fifo would block the open
            raise OutputError("cannot write %s: not a regular file" % candidate)
        existed = os.path.lexists(candidate)
        try:  # root passes os.access everywhere: only a real open tells (read-only mounts, /proc)
            with open(candidate, "a"):
                pass
        except OSError as e:
            raise OutputError("cannot write %s: %s" % (candidate, e.strerror or e)) from e
        if not existed:
            try:
                os.unlink(candidate)
            except OSError:
                pass


def write_graph(dot_text: str, path: str) -> str:
    """Write the dot source beside `path` and render it there with graphviz."""
    dot_text = render.escape_dot(dot_text)  # labels hold the target's type names
    extension = os.path.splitext(path)[1].lower()
    dot_path = path if extension == ".dot" else os.path.splitext(path)[0] + ".dot"
    with open(dot_path, "w", encoding="utf-8") as f:
        f.write(dot_text)
    if extension == ".dot":
        return path
    try:
        import graphviz
    except ImportError:
        # gdb 16 and 18 embed Python 3.13 and 3.14: the .venv's (3.11) site-packages are not
        # put on their sys.path. The package only runs dot, so dot is run directly.
        image = _run_dot(dot_text, extension[1:], dot_path)
    else:
        image = _render(graphviz, dot_text, extension[1:], dot_path)
    with open(path, "wb") as f:
        f.write(image)
    return path


def _run_dot(dot_text: str, fmt: str, dot_path: str) -> bytes:
    try:
        proc = subprocess.run(["dot", "-T" + fmt], input=dot_text.encode("utf-8"), capture_output=True, timeout=300)
    except FileNotFoundError:
        raise OutputError("graphviz's 'dot' is not installed (apt install graphviz); the graph is in %s" % dot_path) from None
    except subprocess.TimeoutExpired:
        raise OutputError("dot did not finish within 300 s; the graph is in %s" % dot_path) from None
    if proc.returncode != 0:
        why = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["exit status %d" % proc.returncode])[0]
        raise OutputError("dot failed (%s); the graph is in %s" % (why, dot_path))
    return proc.stdout


def _render(graphviz, dot_text: str, fmt: str, dot_path: str) -> bytes:
    try:
        return graphviz.pipe("dot", fmt, dot_text.encode("utf-8"), quiet=True)
    except graphviz.ExecutableNotFound:
        raise OutputError("graphviz's 'dot' is not installed (apt install graphviz); the graph is in %s" % dot_path) from None
    except graphviz.CalledProcessError as e:
        raise OutputError("dot failed (%s); the graph is in %s" % (str(e).splitlines()[0], dot_path)) from e
