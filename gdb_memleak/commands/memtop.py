"""py-memtop: the process's memory, and for every thread the Python code it runs."""

from __future__ import annotations

import argparse
from typing import Any

import gdb

from ..errors import MemleakError, TargetUnavailable, UsageError
from ..gdbside import allocators, frames, images, offset_stacks, thread_names
from ..gdbside import inferior as inf
from ..gdbside.frame_chain import threads_by_pthread
from ..gdbside.invocation import Invocation, note
from ..host import accounting, glibc_arenas, procfs, residency
from ..inject import landing, session
from ..model.arguments import seconds_up_to, whole_number
from ..render.text import format_memtop, format_watch_growth
from . import memtop_watch
from .base import MemleakCommand, positive_int

TOP_PROCESSES = 5


class PyMemtop(MemleakCommand):
    name = "py-memtop"

    def build_parser(self):
        parser = self.new_parser(
            "Show the inferior's memory (RSS, peak, virtual, swap, %MEM), the machine's top "
            "processes by memory, and every thread's CPU time and Python stack. Thread locations "
            "come from the interpreter's libpython gdb helper, read-only (works on core files); "
            "without one, from sys._current_frames() run in the target."
        )
        parser.add_argument("--stack", type=positive_int, default=5, metavar="N", help="Python frames per thread (default 5)")
        watch = parser.add_mutually_exclusive_group()
        watch.add_argument(
            "--watch",
            type=seconds_up_to(memtop_watch.MAX_WINDOW),
            metavar="SECONDS",
            help="let the target run SECONDS (at most %g) with allocation tracing on, then show the RSS growth, "
            "each thread's CPU time in the window and the lines that allocated what is still alive "
            "(Ctrl-C ends the window early)" % memtop_watch.MAX_WINDOW,
        )
        parser.add_argument(
            "--frames", type=whole_number(1, memtop_watch.MAX_FRAMES), default=1, metavar="N",
            help="with --watch: trace N frames per allocation (default 1, at most %d), so that a line in a library "
                 "shows the line of the application that called it; each allocation in the window gets slower "
                 "(measured: 6.4x at 1 frame, 15x at 8)" % memtop_watch.MAX_FRAMES,
        )
        watch.add_argument("--watch-stop", action="store_true", help="turn off allocation tracing left on by a failed --watch (or a --watch whose gdb died: the target turns that off by "
                                   "itself too, at its first garbage collection after the window and a margin)")
        parser.add_argument(
            "--force", action="store_true",
            help="run code even in a target that opted out of remote code execution (PEP 768): --watch, "
                 "and the locations' fallback when the helper cannot read them",
        )
        self.add_timeout(parser)
        return parser

    def run(self, inv: Invocation, args: argparse.Namespace) -> None:
        target = inf.selected_inferior()
        if not inf.is_core(target):
            # A running thread's registers and stack cannot be read: its frames would come out empty.
            inf.require_stopped(target)
        elif args.watch or args.watch_stop:
            raise TargetUnavailable("%s needs a live process, not a core file" % ("--watch" if args.watch else "--watch-stop"))
        if args.watch_stop:
            off = session.run_payload(inv, "watch", {"op": "off"}).result
            left_by_watch = bool(off["was_tracing"] and off.get("ours"))
            if args.json:
                self.emit_json("memtop.watch_stop", {"was_tracing": bool(off["was_tracing"]), "left_by_watch": left_by_watch})
                return
            why = (" (it was not on)" if not off["was_tracing"] else " (a --watch whose gdb went away had left it on)"
                   if left_by_watch else " (it was on, but not turned on by a --watch: the target's own tracing, "
                   "or an older gdb-memleak's)")
            self.out("allocation tracing is off in the target" + why)
            return
        if args.frames != 1 and not args.watch:
            raise UsageError("--frames goes with --watch")
        growth, cpu = memtop_watch.watch(inv, args.watch, args.frames) if args.watch else (None, {})
        doc = memtop_document(inv, target, args.stack)
        if growth is not None:
            doc["growth"] = growth
            for thread in doc["threads"]:
                thread["cpu_window_seconds"] = cpu.get(thread["tid"])
        if args.json:
            self.emit_json("memtop", doc)
        else:
            self.out(format_memtop(doc, self.styles))
            if growth is not None:
                self.out("")
                self.out(format_watch_growth(growth, self.styles))


def memtop_document(inv: Invocation, target: gdb.Inferior, stack: int) -> dict[str, Any]:
    live = not inf.is_core(target)
    pid = target.pid
    doc: dict[str, Any] = {"pid": pid, "live": live}
    status = procfs.proc_status(pid) if live else {}
    total = procfs.mem_total()
    doc.update(
        {
            "rss": status.get("VmRSS"),
            "peak_rss": status.get("VmHWM"),
            "vsize": status.get("VmSize"),
            "swap": status.get("VmSwap"),
            "mem_percent": round(100.0 * status["VmRSS"] / total, 1) if "VmRSS" in status and total else None,
            "top_processes": accounting.top_processes(pid, TOP_PROCESSES) if live else [],
            "accounting": accounting.memory_accounting(pid) if live else None,
        }
    )
    if doc["accounting"] is not None:
        doc["accounting"].update(_allocators(target))
        _outside_arenas(doc["accounting"])
    stacks, names, source, why = _stacks(inv, target, stack)
    if why:
        note(why)
    doc["frames_source"] = source
    threads = []
    for thread in sorted(target.threads(), key=lambda t: t.num):
        tid = thread.ptid[1] or pid
        proc = procfs.thread_proc(pid, tid) if live else None
        threads.append(
            {
                "tid": tid,
                "num": thread.num,
                "name": proc.name if proc else (thread.name or ""),
                "python_name": names.get(tid),
                "state": proc.state if proc else None,
                "cpu_seconds": round(proc.cpu_seconds, 2) if proc else None,
                "frames": [dict(f) for f in stacks.get(tid, [])] if stacks is not None else [],
                "source": source,
            }
        )
    doc["threads"] = threads
    return doc


def _allocators(target: gdb.Inferior) -> dict[str, Any]:
    """What pymalloc and glibc malloc do with their memory, read from the stopped target (None: not
    known), and how much of the other anonymous memory is resident in their arenas."""
    version = inf.python_version()
    pymalloc = allocators.pymalloc_arenas(version) if version else None
    maps = procfs.read_small_file("/proc/%d/maps" % target.pid) or ""
    # Another C allocator (LD_PRELOAD=libjemalloc.so.2): glibc's arenas hold little of the heap,
    # and what they do not hold is not native memory; neither is given then.
    other = glibc_arenas.other_allocator(maps)
    malloc = allocators.glibc_malloc(target, maps) if maps and other is None else None
    ranges = {"pymalloc": pymalloc.pop("ranges") if pymalloc else None,
              "malloc_thread_arenas": malloc.pop("heaps") if malloc else None}
    ahead = residency.take_ahead(target.pid)
    resident = {k: residency.resident_bytes(target.pid, r, ahead) if r is not None else None for k, r in ranges.items()}
    return {"pymalloc": pymalloc, "malloc": malloc, "other_allocator": other, "arenas_resident": resident}


def _outside_arenas(acc: dict[str, Any]) -> None:
    """The other anonymous memory that no allocator's arena holds, where both arenas are known."""
    resident = acc["arenas_resident"]
    known = [resident["pymalloc"], resident["malloc_thread_arenas"]]
    acc["outside_arenas"] = max(acc["other_anonymous"] - sum(known), 0) if None not in known else None


def _stacks(inv: Invocation, target: gdb.Inferior, depth: int):
    """(tid -> frames, tid -> threading name, source, why-not-libpython):
    libpython first, the payload second."""
    try:
        if not inf.is_core(target):
            # The helper unwinds through libc: in a chroot gdb 13 read the host's, and the
            # 3.14d helper then found "(no Python frames)" (2026-12-01). Switch to the target's.
            images.require_matched_images()
        read = frames.python_stacks(depth)
    except (MemleakError, frames.FramesUnavailable) as e:  # a mismatch: the payload path refuses alike
        why = str(e)
    else:  # names from memory too: never a payload for names alone
        return {tid: [vars(f) for f in fs] for tid, fs in read.items()}, thread_names.python_thread_names(), "libpython", None
    known = inf.python_version()
    if known is not None and known >= (3, 13):  # without debug info: its own offsets, memory reads only
        try:
            read, read_names = offset_stacks.python_stacks(depth)
        except frames.FramesUnavailable as e:
            why = "%s; %s" % (why, e)
        else:
            return ({tid: [vars(f) for f in fs] for tid, fs in read.items()}, read_names, "debug_offsets",
                    "locations read with the interpreter's _Py_DebugOffsets (%s)" % why)
    if inf.is_core(target):
        return None, {}, None, "no Python locations: %s (a core file cannot run the fallback)" % why
    try:
        version = inf.require_python()
    except inf.AmbiguousRuntime as e:  # memory figures still hold; locations would be guesses
        return None, {}, None, "no Python locations: %s (%s)" % (why, e)
    opted_out = landing.remote_debug_opt_out(target.pid) if version >= (3, 14) and not inv.force else ""
    if opted_out:  # PEP 768: the fallback would run code in it; the memory figures still hold
        return None, {}, None, ("no Python locations: %s; the fallback runs code, and the target opted out of that "
                                "(%s, PEP 768; --force runs it)" % (why, opted_out))
    try:
        result = session.run_payload(inv, "memtop", {"stack": depth}).result
    except MemleakError as e:
        # Only the fallback needs a safe point, and an idle embedded interpreter may
        # never reach one: an idle uWSGI worker's threads wait in C (epoll_wait,
        # futex_wait), where no EINTR brings them back to Python.  The memory
        # figures were read without running anything, so they are still shown.
        return None, {}, None, "no Python locations: %s; the fallback in the target failed: %s" % (why, e)
    stacks: dict[int, list] = {}
    names: dict[int, str] = {}
    # By pthread_t first, which gdb knows in any PID namespace; then by the native id, the tid in the
    # target's own namespace (taken for gdb's: every thread "(no Python frames)" in one, issue 17 #12).
    by_handle = threads_by_pthread(target)
    by_native: dict[int, int] = {}
    lwps = [t.ptid[1] for t in target.threads()]
    for thread in result["threads"]:
        tid = by_handle.get(thread.get("ident"))
        if tid is None and thread.get("tid"):
            by_native = by_native or procfs.namespace_tids(target.pid, lwps)  # (read only when needed)
            tid = by_native.get(thread["tid"])
        if tid is None and len(lwps) == 1:
            tid = target.pid
        if tid is None:
            continue
        stacks[tid] = thread["frames"]
        if isinstance(thread.get("name"), str):
            names[tid] = thread["name"]
    return stacks, names, "payload", "locations from the target's sys._current_frames() (%s)" % why
