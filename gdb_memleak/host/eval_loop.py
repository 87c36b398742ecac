"""Whether a thread may be interrupted anywhere in the eval loop's own code, read from its machine code.

inject/in_place.py queues the pending call from a thread stopped wherever it was, when
nothing there may hold a lock the call takes.  With debug info, the inlined blocks at the PC
say so.  Without it (Debian's python3.11, the common case in production), the eval loop's
machine code is read instead, and the whole function is admitted or refused:

* a lock is taken, at the bottom, by a call: to a C library primitive (pthread_mutex_lock,
  sem_wait, pthread_cond_wait...), to CPython's PyThread_acquire_lock, or to 3.13+'s
  PyMutex slow path, which an inlined PyMutex fast path calls when the lock is contended.
  One direct call or jump to such a name anywhere in the function refuses it.  A call to a
  function with no name (a static one, in a stripped file) is no lock held where the thread
  stands: CPython takes the pending-call lock and lets it go within one function
  (_PyEval_AddPendingCall, make_pending_calls), and its GIL helpers let their mutex go
  before they return.
* 256- and 512-bit registers (ymm, zmm, xmm16-31, AVX-512 masks): the stub saves the SSE
  state only (FXSAVE), so code that keeps values there is refused.

The disassembly is gdb's own, in a child process (`gdb -batch -readnever`, symbols only)
that runs while the target does: for Debian's python3.11 the eval loop is 12,746 lines,
0.49 s of the child's wall time (0.1 s of it the disassembly: what it would cost in a stop).
The verdict is kept for the gdb session, not on disk (a file left in a cache would have to be
told apart from the file of another build).  Pure: imports nothing of gdb.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Optional

# Names of what takes or waits for a lock ("block" and "clock" are not: 3.8-3.10's
# PyFrame_BlockSetup, clock_gettime).
LOCK_CALL = re.compile(r"(?<![bc])lock|mutex|sem_|semaphore|cond_|park|critical|acquire|futex|gilstate|restorethread|"
                       r"^syscall$", re.IGNORECASE)
WIDE_REGISTER = re.compile(r"%(?:[yz]mm\d|xmm(?:1[6-9]|2\d|3[01])\b|k[0-7]\b)")
SCAN_TIMEOUT = 20.0  # seconds the child may take: a loaded machine, a 100 KB eval loop

# A direct call or jump (a tail call, conditional or not) to a named function: "call   0x41f030
# <sem_wait@plt>"; with "+N" the name is only the nearest symbol before an unnamed target.
_BRANCH = re.compile(r"\t(?:call|j)[a-z]*\s+0x[0-9a-f]+ <([^>+]+)>$", re.MULTILINE)
_INSN = re.compile(r"^\s*0x([0-9a-f]+) <\+\d+>:\t((?:[0-9a-f]{2} )*[0-9a-f]{2})\s*\t", re.MULTILINE)


@dataclass(frozen=True)
class EvalLoopCode:
    """One function's code in its file: [start, end) at the file's own addresses, and whether a
    thread may be stopped and called from anywhere in it (`why` says why not)."""

    name: str
    start: int
    end: int
    interruptible: bool
    why: str
    sha256: str  # of the code's bytes: the target's own copy is checked against it


def verdict(name: str, listing: str) -> Optional[EvalLoopCode]:
    """The verdict on gdb's `disassemble /r NAME` output, or None if it is not a whole listing."""
    if not listing.rstrip().endswith("End of assembler dump.") or "for function %s:" % name not in listing:
        return None
    code = bytearray()
    start = end = None
    for insn in _INSN.finditer(listing):
        at = int(insn.group(1), 16)
        if end is not None and at != end:
            return None  # not one run of code
        raw = bytes.fromhex(insn.group(2))
        start = at if start is None else start
        end = at + len(raw)
        code += raw
    if start is None or end is None:
        return None
    locking = sorted(set(n for n in _BRANCH.findall(listing) if LOCK_CALL.search(n.split("@")[0])))
    if locking:
        why = "it calls %s" % ", ".join(locking)
    elif WIDE_REGISTER.search(listing):
        why = "it uses 256- or 512-bit registers, which the stub does not save"
    else:
        why = ""
    return EvalLoopCode(name, start, end, not why, why, hashlib.sha256(code).hexdigest())


class Scan:
    """The verdict on function `name` of the ELF file at `path`, from a gdb child started now and
    answered later (done(), result())."""

    def __init__(self, path: str, name: str) -> None:
        self.name = name
        self._deadline = time.monotonic() + SCAN_TIMEOUT
        self._proc: Optional[subprocess.Popen] = None
        self._output: Optional[IO[bytes]] = None
        self._result: Optional[EvalLoopCode] = None
        self._start(path)

    def _start(self, path: str) -> None:
        exe = shutil.which("gdb")
        if exe is None:
            return  # no disassembler: no verdict, and the caller does without
        self._output = tempfile.TemporaryFile()
        try:
            # A small environment: gdb's own (PYTHONHOME of a gdb run through its loader) could
            # stop this gdb's Python from starting; C for a listing in one language.
            self._proc = subprocess.Popen(
                [exe, "-batch", "-nx", "-readnever", "-iex", "set auto-load off", "-iex", "set debuginfod enabled off",
                 "-ex", "disassemble /r " + self.name, path],
                stdin=subprocess.DEVNULL, stdout=self._output, stderr=subprocess.DEVNULL, cwd="/",
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": "/nonexistent"})
        except (OSError, subprocess.SubprocessError):
            self._output.close()
            self._output = None

    def done(self) -> bool:
        """Answered, given up, or nothing to wait for.  Once the child has ended, its listing is read
        here (12 ms for Debian's python3.11): called as a continue's `until`, that is while the
        target runs."""
        if self._proc is not None and (self._proc.poll() is not None or time.monotonic() >= self._deadline):
            self._finish(read=True)
        return self._proc is None

    def result(self) -> Optional[EvalLoopCode]:
        """The verdict, or None (no disassembler; a child that failed or took too long).  Ends the
        child if it still runs."""
        self._finish(read=True)
        return self._result

    def close(self) -> None:
        """End the child, if any, and drop its output."""
        self._finish(read=False)

    def _finish(self, read: bool) -> None:
        proc, output, self._proc, self._output = self._proc, self._output, None, None
        if proc is None or output is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        with output:
            if read:
                output.seek(0)
                # The listing itself, not the exit status: a gdb that reaps its children with
                # waitpid(-1) leaves subprocess a status of 0 whatever it was.
                self._result = verdict(self.name, output.read().decode("ascii", "replace"))
