"""Run a payload inside the stopped target at a safe point and read its JSON back.

The target's main thread is brought to a safe point, where CPython itself would
run Python (inject/safepoint.py); there the payload runs through a handful of
calls made by a stub that puts the thread back by itself (inject/calls.py), so
that gdb may die at any instant without harm to the target.  The result comes
back as a bytes object that gdb reads from the target's memory: no files, no
sockets.  A call in flight is never abandoned; the timeout only applies while
the target runs towards a safe point.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from typing import Any, Optional

import gdb

from . import allocator
from ..gdbside import inferior as inf
from ..host import residency
from . import landing, safepoint
from .calls import CALL_LIMIT, Caller, WaitedTooLong, continue_for
from .gdbstate import SavedGdbState
from .safepoint import SafePoint
from ..payloads import RUNNER, UNROUTED, payload_source

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
class PayloadResult:
    result: dict
    safe_point: SafePoint
    seconds: float  # time spent in the target's payload calls


def _thread(num: int) -> gdb.InferiorThread:
    for thread in gdb.selected_inferior().threads():
        if thread.num == num:
            return thread
    raise gdb.GdbError("the safe point's thread is gone")


def _require_x86_64(command: str) -> None:
    arch = gdb.selected_frame().architecture().name()
    if "x86-64" not in arch:
        raise gdb.GdbError("%s: gdb-memleak injects into x86-64 targets only; this one is %s" % (command, arch))


def let_run(seconds: float, command: str) -> tuple[float, bool]:
    """Let the stopped target run freely for `seconds`, then stop it again.

    Returns (seconds it ran, whether it stopped early: Ctrl-C, or a signal gdb
    stops on).  The user's breakpoints are off meanwhile, as during a command.
    """
    target = inf.require_live_stopped(command)
    stop_signal, why = landing.stop_signal(target.pid, [target.pid])
    if stop_signal is None:
        raise gdb.GdbError("%s: %s" % (command, why))
    saved = SavedGdbState()
    saved.save(landing.STOP_SIGNALS[stop_signal])
    started = time.monotonic()
    try:
        fired = continue_for(target.pid, seconds, stop_signal)
        if target.pid == 0 or not target.threads():
            raise gdb.GdbError("%s: the target exited during the watch window" % command)
        return time.monotonic() - started, not fired
    finally:
        saved.restore()


def _execute(source: Optional[str], compiled: Optional[bytes], calls: Caller, command: str) -> bytes:
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


def _tgkill(tgid: int, tid: int, signum: int) -> int:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(234, tgid, tid, signum)  # SYS_tgkill on x86-64


def _send_again(pid: int, signals: list, command: str) -> None:
    """Signals that reached the target's Python handlers while the payload ran in its main thread
    were held back (the runner's __gdb_memleak_hold_signals__); send them again, now that the
    thread is back in its own code, so the target handles them as it would have."""
    for signum in signals:
        if isinstance(signum, int) and 0 < signum < 65:
            # To the main thread itself, as the kernel would have picked it: a process-wide signal
            # sent while every thread is stopped may be taken by another thread, and then a main
            # thread that waits for good never runs the handler.
            if _tgkill(pid, pid, signum) != 0:
                continue
            gdb.write("%s: signal %d arrived while the payload ran; it was held and is sent again\n" % (command, signum),
                      gdb.STDERR)


def seccomp_filtered(pid: int) -> bool:
    """The target runs under a seccomp filter (or strict mode): which calls it forbids cannot be read, so
    the optional ones (malloc_trim, madvise) are not made.  A filter forbidding madvise killed a target
    with SIGSYS (issue 17)."""
    return landing.seccomp_mode(pid) != 0


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


def run_payload(name: str, args: dict[str, Any], *, command: str, timeout: float,
                tool_paths: Optional[list[str]] = None, route: bool = True, force: bool = False) -> PayloadResult:
    """Run payload `name` in the target with `args`; return its result dict.

    `route`: keep the payload's temporaries out of pymalloc (allocator.py).  Never for
    payloads that install or remove allocator hooks (UNROUTED: tracemalloc would wrap
    ours); callers pass False for one that leaves objects for the target to free later.
    `force`: run even in a target that opted out of remote code execution (PEP 768).

    Raises gdb.GdbError with a one-line reason on every failure; a payload's own
    exception comes back with the target's traceback text.
    """
    return run_source(payload_source(name), args, command=command, timeout=timeout, tool_paths=tool_paths,
                      route=route and name not in UNROUTED, force=force)


def run_source(payload: str, args: dict[str, Any], *, command: str, timeout: float,
               tool_paths: Optional[list[str]] = None, route: bool = True, force: bool = False) -> PayloadResult:
    """Run payload source text (defining gdb_memleak_payload) in the target; see run_payload."""
    target = inf.require_live_stopped(command)
    version = inf.require_python(command)
    opted_out = landing.remote_debug_opt_out(target.pid) if version >= (3, 14) else ""
    if opted_out and not force:
        raise gdb.GdbError("%s: the target opted out of remote code execution (%s, PEP 768); nothing was run in it "
                           "(--force runs the command anyway)" % (command, opted_out))
    if gdb.parameter("non-stop"):
        raise gdb.GdbError("%s: non-stop mode is not supported; use all-stop (set non-stop off before attaching)" % command)
    _require_x86_64(command)
    if "\0" in payload:
        raise gdb.GdbError("%s: the payload source contains a NUL character" % command)
    pid = target.pid
    calls = Caller(pid, version, command)
    calls.prepare([pid])
    full = payload + "\n" + payload_source(RUNNER) + CALL_RUNNER % (RESULT_NAME, _py_literal(args), _py_literal(tool_paths or []))
    compiled = _precompiled(full, pid, version)
    source = None if compiled is not None else _statement_by_statement(full)
    tidy = not seccomp_filtered(pid)
    text_before = residency.snapshot(pid) if tidy else None
    saved = SavedGdbState()
    saved.save(landing.STOP_SIGNALS[calls.signal])
    try:
        safe_point = safepoint.run_to_safe_point(calls, pid, timeout, command)
        _thread(safe_point.thread_num).switch()
        started = time.monotonic()
        routing = allocator.route_payload_thread(calls) if route else None
        try:
            raw = _execute(source, compiled, calls, command)
        except WaitedTooLong as e:
            raise gdb.GdbError("%s: the target's %s() did not return within %d s; it goes on in the target and "
                               "finishes by itself" % (command, e, CALL_LIMIT))
        finally:
            if not calls.gone and not calls.abandoned:
                warning = allocator.unroute(calls, routing)
                if warning:
                    gdb.write("%s: warning: %s\n" % (command, warning), gdb.STDERR)
                if tidy:
                    allocator.give_back_free_memory(calls)
                    _drop_new_text_pages(calls, pid, text_before)
                safepoint.back_to_safe_point(calls, safe_point, pid, command)
                calls.forget_padding()
        seconds = time.monotonic() - started
    finally:
        if not calls.gone:
            saved.restore()
    try:
        doc = json.loads(raw.decode("ascii"))
    except ValueError:
        raise gdb.GdbError("%s: the payload's answer was not JSON (%d bytes)" % (command, len(raw)))
    if not isinstance(doc, dict):
        raise gdb.GdbError("%s: the payload's answer was not a JSON object" % command)
    _send_again(pid, doc.get("signals") or [], command)
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
