"""Where the call stubs go in the target, and which signal stops its threads: read from /proc only.

A stub (stub.py) needs executable memory that nothing else runs.  The end of a
loaded file's executable segment is padded up to the page size, and the kernel
maps that whole page executable: the bytes past the segment's end are mapped
but are no code of anyone's.  Measured 2026-12-01: 3.4 KB of such padding in
Debian's python3.11, 3.7 KB in pyenv's python3.x executables.  Writing a stub
there makes the page a private copy (4 KB of RSS); nothing else changes.

The stop signal: the stub and the pending call stop a thread with a signal,
so that a target whose gdb has died meanwhile just ignores it.  It must be one
whose default action is to ignore it (SIGURG, SIGWINCH), that the target does
not catch (its handler would run) and that the threads we stop do not block
(no stop would come).

Nothing here imports gdb.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Optional

from . import stub

PAGE = 4096
SIGURG, SIGWINCH = 23, 28
STOP_SIGNALS = {SIGURG: "SIGURG", SIGWINCH: "SIGWINCH"}
_PT_LOAD, _PF_X, _PF_W = 1, 1, 2
_MAPS = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ (\d+)\s*(.*)$")
# Two blocks (a thread runs one while gdb writes the next), the allocator hooks, then the start
# routine of the payload's own thread (stub.thread_entry).
ROUTING_AREA = 384
NEEDED = 2 * stub.MAX_BLOCK + ROUTING_AREA + stub.THREAD_AREA
# Fillers the linker pads with: zeros, or int3.
_FILLERS = (0x00, 0xCC)


@dataclass(frozen=True)
class Mapping:
    start: int
    end: int
    perms: str
    offset: int
    inode: int
    path: str


def read_maps(pid: int) -> list[Mapping]:
    mappings = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            m = _MAPS.match(line.rstrip("\n"))
            if m:
                mappings.append(Mapping(int(m.group(1), 16), int(m.group(2), 16), m.group(3), int(m.group(4), 16),
                                        int(m.group(5)), m.group(6)))
    return mappings


def _segment_end(elf: bytes, flag: int) -> Optional[tuple[int, int]]:
    """(lowest PT_LOAD vaddr, end vaddr of the PT_LOADs with `flag`) of a 64-bit little-endian ELF;
    for the executable flag, only segments wholly in the file (no .bss: the padding is after it)."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        return None
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    lowest, end = None, None
    for i in range(phnum):
        at = phoff + i * phentsize
        if at + 56 > len(elf):
            return None
        p_type, p_flags, _, p_vaddr, _, p_filesz, p_memsz = struct.unpack_from("<IIQQQQQ", elf, at)
        if p_type != _PT_LOAD:
            continue
        lowest = p_vaddr if lowest is None else min(lowest, p_vaddr)
        if p_flags & flag and (flag != _PF_X or p_filesz == p_memsz):
            end = p_vaddr + p_memsz if end is None else max(end, p_vaddr + p_memsz)
    if lowest is None or end is None:
        return None
    return lowest & ~(PAGE - 1), end


def _executable_segment_end(elf: bytes) -> Optional[tuple[int, int]]:
    """(lowest PT_LOAD vaddr, end vaddr of the executable PT_LOAD) of a 64-bit little-endian ELF."""
    return _segment_end(elf, _PF_X)


def _images(pid: int, maps: list[Mapping]) -> Iterable[tuple[Mapping, bytes]]:
    """Each loaded file's first mapping and the first page of the file (its ELF headers; b"" if unreadable)."""
    seen = set()
    for first in maps:
        if first.offset != 0 or not first.inode or first.inode in seen:
            continue
        seen.add(first.inode)
        try:
            with open("/proc/%d/map_files/%x-%x" % (pid, first.start, first.end), "rb") as f:
                yield first, f.read(PAGE)
        except OSError:
            yield first, b""


def padding_sites(pid: int) -> list[tuple[int, int, str]]:
    """(address, size, file) of the padding after each loaded file's executable segment, biggest first.

    The executable first: it is there in every process, embedded or not."""
    maps = read_maps(pid)
    sites = []
    exe_inode = None
    try:
        exe_inode = os.stat("/proc/%d/exe" % pid).st_ino
    except OSError:
        pass
    for first, head in _images(pid, maps):
        found = _executable_segment_end(head)
        if found is None:
            continue
        lowest, end_vaddr = found
        end = first.start - lowest + end_vaddr
        page_end = (end + PAGE - 1) & ~(PAGE - 1)
        start = (end + 15) & ~15
        covered = any(m.inode == first.inode and "x" in m.perms and m.start <= start and page_end <= m.end for m in maps)
        if covered and page_end - start >= NEEDED:
            sites.append((start, page_end - start, first.path, first.inode == exe_inode))
    sites.sort(key=lambda s: (not s[3], -s[1]))
    return [(a, n, p) for a, n, p, _ in sites]


def is_free_padding(data: bytes) -> bool:
    """Padding nobody uses: one filler byte throughout.

    Not one holding a stub of ours from an earlier session: that session's gdb died, and a
    thread may still be inside a call its stub made, to return into that code later."""
    return len(set(data)) == 1 and data[0] in _FILLERS


# A site a killed gdb left (occupancy.py) is taken back once nothing can still run it: no thread's
# registers point into it, nor any word on a thread's stack from its red zone up (a return address:
# a thread inside a call the stub made), nor any in the loaded files' writable data (the allocator
# hooks, which PyMem_SetAllocator copies into libpython's data and the stub's way out puts back),
# and the payload's own thread, if one was started from it, was seen there by gdb (its start address
# is on the heap until it gets there: a gdb killed before it saw it leaves the site for good).  A stray number that falls in the site's 2.6 KB keeps it: that costs only
# the site.  Anything that cannot be read keeps every site.
#
# How every block of stub.py starts: a first block (the two-byte nop, then lea rsp, [rsp-256]), a next
# block or a release with an epilogue (stub.ALIGNED_START; before 2026-12-06, mov rsp, rbx; sub rsp,
# imm32, which a target may still hold), a release without one (mov rax, [rbx-16]; test rax, rax).
# A session's first block goes in region 0; later ones alternate between the two regions, so either
# may hold any of them (a trial's 16 killed sessions left only the second kind, 2026-12-05).
_BLOCK_STARTS = (b"\x66\x90\x48\x8d\xa4\x24" + struct.pack("<i", -stub.RED_ZONE_SKIP), stub.ALIGNED_START,
                 b"\x48\x89\xdc\x48\x81\xec", b"\x48\x8b\x43\xf0\x48\x85\xc0")
_THREAD_AREA = 2 * stub.MAX_BLOCK + ROUTING_AREA
_WORD = struct.Struct("<Q")
_SCAN_LIMIT = 64 << 20  # bytes: past that, the check gives up (every site kept)
_RED_ZONE = 128


def holds_stub(data: bytes) -> bool:
    """The site's bytes are a stub of ours left by an earlier gdb, not free and not anyone else's."""
    return data.startswith(_BLOCK_STARTS) or data[stub.MAX_BLOCK:].startswith(_BLOCK_STARTS)


def thread_on_its_way(data: bytes) -> bool:
    """The site's thread area holds a start routine that gdb never saw a thread in: a thread may
    still be on its way there (its start address on the heap)."""
    area = data[_THREAD_AREA:_THREAD_AREA + stub.THREAD_AREA]
    if len(set(area[stub.THREAD_CODE:])) == 1:
        return False  # no routine was written there
    return _WORD.unpack_from(area, stub.THREAD_SEEN)[0] != 1


def filler(tail: bytes) -> int:
    """The byte to write back over a site taken back: the linker's, as found past what stubs use."""
    return tail[-1] if tail and tail[-1] in _FILLERS else 0


def _points_into(data: bytes, start: int, end: int) -> bool:
    """Some 8-aligned word of `data` is in [start, end).  bytes.find on four of the words' upper six
    bytes (not the two top zeros, on which it would skip little) keeps the scan at C speed: 35 ms
    for 11 sites over the 2.7 MB of a 200-thread target's stacks and data (2026-12-05)."""
    for high in {start >> 16, (end - 1) >> 16}:
        pattern = _WORD.pack(high << 16)[2:6]
        at = data.find(pattern)
        while at != -1:
            word = at - 2
            if word % 8 == 0 and start <= _WORD.unpack_from(data, word)[0] < end:
                return True
            at = data.find(pattern, at + 1)
    return False


def normal_stack(maps: list[Mapping], sp: int) -> bool:
    """`sp` is on a thread's own stack: the main thread's, or a mapping with glibc's guard page right
    below it.  Not an alternate signal stack or a coroutine's, which hide the thread's own stack."""
    below: Optional[Mapping] = None
    for m in maps:
        if m.start <= sp < m.end:
            return m.path == "[stack]" or (below is not None and below.end == m.start and below.perms == "---p")
        below = m
    return False


def _ranges(pid: int, maps: list[Mapping], stack_pointers: Iterable[int]) -> list[tuple[int, int]]:
    """Where to look: each stack from its red zone to its mapping's end, and the writable data of each
    loaded program or library as its ELF headers place it (.data, and .bss in the unnamed mapping after
    it), no further: mmap puts other anonymous memory right after it too, and other files' mappings
    (a service's mmap'd data file) can be gigabytes.  ValueError for a stack pointer in no mapping."""
    ranges = []
    for sp in stack_pointers:
        mapping = next((m for m in maps if m.start <= sp < m.end), None)
        if mapping is None:
            raise ValueError("a stack pointer in no mapping")
        ranges.append((max(mapping.start, (sp - _RED_ZONE) & ~7), mapping.end))
    for first, head in _images(pid, maps):
        if not head:
            raise ValueError("a loaded file that cannot be read")
        ranges += _data_ranges(maps, first, head)
    return ranges


def _data_ranges(maps: list[Mapping], first: Mapping, head: bytes) -> list[tuple[int, int]]:
    """The writable data of the file loaded at `first` (its ELF headers: `head`)."""
    found = _segment_end(head, _PF_W)
    if found is None:
        return []
    lowest, end = found
    base = first.start - lowest
    return [(m.start, min(m.end, (base + end + 7) & ~7)) for m in maps
            if m.perms == "rw-p" and (m.inode == first.inode or not m.path) and first.start <= m.start < base + end]


def image_data(pid: int, address: int) -> list[tuple[int, int]]:
    """The writable data (.data, and .bss in the unnamed mapping after it) of the loaded file whose
    mapping holds `address`; [] if it cannot be read."""
    try:
        maps = read_maps(pid)
    except OSError:
        return []
    owner = next((m for m in maps if m.start <= address < m.end and m.inode), None)
    if owner is None:
        return []
    return next((_data_ranges(maps, first, head) for first, head in _images(pid, maps)
                 if first.inode == owner.inode and head), [])


def referenced(pid: int, sites: list[tuple[int, int]], stack_pointers: Iterable[int]) -> set[int]:
    """The starts of those `sites` ([start, end) each) that some stack or some loaded file's data
    still points into; all of them when anything cannot be read."""
    every = {start for start, _ in sites}
    try:
        ranges = _ranges(pid, read_maps(pid), stack_pointers)
        if sum(high - low for low, high in ranges) > _SCAN_LIMIT:
            return every
        pieces = []  # each 8-aligned and a multiple of 8 long: joined, the words stay aligned
        with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
            for low, high in ranges:
                mem.seek(low)
                pieces.append(mem.read(high - low))
                if len(pieces[-1]) != high - low:  # the kernel stops at an unreadable page
                    return every
    except (OSError, ValueError, OverflowError):
        return every
    data = b"".join(pieces)
    return {start for start, end in sites if _points_into(data, start, end)}


def _mask(status: str, field: str) -> int:
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    return 0


def stop_signal(pid: int, tids: list[int]) -> tuple[Optional[int], str]:
    """(signal, "") to stop threads `tids` with, or (None, why none fits)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            process = f.read()
        blocked = 0
        for tid in tids:
            with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
                blocked |= _mask(f.read(), "SigBlk")
    except OSError as e:
        return None, "cannot read the target's signal masks (%s)" % e.strerror
    caught = _mask(process, "SigCgt")
    for signal in STOP_SIGNALS:
        bit = 1 << (signal - 1)
        if not (caught | blocked) & bit:
            return signal, ""
    return None, "the target catches or blocks both SIGURG and SIGWINCH, the signals gdb-memleak stops threads with"


def thread_blocks(pid: int, tid: int, signal: int) -> bool:
    """Thread `tid` blocks `signal` now (or cannot be read: taken as blocking)."""
    try:
        with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
            return bool(_mask(f.read(), "SigBlk") & (1 << (signal - 1)))
    except OSError:
        return True


def seccomp_mode(pid: int) -> int:
    """0: no seccomp; 1: strict; 2: a filter (whose rules /proc does not show)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Seccomp:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def namespace_pid(pid: int) -> int:
    """The process's pid in its own (innermost) PID namespace: what it calls itself, and
    what it puts in the siginfo of a signal it sends itself."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return pid


def _interpreter_options(argv: list[bytes]) -> tuple[list[bytes], bool]:
    """(-X options, whether -E or -I is given) of a python command line, before its script,
    -c or -m: what follows those belongs to the program.  As CPython's own option parser:
    an -X or -W that ends a group of flags (-bEX) takes the next argument as its value,
    and the long options (--check-hash-based-pycs MODE, --version ...) do not end the scan."""
    xoptions: list[bytes] = []
    no_environment = False
    i = 1
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith(b"-") or arg in (b"-", b"--"):
            break
        if arg.startswith(b"--"):
            i += 2 if arg == b"--check-hash-based-pycs" else 1
            continue
        for j, flag in enumerate(arg[1:].decode("latin-1"), 1):
            if flag in "cm":  # the rest is the program
                return xoptions, no_environment
            if flag in "XW":  # the rest of this argument, or else the next one, is the option's value
                value: Optional[bytes] = arg[j + 1:]
                if not value:
                    i += 1
                    value = argv[i] if i < len(argv) else None
                if flag == "X" and value is not None:
                    xoptions.append(value)
                break
            no_environment = no_environment or flag in "EI"
        i += 1
    return xoptions, no_environment


def remote_debug_opt_out(pid: int) -> str:
    """How a 3.14+ target opted out of remote code execution (PEP 768), or "".

    CPython reads both at start-up only, so the process's initial environment and
    command line are the truth: -X disable-remote-debug among the interpreter's own
    options, or PYTHON_DISABLE_REMOTE_DEBUG set to anything non-empty unless -E or -I
    made it ignore the environment (the underscore spelling of -X does nothing)."""
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            environ = f.read().split(b"\0")
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return ""
    xoptions, no_environment = _interpreter_options(argv)
    if b"disable-remote-debug" in xoptions:
        return "it runs with -X disable-remote-debug"
    for entry in environ:
        name, _, value = entry.partition(b"=")
        if name == b"PYTHON_DISABLE_REMOTE_DEBUG" and value and not no_environment:
            return "PYTHON_DISABLE_REMOTE_DEBUG is set"
    return ""
