"""A thread from which the pending call can be queued where the stop found it, with no breakpoint.

The queue point (queue_point.py) needs one call of Py_AddPendingCall from a thread of the
stopped target.  A breakpoint at a function's entry outlives a SIGKILLed gdb and kills the
target with SIGTRAP, so each stop first looks here for a thread already where that call is
safe: outside any system call (/proc/PID/task/TID/syscall reads "-1 SP PC"), with its PC in
the eval loop's own code or in a function of CPython's Objects/, as the debug info says.

Why those places.  The call takes the pending-call lock (PyThread lock to 3.12, a PyMutex
from 3.13, whose slow path parks in the parking lot) and sets the eval breaker.  The eval
loop calls take_gil, drop_gil and the pending-call handler, which take and release their
locks inside (their disassembly on pyenv 2.7, 3.8, 3.11 and 3.13; 2.7's eval loop takes the
GIL itself, but 2.7's Py_AddPendingCall only tries its own lock); the object code never
takes them.  What was inlined at the PC is in the debug info's blocks: a block of a function
whose name speaks of pending calls, signals, the GIL, locks, mutexes, parking or thread
states rules the stop out, and so does a signal handler's frame on the thread's stack (a C
signal handler can run object code: faulthandler's dumps; the code it interrupted could hold
the lock).  Ruled out as well:
  * code that may use 256-bit registers (avx in the producer's flags, or a -march beyond
    x86-64-v2): the stub saves the SSE state (FXSAVE), not their upper halves.
Without debug info (Debian's python3.11), and for code built with link-time optimisation (a
"GNU GIMPLE" producer: gdb 13 names the LTO partition, not the source file, for every function
of it, a review found 72 functions of Python/ and Modules/ named as Objects/ on Debian forky's
3.14; and the partition's flags merge those of all its files, -mavx2 from HACL*'s on forky's
3.14 eval loop), the eval loop's machine code is read instead, from its file, while the
target runs (host/eval_loop.py): a function that calls no lock primitive and keeps nothing
in wide registers is admitted whole, once the target's copy of its bytes is checked to be the
one read.  With LTO, an inlined block whose name speaks of locks still rules a stop out.
Sampled on a pure-Python loop (2026-12-04), 297 of 300 stops found its thread in the eval
loop on pyenv 3.11; on 3.13, 37 of 40 in the eval loop or in Objects/.

3.13+: if another thread held the pending-call mutex when the call is made, PyMutex's slow
path could park and detach the thread state (give the GIL away) while the interrupted code is
halfway through its work.  So no thread is called from while the stop finds that mutex held
(pending_mutex_held: one byte read, its address from the debug info or the kept layout table,
checked against the build; a build that neither describes is called from as before, and the
slow path first spins 40 times, while the holder, resumed with every thread during the call,
lets it go).
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import gdb

from ..gdbside import dwarf_layout
from ..gdbside import inferior as inf
from ..host import eval_loop, layout_tables
from . import landing

# The eval loop: 3.x, then 2.7.
EVAL_LOOPS = ("_PyEval_EvalFrameDefault", "PyEval_EvalFrameEx")
# Inlined code or frames whose lowercased name has one of these may hold a lock the call takes.
LOCKING_NAMES = ("pending", "signal", "gil", "lock", "mutex", "park", "semaphore", "critical", "savethread",
                 "restorethread", "acquirethread", "releasethread", "attach", "detach", "eval_breaker",
                 "threadstate")
# Bytes of a thread's stack, above its stack pointer, looked through for a signal handler's frame.
STACK_SCANNED = 16384
_BASELINE_MARCH = ("x86-64", "x86-64-v2", "nocona", "core2", "k8")
_MARCH = re.compile(r"-march=(\S+)")

# (pid, function name, its file) -> the function's code is one the call may interrupt
_VERDICTS: dict[tuple[int, str, str], Optional[bool]] = {}


@dataclass
class _Scan:
    scan: eval_loop.Scan
    address: int  # of the scanned function, in the target


# pid -> the reading of its runtime's eval loop, running or answered (None: none could start)
_SCANS: dict[int, Optional[_Scan]] = {}


def start_scan(pid: int) -> None:
    """Start reading the target's eval loop from its file (host/eval_loop.py), once per process:
    a child process does, while the target runs.  Called without debug info, and by the first
    look that meets an LTO build's."""
    if pid in _SCANS:
        return
    # 3.x's own (its PyEval_EvalFrameEx is a wrapper), else 2.7's
    name = next((n for n in EVAL_LOOPS if inf.minimal_symbol_address(n) is not None), EVAL_LOOPS[0])
    path = inf.runtime_file()
    address = inf.minimal_symbol_address(name)
    _SCANS[pid] = None
    if path is not None and address is not None:
        debug_dirs = gdb.parameter("debug-file-directory")
        _SCANS[pid] = _Scan(eval_loop.Scan(path, name, debug_dirs if isinstance(debug_dirs, str) else None,
                                           _running_gdb()), address)


def _running_gdb() -> Optional[str]:
    """The gdb that runs this code, when its executable is one (not a loader it was started
    through, as the trees' gdb 16 and 18 are): it runs, so it can disassemble, PATH or not."""
    try:
        exe = os.readlink("/proc/self/exe")
    except OSError:
        return None
    return exe if "gdb" in os.path.basename(exe) and os.access(exe, os.X_OK) else None


def scan_running(pid: int) -> Optional[Callable[[], bool]]:
    """The done() of the target's eval-loop reading while it has not answered, else None."""
    entry = _SCANS.get(pid)
    return None if entry is None or entry.scan.done() else entry.scan.done


def eval_loop_span(pid: int) -> Optional[tuple[tuple[int, int], ...]]:
    """The [start, end) ranges of the target's eval loop (its own, and its named .cold part), when
    its reading has answered that the call may be made from anywhere in them and the target's own
    copy of the bytes read (the function's, and those of the code it jumps to) is the one read;
    else None.  Checked at each command (reads of
    some 60 KB, well under a millisecond): a library loaded again elsewhere, or another file, is
    never taken for the one read."""
    entry = _SCANS.get(pid)
    if entry is None or not entry.scan.done():
        return None
    code = entry.scan.result()
    if code is None or not code.interruptible:
        return None
    bias = entry.address - code.start
    for start, end, digest in code.parts:
        try:
            raw = bytes(gdb.selected_inferior().read_memory(start + bias, end - start))
        except gdb.MemoryError:
            return None
        if hashlib.sha256(raw).hexdigest() != digest:
            return None
    return tuple((start + bias, end + bias) for start, end in code.spans)


def forget() -> None:
    """End the readings still running, and forget them all (gdb's target exited or was left)."""
    for entry in _SCANS.values():
        if entry is not None:
            entry.scan.close()
    _SCANS.clear()
    _PENDING_MUTEX.clear()
    _VERDICTS.clear()
    _RETURNS.clear()


def thread_in_place(pid: int, stop_signal: int, span: Optional[tuple[tuple[int, int], ...]] = None,
                    debug_info: bool = True, blocking: Optional[list[int]] = None) -> Optional[gdb.InferiorThread]:
    """A thread of the stopped target from which the queue call is safe where it stands, or None.
    Threads in a system call are passed over unread.  `span`: eval_loop_span(); `debug_info`:
    whether the runtime may have any (without, no block is looked up); `blocking` gets the
    LWPs of the threads passed over only because they block the stop signal."""
    if pending_mutex_held(pid):
        return None
    for thread in gdb.selected_inferior().threads():
        if not thread.is_valid():
            continue
        where = user_sp_pc(pid, thread.ptid[1])
        if where is None or not _in_lock_free_code(pid, where[1], span, debug_info) or _in_signal_handler(pid, where[0]):
            continue
        if not landing.thread_blocks(pid, thread.ptid[1], stop_signal):
            return thread
        if blocking is not None:
            blocking.append(thread.ptid[1])
    return None


# pid -> the address of its runtime's pending-call PyMutex (3.13+), or None (none, or not known)
_PENDING_MUTEX: dict[int, Optional[int]] = {}


def pending_mutex_held(pid: int) -> bool:
    """The stopped target's 3.13+ pending-call mutex is held (its locked bit; unreadable counts
    as held): the queue call would contend for it.  False before 3.13, and where its place is
    not known."""
    if pid not in _PENDING_MUTEX:
        _PENDING_MUTEX[pid] = _pending_mutex_address()
    address = _PENDING_MUTEX[pid]
    if address is None:
        return False
    try:
        return bool(bytes(gdb.selected_inferior().read_memory(address, 1))[0] & 1)
    except gdb.MemoryError:
        return True


def _pending_mutex_address() -> Optional[int]:
    """The kept layout table's place when the build's own _Py_DebugOffsets fit it (10 ms), or when
    they are of its version and what lies there is the main thread's pending calls (another micro
    version: trixie's 3.13.5); else the debug info's (83-104 ms of stop for the first look, pyenv
    3.13 and forky's 3.14d)."""
    version = inf.python_version()
    if version is None or version < (3, 13):
        return None
    runtime = inf.minimal_symbol_address("_PyRuntime")
    if runtime is None:
        return None
    offset = -1
    table = layout_tables.load(version)
    if table is not None:
        try:
            head = bytes(gdb.selected_inferior().read_memory(runtime, layout_tables.span(table)))
        except gdb.MemoryError:
            head = b""
        kept = table["offsets"].get("runtime_pending_mutex", -1)
        if layout_tables.mismatch(table, head) is None:
            offset = kept
        elif kept >= 0 and layout_tables.own_offsets(table, head, ())[1] is None and _main_pending_calls_at(runtime + kept):
            offset = kept
    if offset < 0 and inf.runtime_may_have_debug_info():
        offset = dwarf_layout.pending_mutex_offset()
    return runtime + offset if offset >= 0 else None


# _PyRuntime.ceval.pending_mainthread from its mutex on, 3.13-3.15: the PyMutex's byte (bits 1 and
# 2 only), 3 bytes of padding, then int32 npending, max and maxloop; max is MAXPENDINGCALLS_MAIN,
# 32, and maxloop 0 in pyenv's 3.13.0, trixie's 3.13.5 and forky's 3.14 and 3.15 (read 2026-12-04).
_MAIN_PENDING_MAX = 32


def _main_pending_calls_at(address: int) -> bool:
    try:
        raw = bytes(gdb.selected_inferior().read_memory(address, 16))
    except gdb.MemoryError:
        return False
    npending, most, maxloop = struct.unpack_from("<iii", raw, 4)
    return raw[0] & ~3 == 0 and raw[1:4] == b"\0\0\0" and most == _MAIN_PENDING_MAX and maxloop == 0 and 0 <= npending <= most


def user_sp_pc(pid: int, tid: int) -> Optional[tuple[int, int]]:
    """(stack pointer, PC) of a stopped thread in its own code, or None if it is in a system call
    (or unreadable): /proc's syscall file, "-1 SP PC" outside one.  No gdb frame is built."""
    line = syscall_line(pid, tid)
    fields = line.split() if line is not None else []
    if len(fields) != 3 or fields[0] != b"-1":
        return None
    try:
        return int(fields[1], 16), int(fields[2], 16)
    except ValueError:
        return None


def syscall_line(pid: int, tid: int) -> Optional[bytes]:
    """A stopped thread's /proc syscall file: "NR ARG1..ARG6 SP PC" in a system call, "-1 SP PC"
    outside one; None if it cannot be read."""
    try:
        with open("/proc/%d/task/%d/syscall" % (pid, tid), "rb") as f:
            return f.read()
    except OSError:
        return None


def looks_can_succeed(pid: int, span: Optional[tuple[tuple[int, int], ...]], debug_info: bool) -> bool:
    """Some look may find a thread where the call is safe: the eval loop's machine code was admitted
    (span), or its debug info admits it; and the C library is mapped (without it, every thread
    counts as in a signal handler).  False for a build whose debug info refuses the eval loop
    (-march beyond x86-64-v2: every function refused)."""
    try:
        if not any(_LIBC.search(m.path) for m in landing.read_maps(pid)):
            return False
    except OSError:
        return False
    if span is not None:
        return True
    loop = next((a for a in map(inf.minimal_symbol_address, EVAL_LOOPS) if a is not None), None)
    told = _told_by_debug_info(pid, loop) if debug_info and loop is not None else None
    if told is None and loop is not None:
        start_scan(pid)  # debug info silent about the eval loop (none there, or LTO): its machine code tells
    return bool(told)


def _in_signal_handler(pid: int, sp: int) -> bool:
    """The thread runs a signal handler, or cannot be told not to: the STACK_SCANNED bytes above sp
    hold a return address into the C library's signal return (`mov $15, %rax; syscall`: the
    kernel's signal frame starts with it).  gdb's own unwinder tells the same, but its first
    unwind of a stack expanded the debug info of every frame's file: 87-125 ms of stop
    (2026-12-04, pyenv 3.10-3.13); this reads one slice of the stack and the maps once.
    A word left there by an earlier handler only passes the thread over."""
    try:
        mappings = landing.read_maps(pid)
    except OSError:
        return True
    texts = [(m.start, m.end) for m in mappings if m.perms[2:3] == "x" and _LIBC.search(m.path)]
    if not texts:
        return True  # no C library of its own (static): nothing to recognise its signal return by
    end = next((m.end for m in mappings if m.start <= sp < m.end), sp)
    try:
        stack = bytes(gdb.selected_inferior().read_memory(sp, min(STACK_SCANNED, end - sp)))
    except gdb.MemoryError:
        return True
    for (word,) in struct.iter_unpack("<Q", stack[:len(stack) // 8 * 8]):
        if any(s <= word < e for s, e in texts) and _signal_return(pid, word):
            return True
    return False


_LIBC = re.compile(r"/(libc\.so|libc-[\d.]+\.so|ld-musl)")
# (pid, address) -> the code there is the signal return
_RETURNS: dict[tuple[int, int], bool] = {}
_SIGRETURN = (b"\x48\xc7\xc0\x0f\x00\x00\x00\x0f\x05",  # mov $15, %rax; syscall (glibc)
              b"\xb8\x0f\x00\x00\x00\x0f\x05")  # mov $15, %eax; syscall


def _signal_return(pid: int, address: int) -> bool:
    if (pid, address) not in _RETURNS:
        try:
            code = bytes(gdb.selected_inferior().read_memory(address, 9))
        except gdb.MemoryError:
            code = b""
        _RETURNS[(pid, address)] = any(code.startswith(pattern) for pattern in _SIGRETURN)
    return _RETURNS[(pid, address)]


def _locking(name: Optional[str]) -> bool:
    low = (name or "").lower()
    return any(part in low for part in LOCKING_NAMES)


def _in_lock_free_code(pid: int, pc: int, span: Optional[tuple[tuple[int, int], ...]], debug_info: bool) -> bool:
    told = _told_by_debug_info(pid, pc) if debug_info else None
    if told is not None:
        return told
    return span is not None and any(start <= pc < end for start, end in span)


def _told_by_debug_info(pid: int, pc: int) -> Optional[bool]:
    """What the debug info says of pc; None if it has nothing to say (no debug info there, or LTO)."""
    try:
        block = gdb.block_for_pc(pc)
    except RuntimeError:
        return None
    function = None
    while block is not None and not (block.is_static or block.is_global):
        if block.function is not None:
            if _locking(block.function.name):
                return False
            function = block.function  # the outermost is the function the code belongs to
        block = block.superblock
    if function is None or function.symtab is None:
        return None
    key = (pid, function.name, function.symtab.filename)
    if "gimple" in (function.symtab.producer or "").lower():
        start_scan(pid)
    if key not in _VERDICTS:
        _VERDICTS[key] = _may_interrupt(function.name, function.symtab.filename, function.symtab.producer or "")
    return _VERDICTS[key]


def _may_interrupt(name: str, filename: str, producer: str) -> Optional[bool]:
    flags = producer.lower()
    if "gimple" in flags:
        return None  # link-time optimised: only the machine code can tell (the module's docstring)
    if "avx" in flags or any(m not in _BASELINE_MARCH for m in _MARCH.findall(flags)):
        return False
    return name in EVAL_LOOPS or "/Objects/" in "/" + filename
