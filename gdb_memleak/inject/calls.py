"""Calls into the stopped target that survive gdb dying at any instant.

A thread is "parked": gdb writes a stub (stub.py) into padding of an executable
segment (landing.py) and points the thread's rip at it, one register write.
The stub saves the thread's state on its own stack, makes the calls, and stops
itself with a signal the target ignores; gdb reads the results there and may
chain the next calls (rip again).  When gdb lets go, or dies, the stub puts
every register back and jumps to where the thread was: its system call is
restarted as the kernel would have, or returns as it had.

No breakpoint is involved, and gdb never writes the thread's registers back,
so no instant exists at which gdb's death leaves the thread half restored.
The vector state is saved by the stub (FXSAVE), not by gdb: gdb 13 cannot
write the extended state back on CPUs with AMX, and its own `call` killed
targets there (stop 8).
"""

from __future__ import annotations

import signal
import struct
import time
from dataclasses import dataclass
from typing import Optional

import gdb

from ..errors import ChannelError, EndedMidCall, Refused, TargetUnavailable
from ..gdbside import hangup
from ..gdbside import inferior as inf
from . import landing, occupancy, stub
from .alarm import continue_alone, continue_for
from .ctrl_c import CtrlC
from .gdbstate import quiet_continue

# The kernel's "restart me" codes (ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK): with no
# handler to run, the thread resumes at the `syscall` instruction again, rax = the call (restart_syscall for the last).
RESTART_CODES = (-512, -513, -514, -516)
SYS_RESTART_SYSCALL = 219
SYSCALL_INSN = b"\x0f\x05"
# The longest gdb waits for one call (a payload over a very big heap) before it lets go.
CALL_LIMIT = 600.0
# A block first runs alone (scheduler-locking on) for up to this long: a `continue` of every thread
# stops each again after it (SIGSTOP, a wait, its registers), 8 ms a call with 200 threads, 15-60 ms
# with 300, 1.3 ms alone (2026-12-05).  Then (a lock another thread holds) all threads run.
SOLO_LIMIT = 0.01
# Alone only calls that run none of the target's code (finalizers, imports, audit hooks, collections: gc is
# paused before those that make tracked objects) and start or wait for no thread.  Code run alone that blocked
# the alarm's signal while it waited for a stopped thread would hang gdb for good (a reviewer's test, 2026-12-05).
ALONE = frozenset((
    "PyMem_RawMalloc", "PyMem_RawFree", "PyMem_Malloc", "PyMem_Free", "PyObject_Malloc", "PyObject_Free", "malloc", "free",
    "madvise", "malloc_trim", "PyMem_GetAllocator", "PyMem_SetAllocator", "_PyMem_GetCurrentAllocatorName", "Py_IncRef",
    "PyInterpreterState_Head", "PyInterpreterState_Next", "PyInterpreterState_Get", "PyGC_IsEnabled", "PyGC_Disable",
    "PyGC_Enable", "PyImport_GetModuleDict", "PyModule_GetDict", "PyEval_GetBuiltins", "PyDict_GetItemString",
    "PyDict_SetItemString", "PyObject_SetAttrString", "PyObject_GenericGetDict", "PyModule_New", "PyWeakref_NewRef",
    "PySet_Add", "PySet_Discard", "PyBytes_AsString", "PyBytes_Size", "PyString_AsString", "PyString_Size",
    "PyErr_Occurred", "PyErr_Fetch", "PyFrame_GetLineNumber", "PyFrame_GetCode", "PyUnicode_AsUTF8", "PyByteArray_AsString", "PyByteArray_Size",
    "Py_AddPendingCall", "PyInt_ClearFreeList", "PyFloat_ClearFreeList",
    "PyThreadState_GetUnchecked", "_PyThreadState_UncheckedGet", "PyThreadState_EnterTracing", "PyThreadState_LeaveTracing",
    "gc.isenabled", "gc.disable", "gc.enable",  # (3.6-3.9: the C functions behind them, gc_pause.Switch)
    # fork_handler's, made while gdb has gc paused (no collection can start; PyFunction_New's watchers, 3.12+, are C)
    "paused.PyDict_New", "paused.PyFunction_New"))


def read_register(frame: gdb.Frame, name: str) -> int:
    value = int(frame.read_register(name)) & 0xFFFFFFFFFFFFFFFF  # (signed)
    return value - (1 << 64) if value >= 1 << 63 else value


def set_rip(value: int) -> None:
    gdb.execute("set var $rip = %d" % value, to_string=True)


@dataclass
class Parked:
    """A thread running our stub, stopped at its stop or about to be."""

    thread: gdb.InferiorThread
    tid: int
    rip: int  # where it was stopped
    in_syscall: int  # the system call it was in (orig_rax), -1 if none
    restarts: bool  # the kernel will restart that call when the thread resumes
    frame: int = 0  # rbx inside the stub: its saved state
    region: int = 0  # which of the two regions holds the block it runs
    stop: int = 0  # the current block's stop address
    epilogue: tuple = ()  # calls every block makes on its way back (PyGILState_Release)


class TargetGone(TargetUnavailable):
    """The target exited while we worked in it."""


class WaitedTooLong(Exception):
    """A call did not return in time; its thread finishes it by itself."""


class Caller:
    """Calls into one stopped target; see the module's docstring."""

    def __init__(self, pid: int, version: tuple[int, int]):
        bytes_type = "PyBytes" if version[0] >= 3 else "PyString"
        self.as_string = bytes_type + "_AsString"
        self.size = bytes_type + "_Size"
        # Raw memory: no GIL-state or heap-object side effects; 2.7 has no PyMem_Raw*.
        self.raw_malloc, self.raw_free = ("PyMem_RawMalloc", "PyMem_RawFree") if version >= (3, 4) else ("PyMem_Malloc", "PyMem_Free")
        self.pid = pid
        self.version = version
        self.addresses: dict[str, int] = {stub.ADD_TO_INT_NAME: stub.ADD_TO_INT}  # (not a function: stub.py)
        self.gone = False
        self.replaced = False  # the target exec'd a new program (safepoint.watching_for_exec)
        self.parked: Optional[Parked] = None
        self.abandoned = False  # a thread was left to finish a block by itself: the padding stays
        self.claimed_signals: list = []  # held signals gdb claimed (held_signals.claim): gdb sends them
        self.claim_sent_at = 0  # where gdb writes 2 once it has sent them (0: the payload's thread does not wait)
        self.keep_padding = False  # something of the target's still points into it (allocator hooks)
        self._frames: dict[int, int] = {}  # thread number -> the stub frame (rbx) it has, until it is out
        self._origins: dict[int, tuple[int, int]] = {}  # thread number -> (rsp, rip) where it was parked
        # Calls every block makes on its way back, gdb or not, as (function, args): what a
        # park took (the GIL) and changed (the allocators) is given back even if gdb dies.
        self.epilogue: list[tuple[str, tuple]] = []
        self.ctrl_c = CtrlC()
        self.signal = 0
        self._regions: list[int] = []
        self._saved_padding: Optional[tuple[int, bytes]] = None

    # -- set-up ---------------------------------------------------------------

    def prepare(self, tids: list[int]) -> None:
        """Choose the stop signal and the landing site; raise a one-line error if there is none."""
        signal, why = landing.stop_signal(self.pid, tids)
        if signal is None:
            raise Refused("%s; nothing was run in the target" % why,
                          hint="py-heap --read-only and py-cycles --read-only read its memory instead")
        self.signal = signal
        target = gdb.selected_inferior()
        try:
            sites = landing.padding_sites(self.pid)
        except OSError as e:
            raise ChannelError("cannot read the target's mappings (%s)" % e.strerror) from e
        stale = []
        for address, size, _ in sites:
            data = target.read_memory(address, landing.NEEDED).tobytes()
            if not landing.is_free_padding(data):
                stale += [(address, size)] if landing.holds_stub(data) and not landing.thread_on_its_way(data) else []
                continue
            self._saved_padding, self._regions = (address, data), [address, address + stub.MAX_BLOCK]
            return
        # Only once every site is taken: the check reads every thread's registers and stack.
        in_use = occupancy.stale_stubs_in_use(self.pid, [address for address, _ in stale]) if stale else set()
        for address, size in stale:
            if address not in in_use:
                tail = target.read_memory(address + size - 1, 1).tobytes() if size > landing.NEEDED else b""
                self._saved_padding = (address, bytes([landing.filler(tail)]) * landing.NEEDED)
                self._regions = [address, address + stub.MAX_BLOCK]
                return
        raise Refused("no free padding in the target's executable segments to run calls from: threads may still "
                      "return into what killed gdb sessions left there; nothing was run in the target")

    def forget_padding(self) -> None:
        """Put the padding's bytes back, unless a thread still runs there (then the stub stays: harmless)."""
        if self._saved_padding is None or self.gone or self.abandoned or self.keep_padding:
            return
        address, data = self._saved_padding
        if self.thread_in_padding() is not None:
            return
        gdb.selected_inferior().write_memory(address, data)
        self._saved_padding = None

    @property
    def routing_area(self) -> int:
        """Padding beyond the two block regions, for the allocator hooks (allocator.py)."""
        return self._regions[0] + 2 * stub.MAX_BLOCK

    @property
    def thread_area(self) -> int:
        """Padding beyond the routing area, for the start routine of the payload's own thread (own_thread.py)."""
        return self.routing_area + landing.ROUTING_AREA

    def thread_in_padding(self, *, blocks_only: bool = False) -> Optional[int]:
        """The number of a thread still in our code, if any (occupancy.thread_in_our_code).
        `blocks_only`: in the block regions and the hooks, not in the own thread's start routine."""
        if not self._regions:
            return None
        start = self._regions[0]
        end = start + (landing.NEEDED - stub.THREAD_AREA if blocks_only else landing.NEEDED)
        return occupancy.thread_in_our_code(self.pid, (start, end), self._frames, self._origins)

    def address(self, function: str) -> int:
        if function not in self.addresses:
            address = inf.minimal_symbol_address(function)
            if not address:  # (0 is no function: it stands for stub.ADD_TO_INT)
                raise ChannelError("the target has no %s()" % function)
            self.addresses[function] = address
        return self.addresses[function]

    # -- calls ----------------------------------------------------------------

    def call(self, function: str, *args: int, ret: str = "long", deadline: Optional[float] = None) -> int:
        """`function(*args)` on the selected thread, which must be parked or parkable (see park_here);
        `deadline` as in call_many."""
        (value,) = self.call_many([(function, args)], deadline=deadline)
        if ret == "int":
            return (value & 0xFFFFFFFF) - (1 << 32 if value & 0x80000000 else 0)
        return 0 if ret == "void" else value

    def cleanup(self, function: str, *args: int) -> None:
        """A call that frees what an earlier one made; pointless, and impossible, once the target is gone,
        and harmful once a thread was left to finish a block by itself (a new block would be written
        over the padding it may still run in)."""
        if not self.gone and not self.abandoned:
            self.call(function, *args, ret="void")

    def call_many(self, calls: list[tuple[str, tuple]], *, keep_first: bool = False, epilogue: Optional[list[tuple[str, tuple]]] = None,
                  deadline: Optional[float] = None, named: Optional[str] = None) -> list[int]:
        """Several calls in a row in one block (one stop), on the selected thread.
        `keep_first`: the first call's result becomes the park value (stub.PARK_VALUE).
        `epilogue`: calls every later block makes on its way back, with gdb or without
        (the release of what the first call took; stub.ResultOf: what this block's calls make).  `deadline` (time.monotonic()): give up
        waiting then, leaving the thread to finish the block and go back by itself.  `named`: the
        call that errors name (the last by default; the payload's, not the unmarking after it)."""
        if self.gone:
            raise TargetGone("the target exited")
        thread = gdb.selected_thread()
        resolved = [stub.Call(self.address(name), tuple(args)) for name, args in calls]
        if self.parked is not None and self.parked.thread != thread:
            raise ChannelError("internal error: a call on thread %d while thread %d is parked" % (thread.num, self.parked.thread.num))
        previous, self.epilogue = self.epilogue, list(epilogue) if epilogue is not None else self.epilogue
        try:
            block = self._start(thread, resolved, keep_first, tuple(stub.Call(self.address(name), tuple(args))
                                                                   for name, args in self.epilogue))
        except BaseException:  # never started: the thread's way back is the last block's (a stub.ResultOf would name this one's)
            self.epilogue = previous
            raise
        parked = self._parked()
        parked.stop = block.stop
        results: list[int] = []
        try:  # No call may hang gdb for good: past this, the thread finishes the block by itself.
            solo = all(name in ALONE for name, _ in calls)
            self._run_to_stop(named or calls[-1][0], deadline if deadline is not None else time.monotonic() + CALL_LIMIT, solo)
            parked.frame = int(gdb.newest_frame().read_register("rbx"))
            self._frames[parked.thread.num] = parked.frame
            memory = gdb.selected_inferior().read_memory
            results = [struct.unpack("<Q", memory(parked.frame + stub.result_offset(i), 8).tobytes())[0] for i in range(len(resolved))]
        finally:  # the next block's own results go where these were (none read: 0s, a leak at worst)
            self.epilogue = stub.with_results(self.epilogue, results)
        return results

    def _start(self, thread: gdb.InferiorThread, calls: list[stub.Call], keep_first: bool, ending: tuple) -> stub.Block:
        """The block written and the thread pointed at it: parked there first, or chained from its last stop."""
        if self.parked is None:
            block = self._park(thread, calls, keep_first, ending)
        else:
            parked = self.parked
            region = parked.region ^ 1  # switched once written: a block refused unwritten leaves the parity
            block = stub.next_block(self._regions[region], calls, resume=self._resume(parked), interrupted=self._interrupted(parked),
                                    tgid=self.pid, tid=parked.tid, signal=self.signal, keep_first=keep_first, epilogue=ending)
            gdb.selected_inferior().write_memory(self._regions[region], block.code)
            parked.region = region
            set_rip(block.entry)
        self._parked().epilogue = ending
        return block

    def _park(self, thread: gdb.InferiorThread, calls: list[stub.Call], keep_first: bool, epilogue: tuple) -> stub.Block:
        if landing.thread_blocks(self.pid, thread.ptid[1], self.signal):
            # The block's stop is a tgkill of that signal: it would stay pending, and gdb wait for it.
            raise ChannelError("internal error: thread %d blocks the stop signal; nothing was run in it" % thread.num)
        frame = gdb.newest_frame()
        frame.select()
        rip = int(frame.read_register("rip"))
        self._origins[thread.num] = (int(frame.read_register("rsp")), rip)
        in_syscall = read_register(frame, "orig_rax")
        status = read_register(frame, "rax")
        restarts = in_syscall >= 0 and status in RESTART_CODES
        parked = Parked(thread, thread.ptid[1], rip, in_syscall, restarts)
        errno_location = inf.minimal_symbol_address("__errno_location") or 0
        block = stub.first_block(self._regions[0], calls, errno_location=errno_location, resume=self._resume(parked),
                                 interrupted=self._interrupted(parked),
                                 tgid=self.pid, tid=parked.tid, signal=self.signal, keep_first=keep_first,
                                 epilogue=epilogue)
        gdb.selected_inferior().write_memory(self._regions[0], block.code)
        self.parked = parked
        set_rip(block.entry)  # the one write that starts it
        return block

    @staticmethod
    def _resume(parked: Parked) -> int:
        """Where the stub jumps back to by default: the system call again if the kernel restarts it."""
        return parked.rip - len(SYSCALL_INSN) if parked.restarts else parked.rip

    @staticmethod
    def _interrupted(parked: Parked) -> Optional[int]:
        """Where it jumps back to instead if a signal's handler ran as it was parked (stub.first_block)."""
        return parked.rip if parked.restarts else None

    def _run_to_stop(self, what: str, deadline: Optional[float] = None, solo: bool = False) -> None:
        """Continue until the parked thread reaches its block's stop; other stops (Ctrl-C, signals) do not end a call.

        Past `deadline`, the target is stopped and WaitedTooLong raised: the thread
        stays in the block, which it finishes, and leaves, by itself."""
        # (a call made as the command unwinds from gdb's end is waited for: the clean-up's)
        endable = hangup.termination_received() is None
        try:
            if not (solo and self._alone_to_stop(what, deadline)):
                self._wait_for_stop(what, deadline, endable, stopped=solo)
        except (TargetGone, WaitedTooLong):
            raise
        except BaseException:
            # gdb quitting (SIGHUP, SIGTERM) or anything unforeseen, with the thread in our
            # code: it finishes the block and goes back by itself; nothing may touch the padding.
            self.parked = None
            self.abandoned = True
            raise

    def _parked(self) -> Parked:
        if self.parked is None:
            raise ChannelError("internal error: no thread is parked")
        return self.parked

    def _alone_to_stop(self, what: str, deadline: Optional[float]) -> bool:
        """Run the parked thread alone up to SOLO_LIMIT: True if it reached its block's stop.  False: still in the
        block (a lock another thread holds), stopped, or blocking the stop signal now (neither its stop nor the
        alarm's could come); _wait_for_stop then lets every thread run until it gets there."""
        parked = self._parked()
        seconds = SOLO_LIMIT if deadline is None else min(SOLO_LIMIT, deadline - time.monotonic())
        if seconds <= 0 or gdb.parameter("scheduler-locking") == "on" or landing.thread_blocks(self.pid, parked.tid, self.signal):
            return False  # ("on": the caller runs it alone already)
        return self._continued_to_stop(what, seconds, alone=True)[1]

    def _wait_for_stop(self, what: str, deadline: Optional[float], endable: bool, stopped: bool) -> None:
        """`endable`: gdb told to end (SIGTERM, SIGHUP) during the call ends the wait too.  A second Ctrl-C
        does, always (ctrl_c.py).  `stopped`: the target's last stop, from the block's run alone, is
        to be looked at first."""
        while True:
            # Looked at after each stop: the interrupt may have gone to the block's run alone, and gdb's
            # own interrupt on SIGTERM stops the target as a Ctrl-C would.  Either way the thread finishes
            # the block, and leaves it, by itself: a payload that hangs (an audit hook that blocks) kept a
            # SIGTERMed gdb, and `gdb-memleak report` on Ctrl-C, for CALL_LIMIT.
            ending = hangup.termination_received() if endable else None
            left = ending is None and stopped and self.ctrl_c.ends_call(self.pid, what)
            fired = False
            if ending is None and not left:
                fired, at_stop = self._continued_to_stop(what, None if deadline is None else deadline - time.monotonic())
                if at_stop:
                    return
                stopped = not fired
                if stopped:
                    continue
            self.parked = None
            self.abandoned = True
            if left:
                raise EndedMidCall("interrupted twice during the target's %s(); it goes on in the target and "
                                   "finishes by itself" % what)
            if ending is None:
                raise WaitedTooLong(what)
            raise EndedMidCall("gdb was asked to end (%s) during the target's %s(); it goes on in the target "
                               "and finishes by itself" % (signal.Signals(ending).name, what))

    def _continued_to_stop(self, what: str, seconds: Optional[float], alone: bool = False) -> tuple[bool, bool]:
        """Continue (for `seconds` at most, `alone` or with every thread): (whether our alarm stopped it,
        whether the parked thread is at its block's stop).  TargetGone if the target exited."""
        parked = self._parked()
        target = gdb.selected_inferior()
        try:
            if seconds is None:
                quiet_continue()
                fired = False
            else:
                fired = (continue_alone if alone else continue_for)(self.pid, seconds, self.signal)
        except gdb.error as e:
            if target.pid == 0 or not parked.thread.is_valid():
                self._lost(what)
            raise ChannelError("the target stopped running during a call to %s(): %s" % (what, e)) from e
        if target.pid == 0 or not parked.thread.is_valid():
            self._lost(what)
        return fired, gdb.selected_thread() == parked.thread and int(gdb.newest_frame().pc()) == parked.stop

    def _lost(self, what: str) -> None:
        self.gone = True
        self.parked = None
        raise TargetGone("the target exited during a call to %s()" % what)

    def release(self, *, resume: Optional[int] = None, rax: Optional[int] = None) -> None:
        """Let the parked thread go back by the stub's own restore, on the next continue.

        `resume`/`rax`: go back elsewhere than where it was, with rax set (a woken
        system call returns EINTR; a stop by tgkill runs its tgkill again)."""
        parked, self.parked = self.parked, None
        if parked is None or self.gone:
            return
        ending = tuple(stub.Call(self.address(name), tuple(args)) for name, args in self.epilogue)
        self.epilogue = []
        if resume is None and rax is None and ending == parked.epilogue:
            return  # the block it stopped in restores it on the next continue
        parked.thread.switch()
        region = self._regions[parked.region ^ 1]
        code = stub.release_block(region, resume=self._resume(parked) if resume is None else resume, rax=rax,
                                  epilogue=ending, interrupted=self._interrupted(parked) if resume is None else None)
        gdb.selected_inferior().write_memory(region, code)
        set_rip(region)
