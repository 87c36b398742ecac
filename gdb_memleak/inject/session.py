"""Run a payload inside the stopped target at a safe point and read its JSON back.

The target's main thread is brought to a safe point, where CPython itself would
run Python (inject/safepoint.py); there the payload runs through a handful of
calls made by a stub that puts the thread back by itself (inject/calls.py), so
that gdb may die at any instant without harm to the target.  The result comes
back as a bytes object that gdb reads from the target's memory: no files, no sockets.
A call in flight is waited for (the timeout only applies while the target runs towards a
safe point), up to its limit, gdb's end or a second Ctrl-C: then its thread finishes it by
itself (calls.py).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Optional

import gdb

from ..errors import (
    ChannelError,
    MemleakError,
    NoRoom,
    NotFound,
    NoThreadOfItsOwn,
    OptedOut,
    PayloadFailed,
    Refused,
    TargetReplaced,
    TargetUnavailable,
    ToolMissing,
)
from ..gdbside import inferior as inf
from ..gdbside import shlib_events
from ..gdbside.invocation import Invocation, note
from ..host import procfs, residency
from ..payloads import MANIFEST, payload_source
from . import allocator, evaluation, gc_pause, held_signals, keeper, landing, own_thread, packaging, safepoint
from .alarm import continue_for
from .calls import CALL_LIMIT, Caller, TargetGone, WaitedTooLong
from .gdbstate import SavedGdbState
from .safepoint import SafePoint


@dataclass
class PayloadResult:
    result: dict
    safe_point: SafePoint
    seconds: float  # time spent in the target's payload calls
    tracemalloc: Optional[tuple[int, int]] = None  # the target's own tracing: its tables' bytes before, after


def _thread(num: int) -> gdb.InferiorThread:
    for thread in gdb.selected_inferior().threads():
        if thread.num == num:
            return thread
    raise TargetUnavailable("the safe point's thread is gone")


def _require_x86_64() -> None:
    arch = gdb.selected_frame().architecture().name()
    if "x86-64" not in arch:
        raise Refused("gdb-memleak injects into x86-64 targets only; this one is %s" % arch)


def let_run(seconds: float) -> tuple[float, bool]:
    """Let the stopped target run freely for `seconds`, then stop it again.

    Returns (seconds it ran, whether it stopped early: Ctrl-C, or a signal gdb
    stops on).  The user's breakpoints are off meanwhile, as during a command.
    """
    target = inf.require_live_stopped()
    stop_signal, why = landing.stop_signal(target.pid, [target.pid])
    if stop_signal is None:
        raise Refused(why)
    saved = SavedGdbState()
    saved.save(landing.STOP_SIGNALS[stop_signal])
    try:
        started = time.monotonic()
        events = shlib_events.event_addresses()
        execs: list[object] = []
        on_exec = execs.append  # (an exec: gdb's `catch exec` ends the window there)
        gdb.events.clear_objfiles.connect(on_exec)
        try:
            with keeper.keeping(target.pid, shlib_events.hidden_bytes(events)):
                fired = continue_for(target.pid, seconds, stop_signal)
        finally:
            gdb.events.clear_objfiles.disconnect(on_exec)
        if target.pid == 0 or not target.threads():
            raise TargetUnavailable("the target exited during the watch window")
        if execs:
            raise TargetReplaced(safepoint.replaced_message("during the watch window"))
        return time.monotonic() - started, not fired
    finally:
        saved.restore()


def _drop_new_text_pages(calls: Caller, pid: int, before: Optional[residency.TextPages]) -> None:
    """madvise(MADV_DONTNEED) the program-text pages that became resident during the command (see residency)."""
    if before is None or calls.gone or inf.minimal_symbol_address("madvise") is None:
        return
    # Only this thread runs from reading the page map to the last madvise (a system
    # call that takes no lock, so holding the others cannot deadlock it).
    locking = gdb.parameter("scheduler-locking")
    gdb.execute("set scheduler-locking on", to_string=True)
    try:
        for address, length in residency.pages_to_drop(pid, before, set()):
            calls.cleanup("madvise", address, length, residency.MADV_DONTNEED)
    finally:
        gdb.execute("set scheduler-locking %s" % locking, to_string=True)


def seccomp_filtered(pid: int) -> bool:
    """The target runs under a seccomp filter (or strict mode): which calls it forbids cannot be read, so
    the optional ones (malloc_trim, madvise) are not made.  A filter forbidding madvise killed a target
    with SIGSYS (issue 17)."""
    return landing.seccomp_mode(pid) != 0


def run_payload(invocation: Invocation, name: str, args: dict[str, Any], *, route: Optional[bool] = None,
                own_thread: Optional[bool] = None, only_in_own_thread: bool = False) -> PayloadResult:
    """Run payload `name` (payloads.MANIFEST) in the target with `args`; return its result.

    Raises a MemleakError (errors.py) with a one-line reason on every failure; a
    payload's own exception comes back as PayloadFailed with the target's traceback.
    `route` overrides the manifest for one run (py-heap's guppy backend leaves objects the target frees later).
    `own_thread` overrides the manifest too: False holds the safe point's thread for the run (own_thread.py).
    `only_in_own_thread`: where no thread of its own can be started, raise NoThreadOfItsOwn rather than run
    the payload in the safe point's thread.
    """
    payload = MANIFEST[name]
    result = run_source(invocation, payload_source(name), args, tools=payload.needs_tools,
                        route=payload.routed if route is None else route,
                        own_thread=payload.own_thread if own_thread is None else own_thread,
                        only_in_own_thread=only_in_own_thread)
    if result.tracemalloc is not None and name != "watch":  # (watch's tracing is the command's own)
        before, after = result.tracemalloc
        note("the target traces its allocations (tracemalloc): this command's were traced too, which slows "
             "them, and tracemalloc's own memory went from %.1f to %.1f MiB" % (before / 2**20, after / 2**20))
    return result


def run_source(invocation: Invocation, payload: str, args: dict[str, Any], *, tools: bool = False,
               route: bool = True, own_thread: bool = False, only_in_own_thread: bool = False) -> PayloadResult:
    """Run payload source text (defining gdb_memleak_payload) in the target; see run_payload.

    `tools`: put guppy3/objgraph built for the target's interpreter on its sys.path for the run.
    `route`: keep the payload's temporaries out of pymalloc (allocator.py)."""
    target, version = _require_injectable(invocation)
    if "\0" in payload:
        raise ChannelError("the payload source contains a NUL character")
    pid = target.pid
    tool_paths = invocation.tool_paths(version) if tools else []
    # Who traces the target, for the payloads that stop when their gdb is gone (_gdb_memleak_common's
    # _gdb_is): read there only as the payload loads, a gdb killed before that went unseen.  And the
    # bytes gdb's int3s on the dynamic linker's events hide, which such a payload puts back itself.
    events = shlib_events.event_addresses()
    shlib_events.put_back(pid, events)  # before gdb first resumes it: gdb would take a killed gdb's int3 for the code
    # Under seccomp no thread of ours is started: which calls its start and end make (glibc's madvise of
    # its stack as it ends) cannot be checked against the filter; gdb sends the held signals then.
    args = dict(args, tracer=procfs.tracer_seen_by(pid), traps=shlib_events.hidden_bytes(events), seccomp=seccomp_filtered(pid))
    full = packaging.full_source(payload, args, tool_paths)
    exe = _program_identity(pid)
    try:
        with keeper.keeping(pid, args["traps"]):
            (raw, claimed), safe_point, seconds = _run_at_a_safe_point(invocation, pid, version, full, route,
                                                                       own_thread or only_in_own_thread, only_in_own_thread)
    except gdb.error:
        if _program_identity(pid) != exe:
            raise TargetUnavailable("the target ran exec() during the command: it is another program now, "
                                    "and nothing of ours is left in it") from None
        raise
    doc = _envelope(raw)
    if not claimed:  # (claimed: sent already, _run_compiled)
        held_signals.send_again(pid, doc.get("signals") or [], by_the_target=bool(doc.get("resent")))
    if "too_large" in doc:
        raise ChannelError("the payload's result was too large (%s bytes); it was dropped in the target" % doc["too_large"])
    if not doc.get("ok"):
        raise payload_failed(str(doc.get("error", "")))
    if doc.get("refusal"):
        raise refusal_error(doc["refusal"])
    traced = doc.get("tracemalloc")
    return PayloadResult(doc["result"], safe_point, seconds,
                         tuple(traced) if isinstance(traced, list) and len(traced) == 2 else None)


def _require_injectable(invocation: Invocation) -> tuple[gdb.Inferior, tuple[int, int]]:
    """The live, stopped CPython target a payload may run in, and its version; else why not."""
    target = inf.require_live_stopped()
    version = inf.require_python()
    opted_out = landing.remote_debug_opt_out(target.pid) if version >= (3, 14) else ""
    if opted_out and not invocation.force:
        raise OptedOut(opted_out)
    if gdb.parameter("non-stop"):
        raise Refused("non-stop mode is not supported; use all-stop (set non-stop off before attaching)")
    _require_x86_64()
    return target, version


def _program_identity(pid: int) -> Optional[tuple[int, int]]:
    """(device, inode) of the program the process runs: changes when it calls exec()."""
    try:
        st = os.stat("/proc/%d/exe" % pid)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _run_at_a_safe_point(invocation: Invocation, pid: int, version: tuple[int, int], full: str,
                         route: bool, own: bool, only_own: bool) -> tuple[tuple[bytes, bool], SafePoint, float]:
    """Bring the target to a safe point, run `full` there, put everything back: ((answer, signals claimed),
    where, seconds)."""
    compiling = packaging.Precompiling(full, pid, version)  # first: the child compiles while gdb works
    try:
        return _run_compiled(invocation, pid, version, full, compiling, route, own, only_own)
    finally:
        compiling.close()


def _run_compiled(invocation: Invocation, pid: int, version: tuple[int, int], full: str,
                  compiling: packaging.Precompiling, route: bool, own: bool,
                  only_own: bool) -> tuple[tuple[bytes, bool], SafePoint, float]:
    """_run_at_a_safe_point, the payload's compiler started."""
    calls = Caller(pid, version)
    try:
        return _run_with_caller(invocation, pid, version, full, compiling, (route, own, only_own), calls)
    finally:
        # Claimed (held_signals.claim), the payload's thread no longer sends them: gdb does, here,
        # once the thread is back in its own code, also when the command fails or is given up after that.
        if calls.claimed_signals and not calls.gone:
            held_signals.after_the_way_back(pid, calls)


def _run_with_caller(invocation: Invocation, pid: int, version: tuple[int, int], full: str,
                     compiling: packaging.Precompiling, how: tuple[bool, bool, bool],
                     calls: Caller) -> tuple[tuple[bytes, bool], SafePoint, float]:
    """_run_compiled with its Caller (`how`: route, own, only_own)."""
    route, own, only_own = how
    calls.prepare([pid])
    tidy = not seccomp_filtered(pid)
    saved = SavedGdbState()
    saved.save(landing.STOP_SIGNALS[calls.signal])
    try:
        with safepoint.watching_for_exec(calls):
            try:
                # Rather than wait for the compiler with the target stopped (11-70 ms of the first
                # command's stop, 2026-12-03), let it run: nothing of ours is in it yet.
                safepoint.run_until(calls, pid, compiling.done, packaging.COMPILE_TIMEOUT, "before a safe point was reached")
                compiled = compiling.result()
                source = None if compiled is not None else packaging.statement_by_statement(full)
                text_before = residency.snapshot(pid) if tidy else None  # once the target has run
                safe_point = safepoint.run_to_safe_point(calls, pid, invocation.timeout, invocation.breakpoints_allowed())
                rss_before = procfs.proc_status(pid).get("VmRSS", 0)  # the target stopped: only the payload runs
                _thread(safe_point.thread_num).switch()
                # Not under seccomp: which system calls the thread's start may make cannot be read.
                if own and tidy:
                    safe_point = _in_own_thread(calls, safe_point, pid, time.monotonic() + invocation.timeout)
                started = time.monotonic()
                paused, routing = None, None
                try:
                    if only_own and safe_point.kind != "own-thread":  # (here: the thread goes back as after a run)
                        raise NoThreadOfItsOwn("no thread of its own could be started in the target; nothing was run")
                    paused = gc_pause.pause(calls)
                    routing = allocator.route_payload_thread(calls) if route else None
                    raw = evaluation.execute(source, compiled, calls, paused)
                except WaitedTooLong as e:
                    raise ChannelError("the target's %s() did not return within %d s; it goes on in the target and "
                                       "finishes by itself" % (e, CALL_LIMIT)) from e
                finally:
                    if not calls.gone and not calls.abandoned:
                        gc_pause.resume(calls, paused)
                        warning = allocator.unroute(calls, routing)
                        if warning:
                            note("warning: %s" % warning)
                        if tidy:
                            allocator.empty_python2_free_lists(calls)
                            allocator.give_back_free_memory(calls)
                            if safe_point.kind == "own-thread":
                                own_thread.give_back_arena_top(calls, pid)
                            _drop_new_text_pages(calls, pid, text_before)
                        safepoint.back_to_safe_point(calls, safe_point, pid)
                        calls.forget_padding()
                        if version < (3, 0):
                            _say_what_python2_kept(pid, rss_before)
                return raw, safe_point, time.monotonic() - started
            finally:
                _put_back_padding(calls)
                saved.restore()  # gdb's own settings, the target gone or not (they stayed changed when it had died)
    except (gdb.error, MemleakError) as e:
        # (a call's thread gone with the exec reads as an exit: TargetGone)
        if calls.replaced and (isinstance(e, TargetGone) or not isinstance(e, TargetUnavailable)):
            raise TargetReplaced(safepoint.replaced_message("during the command")) from e
        raise


def _in_own_thread(calls: Caller, safe_point: SafePoint, pid: int, deadline: float) -> SafePoint:
    """The payload's own thread, selected, as its safe point; else (none could be started) `safe_point`."""
    moved = own_thread.move_to_own_thread(calls, safe_point, pid, deadline)
    if moved is None:
        return safe_point
    _thread(moved.thread_num).switch()
    return moved


def _put_back_padding(calls: Caller) -> None:
    """When no safe point came, or the move to a thread of ours failed, the queue call's stub is
    still in the padding, which a later gdb cannot tell from a call under way: 11 such commands
    used up every site of a target for good (a user's trial, 2026-12-05).  Not in a target that has
    gone (killed while gdb waited): the error that says so must not turn into gdb's."""
    target = gdb.selected_inferior()
    if calls.gone or calls.replaced or target.pid == 0 or not target.threads():
        return
    try:
        calls.forget_padding()
    except gdb.error:  # (gdb.MemoryError too) it went away meanwhile; its padding with it
        pass


def _say_what_python2_kept(pid: int, rss_before: int) -> None:
    """2.7 has no allocator hooks, so a payload's temporaries go through pymalloc, whose
    arenas stay while any block in them lives: 0.6-1.9 MB on a 30 MB service after the first
    py-cycles, and later commands sometimes more (2026-12-02, docs/safety.md row 5g).
    The command says so rather than leave it unseen."""
    grown = procfs.proc_status(pid).get("VmRSS", 0) - rss_before
    if rss_before and grown >= 256 * 1024:
        note("warning: the target's RSS grew by %.1f MiB during this command: Python 2.7's allocator keeps "
             "part of what a payload used (docs/safety.md, row 5g)" % (grown / 1048576))


def _envelope(raw: bytes) -> dict[str, Any]:
    """The runner's answer: {"ok", "result" | "refusal" | "error", "signals"} (payloads/_gdb_memleak_runner.py)."""
    try:
        doc = json.loads(raw.decode("ascii"))
    except ValueError:
        raise ChannelError("the payload's answer was not JSON (%d bytes)" % len(raw)) from None
    if not isinstance(doc, dict):
        raise ChannelError("the payload's answer was not a JSON object")
    return doc


# A payload's refusal (the envelope's "refusal": {"code", "reason"}) as the error type its code names.
REFUSALS: dict[str, type[MemleakError]] = {"tool_missing": ToolMissing, "no_mark": NotFound, "hazard": Refused, "no_room": NoRoom}


def refusal_error(refusal: Any) -> MemleakError:
    if not isinstance(refusal, dict):
        return ChannelError("the payload refused without a reason")
    return REFUSALS.get(str(refusal.get("code")), Refused)(str(refusal.get("reason") or "refused"))


def payload_failed(target_traceback: str) -> PayloadFailed:
    """A payload raised in the target: one line (its last line and where); the traceback kept for verbose."""
    lines = target_traceback.rstrip().splitlines() or ["unknown error"]
    message = "the payload raised in the target: %s" % lines[-1]
    frame = _TRACEBACK_FRAME.match(lines[-2]) if len(lines) >= 2 else None
    if frame is not None:
        line = int(frame.group(2))
        if frame.group(1) == "<string>":  # counted from the payload's own first line, not the quiet block's
            line -= packaging.QUIET_LINES
        message += " (raised in %s, line %d of the payload)" % (frame.group(3), line)
    return PayloadFailed(message, target_traceback.rstrip())


_TRACEBACK_FRAME = re.compile(r"^\s*File (.*), line (\d+), in (.*)$")
