"""py-heap: what kinds of objects hold the memory, and the largest objects with the name that keeps each alive."""

from __future__ import annotations

import argparse
from typing import Optional

from ..errors import NoRoom, NoSafePointInTime, NoThreadOfItsOwn, OptedOut, Refused, ToolMissing
from ..gdbside import inferior as inf
from ..gdbside.invocation import Invocation
from ..host import limits, procfs
from ..inject import session
from ..model.arguments import whole_number
from ..render import text as render
from ..render.common import human_size, signed_size
from ..render.text import format_heap
from . import heap_marks, heap_memory, read_only, type_names
from . import room as room_for
from .base import MemleakCommand, dropped_mark_name, mark_name, positive_int

BACKENDS = ("auto", "census", "guppy")


class PyHeap(MemleakCommand):
    name = "py-heap"

    def build_parser(self):
        parser = self.new_parser(
            "Partition the target's heap by kind, like guppy's hpy().heap(): count, size and "
            "cumulative share of each kind, and optionally the largest single objects with the "
            "shortest reference path that keeps each alive. Runs in the target at a safe point."
        )
        parser.add_argument("--top", type=positive_int, default=10, metavar="N", help="kinds to show (default 10)")
        parser.add_argument(
            "--largest", type=whole_number(0, 1000), default=0, metavar="N", help="also show the N largest objects and their paths (default 0)"
        )
        parser.add_argument(
            "--backend",
            choices=BACKENDS,
            default="auto",
            help="census: gdb-memleak's own light pass over the gc's objects and what they hold; "
            "guppy: guppy3's hpy().heap() (slower, needs about twice the heap, on 3.11+ leaves "
            "instance dicts behind, and its caches of the heap until the target's gc runs, which later "
            "censuses count); auto: census (default)",
        )
        marks = parser.add_mutually_exclusive_group()
        marks.add_argument("--mark", type=mark_name, metavar="NAME", help="record the census of now as NAME, in the target (statistics only)")
        marks.add_argument("--since", type=mark_name, metavar="NAME", help="show the growth per kind since mark NAME, largest growth first")
        marks.add_argument("--marks", action="store_true", help="list the marks recorded in the target")
        marks.add_argument("--drop-mark", type=dropped_mark_name, metavar="NAME",
                           help="forget mark NAME (py-cycles' marks by the name --marks lists: cycles/NAME)")
        parser.add_argument(
            "--force", action="store_true",
            help="run even in a target that opted out of remote code execution (PEP 768), or where the target may "
                 "not have the memory the command needs (the census: about 48 bytes per tracked object; "
                 "--backend guppy: about 70%% of its RSS), or --backend guppy where it would run in the thread that reached "
                 "the safe point (before 3.7, under seccomp, where no thread can be started)",
        )
        parser.add_argument(
            "--read-only", action="store_true",
            help="run nothing in the target: read its memory and walk CPython's own structures (the memory backend; "
                 "CPython 2.7 and 3.8-3.15 with debug info, 3.13+ also without; used by itself on a core file, and when no safe point comes in time)",
        )
        self.add_timeout(parser)
        return parser

    def run(self, inv: Invocation, args: argparse.Namespace) -> None:
        if read_only.wanted(args):
            heap_memory.run(self, inv, args)
            return
        target = inf.require_live_stopped()
        version = inf.require_python()
        marks = bool(args.marks or args.drop_mark or args.mark or args.since)
        guppy = args.backend == "guppy" and not marks
        if guppy:
            if not args.force:
                _require_a_thread_of_its_own(target.pid, version)
                _require_room_for_guppy(target.pid, own_thread=version >= (3, 7))
            _require_compatible_guppy(inv)
        # The census refuses when its bookkeeping would not fit: an OOM kill ends the service, and
        # under the target's own address-space limit its threads' allocations fail.
        room = room_for.budget(target.pid, args.force, own_thread=version >= (3, 7))
        if marks:
            heap_marks.run(self, inv, args, room)
            return
        rss_before = procfs.proc_status(target.pid).get("VmRSS") if args.backend == "guppy" else None
        payload_args = dict(room, top=args.top, largest=args.largest, backend=args.backend)
        try:
            outcome = session.run_payload(inv, "heap", payload_args, route=not guppy,
                                          only_in_own_thread=guppy and not args.force)
            lost = not guppy and _paths_lost(outcome)  # (guppy never holds the borrowed thread: row 8b)
            if lost:
                outcome = session.run_payload(inv, "heap", payload_args, route=not guppy, own_thread=False)
        except ToolMissing as e:
            raise ToolMissing("--backend guppy: %s" % e, hint="py-heap --backend census works") from e
        except NoThreadOfItsOwn:  # 3.7+, no seccomp, yet pthread_create failed: a limit on threads
            raise Refused(GUPPY_IN_THE_SAFE_POINT_S_THREAD % "no thread of gdb-memleak's could be started in the "
                          "target (a limit on threads?), so") from None
        except NoRoom as e:  # the census's own memory guard
            raise NoRoom("refused: %s" % e) from e
        except (NoSafePointInTime, OptedOut) as e:  # idle, hung or opted out: its memory can still be read (issue 16)
            if args.backend == "guppy":
                raise
            heap_memory.run(self, inv, args, instead=read_only.instead(e, target.pid, self.name))
            return
        doc = outcome.result
        if doc.get("note"):
            self.note(doc["note"])
        if args.backend == "guppy":
            _say_what_guppy_left(self, target.pid, rss_before)
        heap_memory.add_process_memory(self, target.pid, doc)
        type_names.remember_heap(doc)
        if args.json:
            self.emit_json("heap", doc)
            return
        self.out(format_heap(doc, self.styles))
        again = ("; the target let go of what retained the most while a first run beside it measured it, so it "
                 "ran again holding that thread") if lost else ""
        self.out("(%s backend, run %s%s, %.2f s in the target)" % (doc["backend"], outcome.safe_point.describe(), again,
                                                                    outcome.seconds))


def _paths_lost(outcome: session.PayloadResult) -> bool:
    """True when, in a run beside the target (own_thread.py), the object that retains the most got
    no path and only the payload held it after the search from globals: the target let go of it
    meanwhile, e.g. a module global rebound to a newer str each millisecond (the seed's case 2),
    which a run holding the safe point's thread sees consistently.  An object that C state or an
    untracked holder keeps has no path either, but is not rerun for: the second run would say the
    same, and would hold the thread for the whole payload (0.4 s on tests/targets/path_shapes.py,
    2026-12-03)."""
    largest = outcome.result.get("largest") or []
    return (outcome.safe_point.kind == "own-thread" and bool(largest) and isinstance(largest[0], dict)
            and largest[0].get("path") is None and largest[0].get("unowned") is True)


# guppy's hpy().heap() peaks at about 65% of the target's RSS more (docs/benchmarks.md).
GUPPY_NEEDS = 0.7


def _say_what_guppy_left(command: MemleakCommand, pid: int, rss_before: Optional[int]) -> None:
    """guppy's lasting cost, said every time: its modules stay imported, and much of what it freed
    stays with the target's allocators (+13.6 MB, then +9.6 MB more, on a 69 MB service,
    2026-12-02; docs/usage.md)."""
    rss_after = procfs.proc_status(pid).get("VmRSS")
    if rss_before and rss_after:
        command.note("--backend guppy left the target's RSS at %s, %s from %s before it ran: guppy3 stays imported "
                     "and memory it freed stays with the target's allocators (the census leaves neither)"
                     % (human_size(rss_after), signed_size(rss_after - rss_before), human_size(rss_before)))


def _require_a_thread_of_its_own(pid: int, version: tuple) -> None:
    """Refuse guppy where it would run in the thread that reached the safe point (before 3.7, and under
    seccomp: no thread of ours is started there; where starting one fails, the run itself refuses).
    What guppy's own steps let go of after another thread dropped it is finalized in the thread guppy
    runs in; one whose finalizer waited for a lock the safe point's thread held deadlocked the target
    for good (3.11, when guppy ran there: 2026-12-06)."""
    if version < (3, 0):
        return  # no guppy3 for 2.7: refused as not installed, --force or not
    where = "before 3.7" if version < (3, 7) else "under seccomp" if session.seccomp_filtered(pid) else None
    if where is not None:
        raise Refused(GUPPY_IN_THE_SAFE_POINT_S_THREAD % where)


GUPPY_IN_THE_SAFE_POINT_S_THREAD = (
    "--backend guppy refused: %s it would run in the thread that reached the safe point, where a finalizer of what "
    "guppy lets go of can wait for a lock that thread holds and hang the target for good; --backend census does not "
    "(--force runs guppy anyway)")


def _require_room_for_guppy(pid: int, own_thread: bool) -> None:
    """Refuse guppy where its peak would not fit: an OOM kill ends the service, and under the
    target's own address-space limit its threads' allocations would fail (`own_thread`: with
    the arena and stack of the thread it runs in on 3.7+)."""
    rss = procfs.proc_status(pid).get("VmRSS") or 0
    need = int(rss * GUPPY_NEEDS)
    available = limits.available_to(pid)
    tail = "; --backend census needs far less (--force runs guppy anyway)"
    if available is not None and need > available:
        raise Refused(
            "--backend guppy refused: it would need about %s in the target (70%% of its RSS), and %s are available "
            "(to the machine or the target's cgroup)%s" % (render.human_size(need), render.human_size(available), tail)
        )
    address = limits.address_room(pid, own_thread=own_thread)
    if address is not None and need > address.room:
        raise Refused("--backend guppy refused: %s%s" % (room_for.too_tight(address, need, "70% of its RSS"), tail))


def _require_compatible_guppy(inv: Invocation) -> None:
    """Refuse --backend guppy unless the guppy3 the target would import was built for it."""
    try:
        session.run_payload(inv, "guppy_check", {})
    except ToolMissing as e:
        raise ToolMissing("--backend guppy: %s; nothing was imported into the target" % e, hint="py-heap --backend census works") from e
