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
* also refused: an atomic read-modify-write (a lock prefix, xchg with memory, cmpxchg,
  xadd: a lock's inlined fast path, whatever it is named); a call or jump through a GOT slot
  gdb cannot name (`call *disp(%rip)` of a -fno-plt build: its target could be a lock
  function; a slot elsewhere is data, a function pointer or a computed goto's table, called
  as through a register); `std` (the stub's callees assume the direction flag clear).
* the code the function jumps to outside its own range (GCC's `NAME.cold` part, nameless
  in a stripped file) is read too, in rounds of one child each, and judged the same way:
  a lock could be taken there and held in the part that is admitted.  Admitted: the
  function's own range and its `.cold` part, read whole, where that is known to be the
  function's: named by a symbol table (the file's, or its separate debug file's: the child
  is given gdb's debug-file-directory), else the unwind table's piece (host/eh_frame.py)
  that the function jumps into the middle of (a compiler jumps only within its function; a
  jump to a piece's start could be a tail call; the PLT's stubs are one piece).  Forky's
  static 3.14 keeps 1,196 bytes under its name and its opcodes' code in 84,389 bytes of
  `.cold`.

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
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO, Optional

from . import eh_frame, elf
from .children import Child

# Names of what takes or waits for a lock ("block" and "clock" are not: 3.8-3.10's
# PyFrame_BlockSetup, clock_gettime; nor "NAME_lock_held": 3.13+'s helpers that a critical
# section's caller runs, and a critical section is no lock in a build with the GIL; a
# free-threaded build's own, inlined, is an atomic and refuses the function).
LOCK_CALL = re.compile(r"(?<![bc])lock(?!_held)|mutex|sem_|semaphore|cond_|park|critical|acquire|futex|gilstate|restorethread|"
                       r"^syscall$", re.IGNORECASE)
WIDE_REGISTER = re.compile(r"%(?:[yz]mm\d|xmm(?:1[6-9]|2\d|3[01])\b|k[0-7]\b)")
SCAN_TIMEOUT = 20.0  # seconds all the children may take: a loaded machine, a 100 KB eval loop
COLD_TAIL = 4096  # bytes read past the last place jumped to: the code that runs on from there
COLD_SPAN = 1 << 20  # the most a round may read
COLD_ROUNDS = 4

# One instruction of `disassemble /r`: address, an optional <symbol+offset>, its bytes, its text.
_INSN = re.compile(r"^\s*(?:=> )?0x([0-9a-f]+)(?: <[^>]*>)?:\t((?:[0-9a-f]{2} )*[0-9a-f]{2})\s*\t(.*)$", re.MULTILINE)
_PREFIXES = frozenset(("lock", "rep", "repz", "repe", "repnz", "repne", "bnd", "notrack", "addr32", "data16", "cs",
                       "ds", "es", "fs", "gs", "ss", "xacquire", "xrelease", "rex", "rex.w"))
# A direct branch's target: "0x41f030 <sem_wait@plt>"; with "+N" (or none) the target has no name.
_TARGET = re.compile(r"^0x([0-9a-f]+)(?: <([^>]*)>)?$")
_ENDS_FLOW = ("jmp", "ret", "ud2", "hlt")
_SLOT = re.compile(r"#\s*0x([0-9a-f]+)")  # the address of a slot read relative to the PC, gdb's comment


@dataclass(frozen=True)
class EvalLoopCode:
    """One function's code in its file: [start, end) at the file's own addresses, and whether a
    thread may be stopped and called from anywhere in `spans` (its own range, and its named
    `.cold` part; `why` says why not).  `parts`: every range read (its own first, then where it
    jumps), with the SHA-256 of its bytes: the target's own copy is checked against them."""

    name: str
    start: int
    end: int
    interruptible: bool
    why: str
    parts: tuple[tuple[int, int, str], ...]
    spans: tuple[tuple[int, int], ...] = ()


@dataclass
class _Reading:
    """What the listings read so far say: the code's ranges and digests, why it is refused, and
    the places jumped to that no range covers yet."""

    parts: list[tuple[int, int, str]] = field(default_factory=list)
    why: list[str] = field(default_factory=list)
    targets: set[int] = field(default_factory=set)
    own: list[int] = field(default_factory=list)  # the parts that are the function's, by name
    got: Optional[list[tuple[int, int]]] = None  # the file's GOT sections; None: not known

    def covered(self, address: int) -> bool:
        return any(a <= address < b for a, b, _ in self.parts)


def read_listing(listing: str, reading: _Reading, entries: Optional[set[int]] = None) -> bool:
    """Add one `disassemble /r` listing to `reading`; False if it is not one whole run of code.
    `entries`: where the code of ours in it is entered (places jumped to); only what runs on from
    them is judged (the rest is other functions' code).  None: all of it is ours."""
    if not listing.rstrip().endswith("End of assembler dump."):
        return False
    insns: list[tuple[int, int, str]] = []
    code = bytearray()
    for match in _INSN.finditer(listing):
        at = int(match.group(1), 16)
        raw = bytes.fromhex(match.group(2))
        if insns and at != insns[-1][0] + insns[-1][1]:
            return False  # a hole: not one run of code
        insns.append((at, len(raw), match.group(3)))
        code += raw
    if not insns:
        return False
    start, end = insns[0][0], insns[-1][0] + insns[-1][1]
    reading.parts.append((start, end, hashlib.sha256(code).hexdigest()))
    live = entries if entries is not None else set(at for at, _, _ in insns)
    judged: set[int] = set()
    while True:  # until no jump back into the listing reaches more of it
        runs_on = False
        for at, _, text in insns:
            if at not in live and not runs_on:
                continue
            if at not in judged:
                judged.add(at)
                runs_on = _judge(text, reading) not in _ENDS_FLOW
            else:
                runs_on = _mnemonic(text) not in _ENDS_FLOW
        new = set(t for t in reading.targets if start <= t < end and t not in judged)
        if not new:
            break
        live = live | new
    if runs_on:
        reading.targets.add(end)  # it runs on past the listing
    return True


def _split(text: str) -> tuple[list[str], str, str]:
    """(prefixes, mnemonic, operands) of an instruction's text."""
    text = text.split("#", 1)[0] if "#" in text and "(%rip)" not in text else text
    words = text.split()
    prefixes = []
    while words and words[0].lower() in _PREFIXES:
        prefixes.append(words.pop(0).lower())
    if not words:
        return prefixes, "", ""
    return prefixes, words[0].lower(), " ".join(words[1:])


def _mnemonic(text: str) -> str:
    return _split(text)[1].rstrip("q")


def _judge(text: str, reading: _Reading) -> str:
    """Note what one instruction says against the code; its mnemonic."""
    prefixes, mnemonic, operands = _split(text)
    if "lock" in prefixes or mnemonic.startswith(("cmpxchg", "xadd")) or (mnemonic.startswith("xchg") and "(" in operands):
        reading.why.append("an atomic read-modify-write (%s)" % " ".join(prefixes + [mnemonic]))
    elif mnemonic == "std":
        reading.why.append("std (the direction flag set)")
    elif WIDE_REGISTER.search(operands):
        reading.why.append("256- or 512-bit registers, which the stub does not save")
    elif mnemonic.startswith(("call", "j")):
        _judge_branch(mnemonic, operands, reading)
    return mnemonic.rstrip("q")


def _judge_branch(mnemonic: str, operands: str, reading: _Reading) -> None:
    if operands.startswith("*"):
        # Through memory or a register: a type slot, a function pointer, a switch's table.  A
        # slot read relative to the PC in the GOT is a -fno-plt build's call: the import's own
        # name is needed ("X+N" names a neighbour).  Elsewhere it is data, called as through a
        # register: a function pointer, a computed goto's table.
        if "(%rip)" in operands:
            name = operands.split("<", 1)[1].rstrip(">") if "<" in operands else ""
            slot = _SLOT.search(operands)
            in_got = slot is None or reading.got is None or any(a <= int(slot.group(1), 16) < b for a, b in reading.got)
            if in_got and (not name or "+" in name):
                reading.why.append("a %s through a GOT slot gdb cannot name (%s)" % (mnemonic, operands))
            elif LOCK_CALL.search(name.split("@")[0].split("+")[0]):
                reading.why.append("a %s of %s" % (mnemonic, name))
        return
    match = _TARGET.match(operands)
    if match is None:
        reading.why.append("a %s gdb shows as %r" % (mnemonic, operands))
        return
    name = match.group(2) or ""
    if name and "+" not in name and "-" not in name and ".cold" not in name:
        # a function's entry: a call, or a tail call, of another function
        if LOCK_CALL.search(name.split("@")[0]):
            reading.why.append("a %s of %s" % (mnemonic, name))
    elif mnemonic.startswith("j"):
        reading.targets.add(int(match.group(1), 16))  # its own code, elsewhere (NAME.cold, or no name)


def verdict(name: str, reading: _Reading) -> EvalLoopCode:
    start, end, _ = reading.parts[0]
    why = "; ".join(sorted(set(reading.why))[:4])
    spans = tuple(reading.parts[i][:2] for i in [0] + reading.own)
    return EvalLoopCode(name, start, end, not why, why, tuple(reading.parts), spans)


def _gdb_argv(exe: str, path: str, what: str, debug_dirs: Optional[str]) -> list[str]:
    # -readnever: symbol tables only, no DWARF (a separate debug file's .symtab names the .cold
    # part: 77 ms for forky's 3.14, where reading its 21 MB of DWARF took 5.9 s).
    argv = [exe, "-batch", "-nx", "-readnever", "-iex", "set auto-load off", "-iex", "set debuginfod enabled off"]
    if debug_dirs:
        argv += ["-iex", "set debug-file-directory " + debug_dirs]
    return argv + ["-ex", "disassemble /r " + what, path]


GOT_SECTIONS = (".got", ".got.plt")
PLT_SECTIONS = (".plt", ".plt.sec", ".plt.got", ".iplt")  # one unwind-table piece for all their stubs


def _ranges_of(path: str, names: tuple[str, ...]) -> Optional[list[tuple[int, int]]]:
    """[start, end) of the file's sections of those names (none: an empty list); None if it
    cannot be read."""
    found = elf.sections(path)
    if found is None:
        return None
    return [(address, address + size) for name, (_, address, _, size) in found.items() if name in names]


class Scan:
    """The verdict on function `name` of the ELF file at `path`, from gdb children started now and
    answered later (done(), result()): one for the function, then one per round of the code it
    jumps to outside itself."""

    def __init__(self, path: str, name: str, debug_dirs: Optional[str] = None, exe: Optional[str] = None) -> None:
        self.name = name
        self._path = path
        self._debug_dirs = debug_dirs
        self._whole: Optional[str] = None  # the child reads a piece of the function, whole: its listing's header
        self._pieces: list[str] = []  # pieces still to be read whole
        self._deadline = time.monotonic() + SCAN_TIMEOUT
        # `exe`: the gdb running us, which starts with its own libraries and Python (a wrapper's
        # LD_LIBRARY_PATH, PYTHONHOME); else the one on PATH; none: no verdict, the caller does without
        self._exe = exe or shutil.which("gdb")
        self._env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": "/nonexistent"}
        if exe is not None:
            self._env.update((k, os.environ[k]) for k in ("LD_LIBRARY_PATH", "PYTHONHOME", "PYTHONPATH") if k in os.environ)
        self._child: Optional[Child] = None
        self._output: Optional[IO[bytes]] = None
        self._reading = _Reading(got=_ranges_of(path, GOT_SECTIONS))
        self._rounds = 0
        self._entries: set[int] = set()  # where the next round's code is entered
        self._sections = elf.code_sections(path) or []  # a round reads within one of them
        self._result: Optional[EvalLoopCode] = None
        self._start(name)

    def _start(self, what: str) -> None:
        if self._exe is None:
            return
        self._output = tempfile.TemporaryFile()
        # A small environment: another gdb's (PYTHONHOME of a gdb run through its loader) could stop
        # this gdb's Python from starting; C for a listing in one language.
        self._child = Child.start(_gdb_argv(self._exe, self._path, what, self._debug_dirs), None, self._output,
                                  self._env)
        if self._child is None:
            self._output.close()
            self._output = None

    def done(self) -> bool:
        """Answered, given up, or nothing to wait for.  Each listing is read once its child has
        ended (12 ms for Debian's python3.11), and the next round started: called as a continue's
        `until`, that is while the target runs."""
        while self._child is not None and (self._child.exited() or time.monotonic() >= self._deadline):
            self._next()
        return self._child is None

    def result(self) -> Optional[EvalLoopCode]:
        """The verdict, or None (no disassembler; a child that failed or took too long; code that
        jumps too far).  Waits for nothing: ends a child that still runs."""
        if self._child is not None:
            self.close()
        return self._result

    def close(self) -> None:
        """End the child, if any, and drop its output."""
        child, output, self._child, self._output = self._child, self._output, None, None
        if child is not None:
            child.end()
        if output is not None:
            output.close()

    def _next(self) -> None:
        """The child has ended or run out of time: read its listing, then start the next round."""
        child, output, self._child, self._output = self._child, self._output, None, None
        assert child is not None and output is not None
        if not child.exited() or time.monotonic() >= self._deadline:
            child.end()
            output.close()
            return
        with output:
            output.seek(0)
            listing = output.read().decode("ascii", "replace")
        first, whole, self._whole = not self._reading.parts, self._whole, None
        header = "for function %s:" % self.name if first else whole
        if header is not None and header not in listing:
            return
        if not read_listing(listing, self._reading, None if first or whole else self._entries):
            return
        if whole:
            self._reading.own.append(len(self._reading.parts) - 1)
        if first:
            self._pieces = self._own_pieces(listing)
        if self._pieces:
            what = self._pieces.pop(0)
            self._whole = "for function %s:" % what[1:-1] if what.startswith("'") else "from %s to %s:" % tuple(
                what.split(","))
            self._start(what)
            return
        self._next_round()

    def _own_pieces(self, listing: str) -> list[str]:
        """What of the function's own code lies outside its range, to be read whole: its `.cold`
        part where a symbol names it, else each piece of code (host/eh_frame.py) that it jumps
        into the middle of (a compiler jumps only within its function: another's entry would be a
        tail call)."""
        if re.search(r"<%s\.cold[+>]" % re.escape(self.name), listing):
            return ["'%s.cold'" % self.name]
        outside = [t for t in self._reading.targets if not self._reading.covered(t)]
        ranges = eh_frame.function_ranges(self._path) if outside else None
        stubs = _ranges_of(self._path, PLT_SECTIONS) if outside else None
        if ranges is None or stubs is None:
            return []
        pieces = set()
        for target in outside:
            piece = ranges.containing(target)
            if piece is not None and piece[0] < target and not any(a < piece[1] and piece[0] < b for a, b in stubs):
                pieces.add(piece)
        if len(pieces) > COLD_ROUNDS or any(b - a > COLD_SPAN for a, b in pieces):
            return []  # read from where it is jumped to, as in a stripped file with no table
        return ["0x%x,0x%x" % piece for piece in sorted(pieces)]

    def _next_round(self) -> None:
        """Read on from the places jumped to that no listing covers yet, or answer."""
        pending = sorted(t for t in self._reading.targets if not self._reading.covered(t))
        self._entries = set(pending)
        if not pending:
            self._result = verdict(self.name, self._reading)
            return
        low, high = pending[0], pending[-1] + COLD_TAIL
        section = next(((a, b) for a, b in self._sections if a <= low < b), None)
        self._rounds += 1
        if section is None or pending[-1] >= section[1] or self._rounds > COLD_ROUNDS or high - low > COLD_SPAN:
            return  # no verdict: its code jumps too far, or out of the code, to be read
        high = min(high, section[1])
        self._start("0x%x,0x%x" % (low, high))
