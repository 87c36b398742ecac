"""Run a payload inside the stopped target at a safe point and read its JSON back.

Running Python wherever gdb happens to have stopped the target can deadlock it
(a thread inside malloc holding the arena lock) or corrupt its heap (a thread in
the middle of pymalloc); see docs/safety.md.  So the target is first let run
until one of its threads is at a place where CPython itself would run Python:

* its main thread runs a no-op pending call queued with ``Py_AddPendingCall``:
  the eval loop runs pending calls between two bytecodes, holding the GIL; or
* any thread enters ``PyEval_SaveThread``: it holds the GIL and is about to let
  other threads run Python, so running ours there is what any other thread
  could have done at that moment.

There the payload runs through a handful of cast inferior calls (so stripped
binaries work too).  Its result comes back as a bytes object that gdb reads
from the target's memory: no files, no sockets.  A call in flight is never
abandoned; the timeout only applies while the target runs towards a safe point.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import gdb

from . import allocator
from . import inferior as inf
from . import residency
from .payloads import RUNNER, payload_source

PY_FILE_INPUT = 257  # Py_file_input in every CPython version
RESULT_NAME = "__gdb_memleak_result__"

# The runner (payloads/_gdb_memleak_runner.py) follows the payload's source, then
# this line: the three run as one module in a fresh globals dict, so the payload's
# text is never a Python object in the target (it travels in raw memory) and its
# line numbers stay those of its file.
CALL_RUNNER = "\n%s = __gdb_memleak_run__(%s, %s)\n"


def _statement_by_statement(source: str) -> str:
    """`source` as a loop that compiles and runs it one top-level statement at a time.

    Compiling a 1,000-line module in one go leaves the target about 4 MB bigger
    (pymalloc arenas kept by a few survivors of the compiler); one statement at a
    time, about 0.5 MB (2026-11-27, 3.11).  Each statement keeps its line number:
    it is preceded by as many newlines as lines before it.  Source that gdb's
    Python cannot parse is sent whole.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    lines = source.splitlines(True)
    spans: list[list[int]] = []
    for node in tree.body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        last = node.end_lineno or node.lineno
        if spans and first <= spans[-1][1]:  # `a; b` on one line: one chunk
            spans[-1][1] = max(spans[-1][1], last)
        else:
            spans.append([first, last])
    chunks = ["\n" * (first - 1) + "".join(lines[first - 1 : last]) for first, last in spans]
    return (
        "for __gdb_memleak_chunk__ in (%s,):\n"
        "    exec(compile(__gdb_memleak_chunk__, '<string>', 'exec'), globals())\n"
        "del __gdb_memleak_chunk__\n" % ", ".join(_py_literal(chunk) for chunk in chunks)
    )


def _py_literal(value: Any) -> str:
    """Python source for `value` (text, numbers, None, lists, dicts) that 2.7 and 3.x both read back.

    Text goes through ascii(), so quotes, backslashes and non-ASCII characters
    reach the target as escapes inside an ASCII literal: nothing the user types
    becomes code there.
    """
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return "%d" % value
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else "None"
    if isinstance(value, str):
        return "u" + ascii(value)
    if isinstance(value, (list, tuple)):
        return "[%s]" % ", ".join(_py_literal(v) for v in value)
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s: %s" % (_py_literal(str(k)), _py_literal(v)) for k, v in value.items())
    raise TypeError("cannot send a %s to the target" % type(value).__name__)


@dataclass
class SafePoint:
    kind: str  # "pending-call" or "gil-release"
    thread_num: int


@dataclass
class PayloadResult:
    result: dict
    safe_point: SafePoint
    seconds: float  # time spent in the target's payload calls


class _SafePointBreakpoint(gdb.Breakpoint):
    """An internal breakpoint at a function's entry that stops only while armed."""

    def __init__(self, function: str, kind: str):
        # By address, from the runtime copy that runs (a process may hold two libpythons).
        address = inf.minimal_symbol_address(function)
        if address is None:
            raise gdb.GdbError("the target has no %s()" % function)
        super().__init__("*%d" % address, type=gdb.BP_BREAKPOINT, internal=True)
        self.silent = True
        self.kind = kind
        self.armed = False
        self.stopped_thread: Optional[gdb.InferiorThread] = None

    def stop(self) -> bool:
        if not self.armed:
            return False
        self.stopped_thread = gdb.selected_thread()
        return True


class _PendingCallBreakpoint(_SafePointBreakpoint):
    """Stops in our no-op pending call, PyCallable_Check(NULL); the target calls it too, never with NULL."""

    def __init__(self) -> None:
        super().__init__("PyCallable_Check", "pending-call")
        self.consumed_unarmed = 0  # our no-op ran while we could not stop there

    def stop(self) -> bool:
        try:
            if int(gdb.parse_and_eval("$rdi")) != 0:
                return False
        except gdb.error:
            return False
        if not self.armed:
            self.consumed_unarmed += 1
            return False
        return super().stop()


def _require_x86_64(command: str) -> None:
    arch = gdb.selected_frame().architecture().name()
    if "x86-64" not in arch:
        raise gdb.GdbError("%s: gdb-memleak injects into x86-64 targets only; this one is %s" % (command, arch))


class _Calls:
    """Calls into the target made by hand, at function entries only.

    gdb's own `call` saves and restores the whole register file, including the
    x86 extended (vector) state; gdb 13 cannot write that state back on CPUs with
    AMX ("Couldn't write extended state status: Bad address"), and the target then
    dies.  At a function's entry the SysV ABI makes every vector register dead
    (caller-saved, and none of our stops takes float arguments), so saving and
    restoring the general registers is all a call needs.  The call returns to the
    program's entry point, where nothing else ever runs, and stops there.
    """

    ARGS = ("rdi", "rsi", "rdx", "rcx", "r8", "r9")
    SAVED = ARGS + ("rax", "rbx", "rbp", "rsp", "r10", "r11", "r12", "r13", "r14", "r15", "eflags", "orig_rax", "rip")
    RED_ZONE = 128

    def __init__(self, version: tuple[int, int], command: str):
        bytes_type = "PyBytes" if version[0] >= 3 else "PyString"
        self.as_string = bytes_type + "_AsString"
        self.size = bytes_type + "_Size"
        # Raw memory: no GIL-state or heap-object side effects; 2.7 has no PyMem_Raw*.
        self.raw_malloc, self.raw_free = ("PyMem_RawMalloc", "PyMem_RawFree") if version >= (3, 4) else ("PyMem_Malloc", "PyMem_Free")
        self.command = command
        self.version = version
        self.return_address = _entry_point(command)
        self.addresses: dict[str, int] = {}
        self.errno_addresses: dict[int, Optional[int]] = {}  # per thread (gdb's global number)
        self.gone = False  # the target exited: no cleanup call can be made

    def cleanup(self, function: str, *args: int) -> None:
        """A call that frees what an earlier one made; pointless, and impossible, once the target is gone."""
        if not self.gone:
            self.call(function, *args, ret="void")

    def address(self, function: str) -> int:
        if function not in self.addresses:
            address = inf.minimal_symbol_address(function)
            if address is None:
                raise gdb.GdbError("%s: the target has no %s()" % (self.command, function))
            self.addresses[function] = address
        return self.addresses[function]

    def call(self, function: str, *args: int, ret: str = "long") -> int:
        """Call `function(*args)` on the selected thread, which must be stopped at a function entry.

        The thread's errno is put back afterwards: the code we stopped may have set it
        on purpose (CPython sets errno = 0 before releasing the GIL around readdir()),
        and our calls (madvise, an import that fails) would leave theirs."""
        thread = gdb.selected_thread()
        errno_at = self._errno_address(thread) if thread is not None else None
        errno = gdb.selected_inferior().read_memory(errno_at, 4).tobytes() if errno_at else None
        value = self._call(function, *args, ret=ret)
        if errno_at and not self.gone:
            gdb.selected_inferior().write_memory(errno_at, errno)
        return value

    def _errno_address(self, thread: gdb.InferiorThread) -> Optional[int]:
        if thread.global_num not in self.errno_addresses:
            self.errno_addresses[thread.global_num] = None
            if inf.minimal_symbol_address("__errno_location") is not None:
                self.errno_addresses[thread.global_num] = self._call("__errno_location") or None
        return self.errno_addresses[thread.global_num]

    def _call(self, function: str, *args: int, ret: str = "long") -> int:
        if len(args) > len(self.ARGS):
            raise ValueError("too many arguments")
        target = gdb.selected_inferior()
        thread = gdb.selected_thread()
        frame = gdb.newest_frame()
        frame.select()  # registers are only writable in the innermost frame
        saved = {name: int(frame.read_register(name)) for name in self.SAVED}
        # Below the red zone, 16-byte aligned, then the return address: as after a `call`.
        sp = ((saved["rsp"] - self.RED_ZONE - 64) & ~0xF) - 8
        target.write_memory(sp, struct.pack("<Q", self.return_address))
        for name, value in zip(self.ARGS, args):
            _set_register(name, value)
        _set_register("rax", 0)  # no vector arguments, for variadic callees
        _set_register("orig_rax", -1)  # not in a system call: no restart on resume
        _set_register("rsp", sp)
        _set_register("rip", self.address(function))
        returned = gdb.Breakpoint("*%d" % self.return_address, internal=True)
        returned.silent = True
        try:
            while True:
                # Whatever else stops the target meanwhile (a signal, Ctrl-C), the call
                # is in flight and must finish: continue until it returns.
                gdb.execute("continue", to_string=True)
                if target.pid == 0 or not thread.is_valid():
                    self.gone = True
                    raise gdb.GdbError("%s: the target exited during a call to %s()" % (self.command, function))
                if gdb.selected_thread() == thread:
                    frame = gdb.newest_frame()
                    if frame.pc() == self.return_address and int(frame.read_register("rsp")) == sp + 8:
                        break
        finally:
            if returned.is_valid():
                returned.delete()
        thread.switch()
        frame = gdb.newest_frame()
        frame.select()
        value = int(frame.read_register("rax"))
        # Only the registers the call changed are written back: each write is a gdb command.
        now = {name: int(frame.read_register(name)) for name in self.SAVED}
        for name, saved_value in saved.items():
            if now[name] != saved_value:
                _set_register(name, saved_value)
        if ret == "int":
            value &= 0xFFFFFFFF
            return value - (1 << 32) if value >= 1 << 31 else value
        return 0 if ret == "void" else value


def _set_register(name: str, value: int) -> None:
    gdb.execute("set var $%s = %d" % (name, value), to_string=True)


def _entry_point(command: str) -> int:
    """The program's entry point (_start): code that runs once, at exec, and never again."""
    text = gdb.execute("info files", to_string=True)
    match = re.search(r"Entry point: (0x[0-9a-f]+)", text)
    if match is None:
        raise gdb.GdbError("%s: cannot find the target's entry point" % command)
    return int(match.group(1), 16)


@dataclass
class _SavedGdbState:
    """What we change in gdb's settings, to put back exactly as it was."""

    thread: Optional[gdb.InferiorThread] = None
    frame_level: int = 0
    disabled: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    sigint: str = ""

    SETTINGS = ("scheduler-locking", "print thread-events", "unwindonsignal")

    def save(self) -> None:
        self.thread = gdb.selected_thread()
        try:
            self.frame_level = gdb.selected_frame().level()
        except gdb.error:
            self.frame_level = 0
        for name in self.SETTINGS:
            self.settings[name] = gdb.parameter(name)
        self.sigint = _signal_handling("SIGINT")
        for bp in gdb.breakpoints():
            if bp.enabled and not isinstance(bp, _SafePointBreakpoint):
                self.disabled.append(bp)
        for bp in self.disabled:
            bp.enabled = False
        gdb.execute("set scheduler-locking replay", to_string=True)
        gdb.execute("set print thread-events off", to_string=True)
        # Never unwind a call that was interrupted: that corrupted targets (field notes).
        gdb.execute("set unwindonsignal off", to_string=True)

    def restore(self) -> None:
        for bp in self.disabled:
            if bp.is_valid():
                bp.enabled = True
        for name, value in self.settings.items():
            if isinstance(value, bool):
                value = "on" if value else "off"
            try:
                gdb.execute("set %s %s" % (name, value), to_string=True)
            except gdb.error:
                pass
        if self.sigint:
            gdb.execute("handle SIGINT " + self.sigint, to_string=True)
        if self.thread is not None and self.thread.is_valid():
            self.thread.switch()
            try:
                frame = gdb.newest_frame()
                for _ in range(self.frame_level):
                    frame = frame.older() or frame
                frame.select()
            except gdb.error:
                pass


def _signal_handling(name: str) -> str:
    """'stop print nopass'-style words for a signal's current gdb handling."""
    text = gdb.execute("info signals " + name, to_string=True)
    for line in text.splitlines():
        words = line.split()
        if words and words[0] == name and len(words) >= 4:
            stop, printed, passed = (w == "Yes" for w in words[1:4])
            return " ".join(
                [
                    "stop" if stop else "nostop",
                    "print" if printed else "noprint",
                    "pass" if passed else "nopass",
                ]
            )
    return ""


def _describe_main_thread(main_tid: int) -> str:
    """Where the main thread is, for the timeout message: C function and Python line."""
    for thread in gdb.selected_inferior().threads():
        if thread.ptid[1] != main_tid:
            continue
        thread.switch()
        try:
            name = gdb.newest_frame().name() or "??"
        except gdb.error:
            name = "??"
        where = "in %s()" % name
        try:
            from .frames import python_stacks

            frames = python_stacks(1).get(main_tid) or []
            if frames:
                where += ", Python at %s:%d in %s" % (frames[0].file, frames[0].line, frames[0].function)
        except Exception:  # frames are a courtesy here; the error message matters
            pass
        return where
    return "gone"


# Functions every Python thread enters often, through pointers (so never inlined):
# at their entry a short call to Py_AddPendingCall is harmless.
QUEUE_POINTS = ("PyObject_Free", "PyObject_GenericGetAttr", "PyType_GenericAlloc")


# Blocking system calls that CPython (3.5+, PEP 475) retries after EINTR, having
# first run its signal handlers and pending calls: waking one of these with EINTR
# is what a signal with a Python handler (such as SIGINT's) does anyway.
# x86-64 numbers. pause and rt_sigsuspend are left out: signal.pause() returns.
RETRIED_SYSCALLS = {
    0: "read", 7: "poll", 23: "select", 35: "nanosleep", 43: "accept", 45: "recvfrom",
    47: "recvmsg", 61: "wait4", 128: "rt_sigtimedwait", 202: "futex", 230: "clock_nanosleep",
    232: "epoll_wait", 247: "waitid", 270: "pselect6", 271: "ppoll", 281: "epoll_pwait", 288: "accept4",
}
# The kernel's "interrupted, restart me" codes that become EINTR when a handler runs
# (ERESTARTSYS, ERESTARTNOHAND, ERESTART_RESTARTBLOCK; not ERESTARTNOINTR).
RESTART_CODES = (-512, -514, -516)
EINTR = 4


def _wake_blocked_main_thread(pid: int, version: tuple[int, int]) -> Optional[str]:
    """If the main thread waits in a system call CPython retries, make that call return EINTR.

    An idle service's main thread sits in such a call (Event.wait, join, select,
    sleep) with the GIL released, and no thread may ever reach a safe point on
    its own.  Interrupted, CPython runs its pending calls (ours among them) and
    signal handlers, then waits again: the target cannot tell this from a signal.
    Returns the system call's name, or None when the main thread was left alone.
    """
    if version < (3, 5):  # before PEP 475 an interrupted sleep returned early
        return None
    for thread in gdb.selected_inferior().threads():
        if thread.ptid[1] != pid:
            continue
        thread.switch()
        frame = gdb.newest_frame()
        frame.select()
        number = int(frame.read_register("orig_rax"))
        status = int(frame.read_register("rax"))
        if number not in RETRIED_SYSCALLS or status not in RESTART_CODES:
            return None
        _set_register("rax", -EINTR)
        _set_register("orig_rax", -1)  # no restart: the call returns EINTR
        return RETRIED_SYSCALLS[number]
    return None


def _run_to_safe_point(pid: int, timeout: float, calls: _Calls, command: str) -> SafePoint:
    """Let the target run until one of its threads is at a safe point; stop it there.

    Queuing the pending call is itself a call, so it too waits for a function
    entry (QUEUE_POINTS) instead of running wherever the target was stopped.
    A main thread blocked in a system call is woken first (see
    _wake_blocked_main_thread): otherwise an idle service never gets there.
    """
    pending = _PendingCallBreakpoint()
    release = _SafePointBreakpoint("PyEval_SaveThread", "gil-release")
    queue = [_SafePointBreakpoint(f, "queue") for f in QUEUE_POINTS if inf.minimal_symbol_address(f) is not None]
    started = time.monotonic()

    def arm(on: bool) -> None:
        release.armed = on
        pending.armed = on and queued
        for bp in queue:
            bp.armed = on and not queued

    queued = False
    _wake_blocked_main_thread(pid, calls.version)
    try:
        while True:
            arm(True)
            stop = _continue(pid, timeout - (time.monotonic() - started), (pending, release) + tuple(queue), command)
            arm(False)
            if stop is None:
                raise gdb.GdbError(
                    "%s: no safe point within %g s: the main thread is %s and no thread released the GIL; "
                    "nothing was run in the target (try again, or raise --timeout)"
                    % (command, timeout, _describe_main_thread(pid))
                )
            bp, thread = stop
            bp.stopped_thread = None
            thread.switch()
            if bp.kind == "queue":
                # Queue PyCallable_Check(NULL): it returns 0, so the pending call is a no-op.
                pending.consumed_unarmed = 0
                status = calls.call("Py_AddPendingCall", calls.address("PyCallable_Check"), 0, ret="int")
                if status == 0 and pending.consumed_unarmed:  # it already ran, during the call itself
                    status = calls.call("Py_AddPendingCall", calls.address("PyCallable_Check"), 0, ret="int")
                queued = status == 0  # a full queue (-1): wait for a GIL release only
                for q in queue:
                    q.delete()
                queue = []
                continue
            # A thread about to release the GIL may have an exception set; our code
            # would clobber it. Let it go and wait for another safe point.
            if bp.kind == "gil-release" and calls.call("PyErr_Occurred") != 0:
                continue
            return SafePoint(bp.kind, thread.num)
    finally:
        for bp in [pending, release] + queue:
            if bp.is_valid():
                bp.delete()


def _continue(pid: int, remaining: float, bps: tuple, command: str):
    """One `continue`, cut short by SIGINT when `remaining` runs out. Returns (bp, thread) or None."""
    if remaining <= 0:
        return None
    fired = _continue_until(pid, remaining, command, "while waiting for a safe point")
    for bp in bps:
        if bp.stopped_thread is not None:
            return bp, bp.stopped_thread
    if fired:
        return None
    raise gdb.GdbError("%s: interrupted before a safe point was reached; nothing was run in the target" % command)


def _continue_until(pid: int, seconds: float, command: str, during: str) -> bool:
    """`continue`, stopped by a SIGINT of ours after `seconds`; True if ours stopped it.

    Anything else may stop it first: a breakpoint, Ctrl-C (also a SIGINT, sent by
    gdb), a signal gdb stops on.  Raises if the target exits meanwhile.
    """
    gdb.execute("handle SIGINT stop print nopass", to_string=True)  # noprint would imply nostop
    fired = threading.Event()

    def interrupt() -> None:
        fired.set()
        try:
            os.kill(pid, signal.SIGINT)  # gdb catches it; `nopass` keeps it from the target
        except OSError:
            pass

    timer = threading.Timer(seconds, interrupt)
    timer.start()
    try:
        gdb.execute("continue", to_string=True)
    except gdb.error as e:
        raise gdb.GdbError("%s: the target stopped running: %s" % (command, e))
    finally:
        timer.cancel()
        # A SIGINT sent just as the target stopped may still be on its way: from now
        # on it must not stop the target in the middle of an inferior call.
        gdb.execute("handle SIGINT nostop noprint nopass", to_string=True)
    target = gdb.selected_inferior()
    if target.pid == 0 or not target.threads():
        raise gdb.GdbError("%s: the target exited %s" % (command, during))
    return fired.is_set()


def let_run(seconds: float, command: str) -> tuple[float, bool]:
    """Let the stopped target run freely for `seconds`, then stop it again.

    Returns (seconds it ran, whether it stopped early: Ctrl-C, or a signal gdb
    stops on).  The user's breakpoints are off meanwhile, as during a command.
    """
    target = inf.require_live_stopped(command)
    saved = _SavedGdbState()
    saved.save()
    started = time.monotonic()
    try:
        fired = _continue_until(target.pid, seconds, command, "during the watch window")
        return time.monotonic() - started, not fired
    finally:
        saved.restore()


def _execute(source: Optional[str], compiled: Optional[bytes], calls: _Calls, command: str) -> bytes:
    """Run the payload in fresh globals; return the bytes it left in RESULT_NAME.

    `compiled` (marshalled code from the target's own interpreter binary) runs with
    PyMarshal_ReadObjectFromString + PyEval_EvalCode: nothing is compiled in the
    target.  Otherwise `source` runs with PyRun_StringFlags.
    """
    target = gdb.selected_inferior()
    # Names first, then the code: both travel in raw memory (not Python objects, so
    # the payload does not see them on the heap), freed in the same call sequence.
    names = RESULT_NAME.encode("ascii") + b"\0" + b"__builtins__\0"
    result_name, builtins_name, code_at = 0, len(RESULT_NAME) + 1, len(names)
    code = compiled if compiled is not None else source.encode("utf-8") + b"\0"
    data = names + code
    buffer = calls.call(calls.raw_malloc, len(data))
    if buffer == 0:
        raise gdb.GdbError("%s: the target could not allocate %d bytes for the payload" % (command, len(data)))
    try:
        target.write_memory(buffer, data)
        namespace = calls.call("PyDict_New")
        if namespace == 0:
            calls.call("PyErr_Clear", ret="void")
            raise gdb.GdbError("%s: the target could not allocate a dict for the payload" % command)
        try:
            # Fresh globals need __builtins__: PyRun_String adds it only from 3.8 on, and
            # PyEval_EvalCode before 3.10 would make up a dict holding only None. Those
            # of the frame the safe point is in (borrowed; the dict takes its own reference).
            builtins = calls.call("PyEval_GetBuiltins")
            if builtins == 0 or calls.call("PyDict_SetItemString", namespace, buffer + builtins_name, builtins, ret="int") != 0:
                calls.call("PyErr_Clear", ret="void")
                raise gdb.GdbError("%s: the target could not give the payload its builtins" % command)
            if compiled is not None:
                code_object = calls.call("PyMarshal_ReadObjectFromString", buffer + code_at, len(compiled))
                if code_object == 0:
                    calls.call("PyErr_Clear", ret="void")
                    raise gdb.GdbError("%s: the target could not load the payload's code (the target is unchanged)" % command)
                try:
                    returned = calls.call("PyEval_EvalCode", code_object, namespace, namespace)
                finally:
                    calls.cleanup("Py_DecRef", code_object)
            else:
                returned = calls.call("PyRun_StringFlags", buffer + code_at, PY_FILE_INPUT, namespace, namespace, 0)
            if returned == 0:
                calls.call("PyErr_Clear", ret="void")
                raise gdb.GdbError("%s: the payload failed before it could report (the target is unchanged)" % command)
            calls.call("Py_DecRef", returned, ret="void")
            result = calls.call("PyDict_GetItemString", namespace, buffer + result_name)
            if result == 0:
                raise gdb.GdbError("%s: the payload left no result" % command)
            pointer = calls.call(calls.as_string, result)
            size = calls.call(calls.size, result)
            return bytes(target.read_memory(pointer, size))
        finally:
            calls.cleanup("PyDict_Clear", namespace)
            calls.cleanup("Py_DecRef", namespace)
    finally:
        calls.cleanup(calls.raw_free, buffer)


def _drop_new_text_pages(calls: _Calls, pid: int, before: Optional[residency.TextPages]) -> None:
    """madvise(MADV_DONTNEED) the program-text pages that became resident during the command (see residency)."""
    if before is None or calls.gone or inf.minimal_symbol_address("madvise") is None:
        return
    # The page our calls return to holds a breakpoint while a call runs: never touched.
    keep = {calls.return_address // residency.PAGE}
    # Only this thread runs from reading the page map to the last madvise (a system
    # call that takes no lock, so holding the others cannot deadlock it).
    locking = gdb.parameter("scheduler-locking")
    gdb.execute("set scheduler-locking on", to_string=True)
    try:
        for address, length in residency.pages_to_drop(pid, before, keep):
            calls.cleanup("madvise", address, length, residency.MADV_DONTNEED)
    finally:
        gdb.execute("set scheduler-locking %s" % locking, to_string=True)


# Compiles stdin to marshalled code, run by the target's own interpreter binary in a
# child process of gdb (-E -s -S: no environment, no site): Python 2.7 and 3.x.
_COMPILER = (
    "import sys, marshal\n"
    "i, o = getattr(sys.stdin, 'buffer', sys.stdin), getattr(sys.stdout, 'buffer', sys.stdout)\n"
    "code = compile(i.read().decode('utf-8'), '<string>', 'exec')\n"
    "o.write(('%d.%d\\n' % sys.version_info[:2]).encode('ascii') + marshal.dumps(code))\n"
)
_PYTHON_NAME = re.compile(r"^python\d*(\.\d+)?[a-z]*$")


def _precompiled(source: str, pid: int, version: tuple[int, int]) -> Optional[bytes]:
    """The payload compiled and marshalled by the target's own interpreter, or None.

    Compiling in the target leaves it bigger (pymalloc arenas kept by survivors of
    the compiler: 0.5-4 MB); loading marshalled code leaves nothing.  The bytecode
    must come from the very interpreter the target runs: its executable, started
    through /proc/PID/exe (which works across mount namespaces), and only when it
    is a python binary of the target's version.  Anything else: None, and the
    source is compiled in the target as before.
    """
    exe = "/proc/%d/exe" % pid
    try:
        name = os.path.basename(os.readlink(exe)).replace(" (deleted)", "")
    except OSError:
        return None
    if not _PYTHON_NAME.match(name):  # an embedding program: never run it
        return None
    try:
        proc = subprocess.run(
            [exe, "-E", "-s", "-S", "-c", _COMPILER],
            input=source.encode("utf-8"),
            capture_output=True,
            timeout=30,
            cwd="/",
            env={},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    head, _, code = proc.stdout.partition(b"\n")
    if proc.returncode != 0 or head != ("%d.%d" % version).encode("ascii") or not code:
        return None
    return code


def run_payload(
    name: str,
    args: dict[str, Any],
    *,
    command: str,
    timeout: float,
    tool_paths: Optional[list[str]] = None,
    route_allocations: bool = True,
) -> PayloadResult:
    """Run payload `name` in the target with `args`; return its result dict.

    `route_allocations`: keep the payload's temporaries out of pymalloc (allocator.py).
    Pass False for a payload that installs or removes allocator hooks (tracemalloc:
    they would wrap, or later restore, the routing) or that leaves many objects
    behind for the target to free later (each would be uncounted when freed).

    Raises gdb.GdbError with a one-line reason on every failure; a payload's own
    exception comes back with the target's traceback text.
    """
    return run_source(payload_source(name), args, command=command, timeout=timeout, tool_paths=tool_paths,
                      route_allocations=route_allocations)


def run_source(
    payload: str,
    args: dict[str, Any],
    *,
    command: str,
    timeout: float,
    tool_paths: Optional[list[str]] = None,
    route_allocations: bool = True,
) -> PayloadResult:
    """Run payload source text (defining gdb_memleak_payload) in the target; see run_payload."""
    target = inf.require_live_stopped(command)
    version = inf.require_python(command)
    if gdb.parameter("non-stop"):
        raise gdb.GdbError("%s: non-stop mode is not supported; use all-stop (set non-stop off before attaching)" % command)
    _require_x86_64(command)
    calls = _Calls(version, command)
    if "\0" in payload:
        raise gdb.GdbError("%s: the payload source contains a NUL character" % command)
    full = payload + "\n" + payload_source(RUNNER) + CALL_RUNNER % (RESULT_NAME, _py_literal(args), _py_literal(tool_paths or []))
    compiled = _precompiled(full, target.pid, version)
    source = None if compiled is not None else _statement_by_statement(full)
    text_before = residency.snapshot(target.pid)
    saved = _SavedGdbState()
    saved.save()
    try:
        safe_point = _run_to_safe_point(target.pid, timeout, calls, command)
        started = time.monotonic()
        routed = allocator.route_to_malloc(calls) if route_allocations else None
        try:
            raw = _execute(source, compiled, calls, command)
        finally:
            warning = allocator.restore(calls, routed)
            if warning:
                gdb.write("%s: warning: %s\n" % (command, warning), gdb.STDERR)
            allocator.give_back_free_memory(calls)
            _drop_new_text_pages(calls, target.pid, text_before)
        seconds = time.monotonic() - started
    finally:
        saved.restore()
    try:
        doc = json.loads(raw.decode("ascii"))
    except ValueError:
        raise gdb.GdbError("%s: the payload's answer was not JSON (%d bytes)" % (command, len(raw)))
    if not isinstance(doc, dict):
        raise gdb.GdbError("%s: the payload's answer was not a JSON object" % command)
    if "too_large" in doc:
        raise gdb.GdbError("%s: the payload's result was too large (%s bytes); it was dropped in the target" % (command, doc["too_large"]))
    if not doc.get("ok"):
        raise PayloadError(command, str(doc.get("error", "")))
    return PayloadResult(doc["result"], safe_point, seconds)


class PayloadError(gdb.GdbError):
    """A payload raised in the target: one line for gdb; the target's traceback is kept in `target_traceback`."""

    def __init__(self, command: str, target_traceback: str):
        self.target_traceback = target_traceback.rstrip()
        lines = self.target_traceback.splitlines() or ["unknown error"]
        message = "%s: the payload raised in the target: %s" % (command, lines[-1])
        frame = _TRACEBACK_FRAME.match(lines[-2]) if len(lines) >= 2 else None
        if frame is not None:
            message += " (raised in %s, line %s of the payload)" % (frame.group(3), frame.group(2))
        super().__init__(message)


_TRACEBACK_FRAME = re.compile(r"^\s*File (.*), line (\d+), in (.*)$")
