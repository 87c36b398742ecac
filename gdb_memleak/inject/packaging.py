"""Packaging a payload for the target: its source, the runner, the arguments as literals, and
marshalled code compiled by the target's own interpreter binary.  Pure: no gdb."""

from __future__ import annotations

import ast
import os
import re
import tempfile
import time
from typing import IO, Any, Optional

from ..host.children import Child
from ..payloads import QUIET, RUNNER, payload_source

RESULT_NAME = "__gdb_memleak_result__"
# In the payload's globals when gdb paused gc for it (gc_pause.py, evaluation.py; read by the quiet
# block's __gdb_memleak_enter__, which then leaves gc and the fork guard to gdb).
GC_PAUSED_NAME = "__gdb_memleak_gc_paused__"
# In the payload's globals when gdb loaded gc for a target that never imported it (gc_pause._import_gc):
# the module, which the quiet block gives its spec and puts in sys.modules.
GC_MADE_NAME = "__gdb_memleak_gc_made__"
# The quiet block's first statement defines it: the handler gdb makes from the loaded payload's code
# for its fork guard (fork_handler.py).
FORK_HANDLER_NAME = "__gdb_memleak_forked__"
# In the payload's globals when gdb marked its thread as tracing (evaluation._fill_globals; read by the quiet
# block, which then leaves the thread's trace and profile functions alone: they see nothing anyway).
UNTRACED_NAME = "__gdb_memleak_untraced__"
# In the payload's globals when it held signals and started a thread to send them again: a
# bytearray, gdb's byte (held_signals.claim sets it to 1 once gdb has read the answer, mark_sent to 2
# once gdb has sent them), whether that thread waits for the 2, then the signals; 0, that thread sends
# them (a gdb dead, or one that gave the call up), as it does when gdb goes before its 2.
CLAIM_NAME = "__gdb_memleak_signals_claim__"

# The runner (payloads/_gdb_memleak_runner.py) follows the payload's source, then
# this line: the three run as one module in a fresh globals dict, so the payload's
# text is never a Python object in the target (it travels in raw memory) and its
# line numbers stay those of its file.
# The trace and profile functions the quiet block switched off, back on (its __gdb_memleak_quiet__:
# sys, the import system, then the trace and the profile function), in the frame that runs it.
_QUIET_BACK = (
    "try:\n"
    "    if __gdb_memleak_quiet__[2] is not None:\n"
    "        __gdb_memleak_quiet__[0].settrace(__gdb_memleak_quiet__[2])\n"
    "finally:\n"
    "    if __gdb_memleak_quiet__[3] is not None:\n"
    "        __gdb_memleak_quiet__[0].setprofile(__gdb_memleak_quiet__[3])\n"
)


def _indented(text: str, levels: int) -> str:
    return "".join("    " * levels + line for line in text.splitlines(True))


# The runner's call, then the functions back on, in the module's own frame as the quiet block
# switched them off (_gdb_memleak_quiet.py says why).
CALL_RUNNER = "\ntry:\n    %s = __gdb_memleak_run__(%s, %s)\nfinally:\n" + _indented(_QUIET_BACK, 1)
# Run in the payload's namespace when its module raised before the runner could answer (a chunk's
# compile refused, an error in module-level code): what the quiet block changed, changed back.
# Names it lacks (the quiet block itself failed) mean nothing was changed.
UNDO_QUIET = ("try:\n    try:\n        __gdb_memleak_leave__(__gdb_memleak_state__)\n    finally:\n"
              + _indented(_QUIET_BACK, 2) + "except NameError:\n    pass\n")


def statement_by_statement(source: str) -> str:
    """`source` as a loop that compiles and runs it one top-level statement at a time.

    Compiling a 1,000-line module in one go leaves the target about 4 MB bigger
    (pymalloc arenas kept by a few survivors of the compiler); one statement at a
    time, about 0.5 MB (2026-11-27, 3.11).  Each statement keeps its line number:
    it is preceded by as many newlines as lines before it.  Source that gdb's
    Python cannot parse is sent whole.  The quiet block that full_source puts first
    and the runner's call it puts last stay as they are, around the loop: they
    switch the trace and profile functions off and on in the module's own frame.
    """
    quiet = payload_source(QUIET) + "\n"
    head, tail = "", ""
    call = "\ntry:\n    %s = __gdb_memleak_run__(" % RESULT_NAME
    if source.startswith(quiet) and call in source:
        cut = source.rindex(call)
        head, tail = quiet, source[cut:]
        source = "\n" * quiet.count("\n") + source[len(quiet):cut] + "\n"
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return head + source + tail
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
    return head + (
        "for __gdb_memleak_chunk__ in (%s,):\n"
        "    exec(compile(__gdb_memleak_chunk__, '<string>', 'exec'), globals())\n"
        "del __gdb_memleak_chunk__\n" % ", ".join(py_literal(chunk) for chunk in chunks)
    ) + tail


def py_literal(value: Any) -> str:
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
        return "[%s]" % ", ".join(py_literal(v) for v in value)
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s: %s" % (py_literal(str(k)), py_literal(v)) for k, v in value.items())
    raise TypeError("cannot send a %s to the target" % type(value).__name__)


# Lines of the sent source before the payload's first: the quiet block and its newline.
QUIET_LINES = payload_source(QUIET).count("\n") + 1


def full_source(payload: str, args: dict[str, Any], tool_paths: list[str]) -> str:
    """The quiet block, the payload, then the runner, then the line that runs it with `args`."""
    return (payload_source(QUIET) + "\n" + payload + "\n" + payload_source(RUNNER)
            + CALL_RUNNER % (RESULT_NAME, py_literal(args), py_literal(tool_paths)))


# Compiles stdin to marshalled code, run by the target's own interpreter binary in a
# child process of gdb (-E -s -S: no environment, no site): Python 2.7 and 3.x.
_COMPILER = (
    "import sys, marshal\n"
    "i, o = getattr(sys.stdin, 'buffer', sys.stdin), getattr(sys.stdout, 'buffer', sys.stdout)\n"
    "code = marshal.dumps(compile(i.read().decode('utf-8'), '<string>', 'exec'))\n"
    "o.write(('%d.%d %d\\n' % (sys.version_info[0], sys.version_info[1], len(code))).encode('ascii') + code)\n"
)
_PYTHON_NAME = re.compile(r"^python\d*(\.\d+)?[a-z]*$")
COMPILE_TIMEOUT = 30  # seconds


class Precompiling:
    """The payload compiled and marshalled by the target's own interpreter, in a child process
    started now and answered later: result() is the code, or None.

    Compiling in the target leaves it bigger (pymalloc arenas kept by survivors of
    the compiler: 0.5-4 MB); loading marshalled code leaves nothing.  The bytecode
    must come from the very interpreter the target runs: its executable, started
    through /proc/PID/exe (which works across mount namespaces), and only when it
    is a python binary of the target's version.  Anything else: None, and the
    source is compiled in the target as before.

    The child took 11-70 ms (pyenv 3.11 on a loaded 2-core machine, 2026-12-03), all of it
    in the stop while gdb waited for it; now the caller can let the target run until done().
    Its input and output are unlinked temporary files, not pipes: no thread of gdb's has to
    feed it (starting one cost 2-7 ms of the stop: Thread.start() waits for the new thread).
    """

    def __init__(self, source: str, pid: int, version: tuple[int, int]) -> None:
        self._version = version
        self._deadline = time.monotonic() + COMPILE_TIMEOUT
        self._output = tempfile.TemporaryFile()
        self._child = self._start("/proc/%d/exe" % pid, source.encode("utf-8"), self._output)

    @staticmethod
    def _start(exe: str, source: bytes, output: IO[bytes]) -> Optional[Child]:
        try:
            name = os.path.basename(os.readlink(exe)).replace(" (deleted)", "")
        except OSError:
            return None
        if not _PYTHON_NAME.match(name):  # an embedding program: never run it
            return None
        try:
            with tempfile.TemporaryFile() as given:
                given.write(source)
                given.seek(0)
                # Watched through a pidfd, never its pid (host/children.py says why).
                return Child.start([exe, "-E", "-s", "-S", "-c", _COMPILER], given, output, {})
        except OSError:
            return None

    def done(self) -> bool:
        """The child has answered, or given up, or there is none."""
        return self._child is None or self._child.exited() or time.monotonic() >= self._deadline

    def close(self) -> None:
        """End the child if it still runs, and close its output: a command that failed before
        result() leaves no process or file of gdb's behind (result() does this too)."""
        child, self._child = self._child, None
        if child is not None:
            child.end()
        self._output.close()

    def result(self) -> Optional[bytes]:
        """The marshalled code, or None; waits for the child if it has not answered yet."""
        child, self._child = self._child, None
        if child is None:
            self._output.close()
            return None
        if not child.wait(self._deadline - time.monotonic()):
            child.end()
            self._output.close()
            return None
        with self._output:
            self._output.seek(0)
            head, _, code = self._output.read().partition(b"\n")
        # Its exit status is not known (gdb's waitpid(-1) may have reaped it): the header says
        # whether the output is whole, the version and the length of the code.
        if head != ("%d.%d %d" % (self._version + (len(code),))).encode("ascii") or not code:
            return None
        return code

