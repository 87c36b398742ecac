"""x86-64 machine code that makes calls in the target and puts its thread back by itself.

Why: the target must survive gdb dying at any instant (SIGKILL, a closed
terminal, `timeout`).  A call made the usual way (gdb sets the registers, the
callee returns to a breakpoint, gdb writes the registers back) leaves the
thread on a wrong stack or at a breakpoint when gdb dies in between: measured
2026-12-01, the target died in 6 of 8 trials.  And a breakpoint, software or
hardware, outlives its tracer: the kernel keeps int3 in the text and keeps the
debug registers (both killed a target with SIGTRAP after `kill -9` of gdb, on
Linux 6.18, same day).

So the code written into the target does the whole round trip itself:

    save     every general register, the flags, errno and the x87/SSE state
             (FXSAVE) on the thread's own stack, below its red zone;
    calls    one or more function calls, their results kept on that stack;
    stop     tgkill(own thread, SIG): gdb, if alive, stops here and reads the
             results; SIG is one the target neither catches nor blocks and whose
             default action is to ignore it, so without gdb nothing happens;
    restore  errno, FXRSTOR, the registers and flags, then jump back.

gdb starts a block by writing only the thread's rip (one ptrace write, so
atomic), and may chain another block at the stop by writing rip again.  Every
other value lives in memory the thread reads only once rip points there.

The code goes in the padding at the end of a loaded file's executable segment:
mapped, executable, and never run by anything else.

Nothing here imports gdb: the layout is tested on its own.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Optional

from ..errors import ChannelError

SYS_TGKILL = 234
SYS_GETPID, SYS_GETTID = 39, 186
# Below the interrupted code's red zone (128 bytes) with room to spare.
RED_ZONE_SKIP = 256
FXSAVE_SIZE = 512

# The general registers in push order; the restore pops them in reverse.
PUSHED = ("rax", "rcx", "rdx", "rbx", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
_PUSH = {"rax": b"\x50", "rcx": b"\x51", "rdx": b"\x52", "rbx": b"\x53", "rbp": b"\x55", "rsi": b"\x56",
         "rdi": b"\x57", "r8": b"\x41\x50", "r9": b"\x41\x51", "r10": b"\x41\x52", "r11": b"\x41\x53",
         "r12": b"\x41\x54", "r13": b"\x41\x55", "r14": b"\x41\x56", "r15": b"\x41\x57"}
_POP = {name: bytes(code[:-1]) + bytes([code[-1] + 8]) for name, code in _PUSH.items()}
_MOVABS = {"rdi": b"\x48\xbf", "rsi": b"\x48\xbe", "rdx": b"\x48\xba", "rcx": b"\x48\xb9",
           "r8": b"\x49\xb8", "r9": b"\x49\xb9", "r11": b"\x49\xbb", "rax": b"\x48\xb8"}
_MOV32 = {"rdi": b"\xbf", "rsi": b"\xbe", "rdx": b"\xba", "rcx": b"\xb9", "r8": b"\x41\xb8", "r9": b"\x41\xb9",
          "r11": b"\x41\xbb", "rax": b"\xb8"}
ARGUMENT_REGISTERS = ("rdi", "rsi", "rdx", "rcx", "r8", "r9")

# The frame the save leaves, relative to rbx (= rsp after the pushes):
#   [rbx + 0 .. 8*15)      the pushed registers, r15 first (lowest address)
#   [rbx + 8*15]           rflags
#   [rbx - 8]              errno's value (low 32 bits)
#   [rbx - 16]             errno's address, 0 when unknown
#   [rbx - 24]             the park value: a first result kept for the epilogue
#   [rbx - 24 - 8*(i+1)]   result of call i
#   below that, 16-aligned: the FXSAVE area, then the callees' stack
RESULT_SLOTS = 6  # the most a block makes is 6 (gc_pause._drop, which splits more); the bound keeps the largest block in MAX_BLOCK
PARK_SLOT = -24
FRAME_BELOW_RBX = 24 + 8 * RESULT_SLOTS


def pushed_offset(register: str) -> int:
    """Where `register` was saved, relative to rbx: gdb patches it there to change what the restore puts back."""
    if register == "rflags":
        return 8 * len(PUSHED)
    return 8 * (len(PUSHED) - 1 - PUSHED.index(register))


def result_offset(index: int) -> int:
    """Where call `index`'s return value is kept, relative to rbx."""
    return PARK_SLOT - 8 * (index + 1)


class _ParkValue:
    """An argument that is the park value (see Block): e.g. PyGILState_Release(what Ensure returned)."""

    def __repr__(self) -> str:
        return "PARK_VALUE"


PARK_VALUE = _ParkValue()


@dataclass(frozen=True)
class ResultOf:
    """An epilogue's argument: what call `index` of the block returned.  A thread that goes back by
    itself after that block lets go of what it made; calls.Caller puts the value itself in the
    epilogues of the blocks after it (with_results)."""

    index: int


def with_results(calls: list[tuple[str, tuple]], results: list[int]) -> list[tuple[str, tuple]]:
    """`calls` with each ResultOf argument replaced by the result it names (0 if there is none)."""
    def value(a):
        return (results[a.index] if a.index < len(results) else 0) if isinstance(a, ResultOf) else a
    return [(name, tuple(value(a) for a in args)) for name, args in calls]

# mov reg, [rbx+disp32]: REX, opcode, ModRM (mod=10, rm=rbx).
_LOAD_FROM_RBX = {"rdi": b"\x48\x8b\xbb", "rsi": b"\x48\x8b\xb3", "rdx": b"\x48\x8b\x93", "rcx": b"\x48\x8b\x8b",
                  "r8": b"\x4c\x8b\x83", "r9": b"\x4c\x8b\x8b"}


@dataclass(frozen=True)
class Call:
    function: int
    args: tuple = ()  # ints, PARK_VALUE, or (in an epilogue) ResultOf


# Not a function: a Call to ADD_TO_INT adds args[1] (-128..127) to the C int at args[0], inside the
# block, so that a change and its undoing are made in one block (2.7-3.10's PyThreadState.tracing,
# which no exported function changes).  As a name, for Caller.call_many: ADD_TO_INT_NAME.
ADD_TO_INT, ADD_TO_INT_NAME = 0, "(add to an int)"


@dataclass(frozen=True)
class Block:
    code: bytes
    entry: int  # where gdb points rip to start it
    stop: int  # rip when the thread stops for gdb (just after the tgkill syscall)


def _imm64(value: int) -> bytes:
    return struct.pack("<Q", value & 0xFFFFFFFFFFFFFFFF)


def _movabs(register: str, value: int) -> bytes:
    if 0 <= value < 1 << 32:  # mov r32, imm32: zero-extended, 5 or 6 bytes in place of 10
        return _MOV32[register] + struct.pack("<I", value)
    return _MOVABS[register] + _imm64(value)


def _call(call: Call) -> bytes:
    if call.function == ADD_TO_INT:
        address, delta = call.args
        return _movabs("rax", address) + b"\x83\x00" + struct.pack("<b", delta)  # add dword [rax], imm8
    if len(call.args) > len(ARGUMENT_REGISTERS):
        raise ValueError("at most %d arguments" % len(ARGUMENT_REGISTERS))
    code = b""
    for register, value in zip(ARGUMENT_REGISTERS, call.args):
        if value is PARK_VALUE:
            code += _LOAD_FROM_RBX[register] + struct.pack("<i", PARK_SLOT)
        elif isinstance(value, ResultOf):
            code += _LOAD_FROM_RBX[register] + struct.pack("<i", result_offset(value.index))
        else:
            code += _movabs(register, value)
    code += _movabs("r11", call.function)
    code += b"\x31\xc0"  # xor eax, eax: no vector arguments, for variadic callees
    code += b"\x41\xff\xd3"  # call r11
    return code


def _store(offset: int) -> bytes:
    return b"\x48\x89\x83" + struct.pack("<i", offset)  # mov [rbx+disp32], rax


def _calls_and_stop(calls: list[Call], tgid: int, tid: int, signal: int, keep_first: bool) -> bytes:
    if not 0 < len(calls) <= RESULT_SLOTS:
        raise ValueError("a block makes 1 to %d calls" % RESULT_SLOTS)
    code = b""
    for index, call in enumerate(calls):
        code += _call(call) + _store(result_offset(index))
        if index == 0 and keep_first:
            code += _store(PARK_SLOT)
    # tgkill(getpid(), gettid(), signal): the ids as the target's own PID namespace sees them.
    code += b"\xb8" + struct.pack("<I", SYS_GETPID) + b"\x0f\x05"  # mov eax, SYS_getpid; syscall
    code += b"\x48\x89\xc7"  # mov rdi, rax
    code += b"\xb8" + struct.pack("<I", SYS_GETTID) + b"\x0f\x05"  # mov eax, SYS_gettid; syscall
    code += b"\x48\x89\xc6"  # mov rsi, rax
    code += _movabs("rdx", signal)
    code += b"\xb8" + struct.pack("<I", SYS_TGKILL)  # mov eax, SYS_tgkill
    code += b"\x0f\x05"  # syscall: gdb stops the thread here
    return code


def _align_stack() -> bytes:
    """rsp = rbx - frame - FXSAVE area, 16-aligned: FXSAVE at [rsp]; callees get rsp below it.

    Made in rax, then moved: rsp never points above the FXSAVE area once it is saved.  It
    did, for one instruction (`mov rsp, rbx` then `sub rsp`): a signal delivered there has
    its frame written by the kernel 128 bytes below rsp, over the saved state, and the
    FXRSTOR then loaded an x87/SSE control word of 0, every exception unmasked; the target's
    next inexact float operation raised SIGFPE (2026-12-06, under a 10 ms timer: 1 session of 30
    died, 2 of 15 with that instruction widened to a wait; none of 60 since).  rax is free
    wherever this runs."""
    return (
        b"\x48\x8d\x83" + struct.pack("<i", -(FRAME_BELOW_RBX + FXSAVE_SIZE))  # lea rax, [rbx-disp32]
        + b"\x48\x83\xe0\xf0"  # and rax, -16
        + b"\x48\x89\xc4"  # mov rsp, rax
    )


# How a next block, and a release with an epilogue, start (landing.holds_stub tells stubs by it).
ALIGNED_START = _align_stack()


# A system call's "interrupted" return: what the kernel leaves in rax when a signal with a
# handler came while the thread was stopped in a call it would otherwise restart.
EINTR = -4


def _pops() -> bytes:
    return b"".join(_POP[name] for name in reversed(PUSHED))


def _jump(resume: int, rax: Optional[int]) -> bytes:
    """The flags back from the frame (rsp at them), rsp back, then the jump to `resume`."""
    code = b"\x9d"  # popfq
    code += b"\x48\x8d\xa4\x24" + struct.pack("<i", RED_ZONE_SKIP)  # lea rsp, [rsp+256] (flags untouched)
    if rax is not None:
        code += b"\x48\xc7\xc0" + struct.pack("<i", rax)  # mov rax, imm32 (sign-extended; flags untouched)
    code += b"\xff\x25\x00\x00\x00\x00" + _imm64(resume)  # jmp [rip+0]
    return code


def _restore(resume: int, rax: Optional[int] = None, epilogue: tuple = (), interrupted: Optional[int] = None) -> bytes:
    """`interrupted`: for a thread parked in a system call the kernel restarts, where it goes
    back instead if a signal with a handler came as it resumed (see first_block)."""
    code = b""
    if epilogue:  # calls that must follow the park's, even if gdb is gone (PyGILState_Release)
        code += _align_stack() + b"\x48\x81\xec\x00\x01\x00\x00"
        for call in epilogue:
            code += _call(call)
    code += (
        b"\x48\x8b\x43\xf0"  # mov rax, [rbx-16]   errno's address
        b"\x48\x85\xc0"  # test rax, rax
        b"\x74\x05"  # jz +5
        b"\x8b\x4b\xf8"  # mov ecx, [rbx-8]
        b"\x89\x08"  # mov [rax], ecx
    )
    code += _align_stack() + b"\x48\x0f\xae\x0c\x24"  # fxrstor64 [rsp]
    code += b"\x48\x89\xdc"  # mov rsp, rbx
    code += _pops()
    if interrupted is None or rax is not None or interrupted == resume:
        return code + _jump(resume, rax)
    # rax as the save found it: EINTR if the kernel ran a handler instead of restarting the
    # call.  (The compare's flags are overwritten by popfq either way.)
    restart = _jump(resume, None)
    code += b"\x48\x83\xf8" + struct.pack("<b", EINTR)  # cmp rax, -4
    code += b"\x74" + struct.pack("<b", len(restart))  # je past the restart's way back
    return code + restart + _jump(interrupted, None)


def first_block(address: int, calls: list[Call], *, errno_location: int, resume: int,
                tgid: int, tid: int, signal: int, keep_first: bool = False, epilogue: tuple = (),
                interrupted: Optional[int] = None) -> Block:
    """The block that parks a thread: save, calls, stop, restore, jump to `resume`.

    It starts with a two-byte no-op: a thread stopped in a system call that the
    kernel restarts goes back two bytes (to the `syscall` instruction) when it
    resumes, so rip is written as address + 2 and lands on address + 0 then, with
    rax = the call's number, which the save keeps and the way back restarts.
    But if a signal with a handler is delivered as it resumes, the kernel runs the
    handler and makes the call return EINTR instead (unless SA_RESTART): rip stays
    address + 2 and rax is EINTR.  Restarting "system call -4" then returned ENOSYS
    to the thread's caller (time.sleep raised OSError; glibc's futex aborted the
    target), under a 10 ms timer in 3 of 3 trials (2026-12-05).  So the way back
    goes to `interrupted` (just after the `syscall`) with EINTR in that case: the call
    returns as the kernel would have made it return without us.
    """
    code = b"\x66\x90"  # nop
    code += b"\x48\x8d\xa4\x24" + struct.pack("<i", -RED_ZONE_SKIP)  # lea rsp, [rsp-256]
    code += b"\x9c"  # pushfq
    for name in PUSHED:
        code += _PUSH[name]
    code += b"\x48\x89\xe3"  # mov rbx, rsp
    code += _align_stack() + b"\x48\x0f\xae\x04\x24"  # fxsave64 [rsp]
    code += b"\x48\xc7\x43\xf0\x00\x00\x00\x00"  # mov qword [rbx-16], 0
    if errno_location:
        code += _movabs("r11", errno_location) + b"\x41\xff\xd3"  # call r11 (__errno_location)
        code += b"\x48\x89\x43\xf0"  # mov [rbx-16], rax
        code += b"\x8b\x08\x89\x4b\xf8"  # mov ecx, [rax]; mov [rbx-8], ecx
    code += b"\x48\x81\xec\x00\x01\x00\x00"  # sub rsp, 256: callees' frames start below the FXSAVE area
    code += _calls_and_stop(calls, tgid, tid, signal, keep_first)
    stop = address + len(code)
    code += _restore(resume, epilogue=epilogue, interrupted=interrupted)
    return Block(_fitting(code), address + 2, stop)


def next_block(address: int, calls: list[Call], *, resume: int, tgid: int, tid: int, signal: int,
               keep_first: bool = False, epilogue: tuple = (), interrupted: Optional[int] = None) -> Block:
    """A block for a thread already parked by first_block (rbx holds its frame): calls, stop, epilogue, restore.

    `keep_first`: call 0's result becomes the park value.  `epilogue`: calls made after
    the stop on the way back (gdb skips them by chaining the next block instead)."""
    code = _align_stack() + b"\x48\x81\xec\x00\x01\x00\x00"  # below the FXSAVE area, as in first_block
    code += _calls_and_stop(calls, tgid, tid, signal, keep_first)
    stop = address + len(code)
    code += _restore(resume, epilogue=epilogue, interrupted=interrupted)
    return Block(_fitting(code), address, stop)


def release_block(address: int, *, resume: int, rax: Optional[int] = None, epilogue: tuple = (),
                  interrupted: Optional[int] = None) -> bytes:
    """For a parked thread: the epilogue, restore with rax set to `rax` if given, jump to `resume`
    (or to `interrupted`: see first_block)."""
    return _fitting(_restore(resume, rax, epilogue, interrupted))


def _fitting(code: bytes) -> bytes:
    """`code`, if it fits its region: one written past it would overwrite the other region, where the
    thread may be parked, or the allocator hooks after them (6 calls of 6 arguments and an epilogue of
    6 take 1,015 bytes)."""
    if len(code) > MAX_BLOCK:
        raise ChannelError("internal error: a block of %d bytes, more than the %d of its region; nothing was written"
                           % (len(code), MAX_BLOCK))
    return code


# The most a block takes: the first block's save, RESULT_SLOTS calls of six arguments, stop, restore.
MAX_BLOCK = 1024


def allocator_hook(address: int, *, payload_thread: int, counter: int, routed: tuple[int, int],
                   own: tuple[int, int]) -> bytes:
    """A malloc or calloc for the "mem" and "object" domains that routes only the payload's thread.

    `routed` and `own` are (ctx, function) pairs: the raw domain's function, and
    pymalloc's.  A call from the thread whose thread pointer (fs:0) is
    `payload_thread` counts one block in `counter` (pymalloc's free will uncount
    it: it hands every block outside its arenas to the raw free and counts it down)
    and tail-calls the raw function; any other thread gets pymalloc's own, as if
    nothing had changed: in the target's other threads, and in a child one of them
    forks meanwhile.  Arguments after ctx pass through untouched."""
    own_path = b"\x48\xbf" + _imm64(own[0]) + b"\x48\xb8" + _imm64(own[1]) + b"\xff\xe0"
    routed_path = (b"\x48\xb8" + _imm64(counter) + b"\x48\x83\x00\x01"  # add qword [counter], 1
                   + b"\x48\xbf" + _imm64(routed[0]) + b"\x48\xb8" + _imm64(routed[1]) + b"\xff\xe0")
    return (b"\x64\x48\x8b\x04\x25\x00\x00\x00\x00"  # mov rax, fs:[0]
            + b"\x48\xb9" + _imm64(payload_thread)  # movabs rcx, payload_thread
            + b"\x48\x39\xc8"  # cmp rax, rcx
            + b"\x75" + bytes([len(routed_path)])  # jne own_path
            + routed_path + own_path)


# The start routine of the payload's own thread (inject/own_thread.py), in its own area of the
# padding: a go flag, a 1 ms timespec, a word gdb sets to 1 once it has seen the thread in the routine
# (until then its start address is on the heap, and a later gdb must not take the site back:
# landing.thread_on_its_way; the page is not writable by the thread), then the code.
THREAD_FLAG, THREAD_SLEEP, THREAD_SEEN, THREAD_CODE = 0, 8, 24, 32
THREAD_AREA = 128
SYS_NANOSLEEP = 35


@dataclass(frozen=True)
class ThreadEntry:
    code: bytes  # the whole area, flag cleared
    start: int  # the routine's address, for PyThread_start_new_thread
    flag: int  # gdb writes non-zero here to let the thread on to its stop
    seen: int  # gdb writes 1 here once the thread is at its stop
    stop: int  # rip when it stops for gdb (just after its tgkill)


def thread_entry(address: int, *, signal: int, tries: int) -> ThreadEntry:
    """A thread's start routine: wait, 1 ms at a time and at most `tries` times, for the go flag
    (gdb sets it once no other thread runs in the block regions the new one will be parked in),
    then tgkill(own thread, SIG), then return, which ends the thread.  gdb parks it at that stop
    like a waiting thread.  Without gdb, the flag never comes and SIG is ignored: the thread
    ends by itself within `tries` ms.  It touches only caller-saved registers (rax, rcx, rdx,
    rsi, rdi, r8, r11)."""
    flag, sleep = address + THREAD_FLAG, address + THREAD_SLEEP
    wait = b"\x48\xb8" + _imm64(flag) + b"\x48\x8b\x00" + b"\x48\x85\xc0"  # movabs rax, flag; mov rax, [rax]; test rax, rax
    nap = (b"\x48\xbf" + _imm64(sleep) + b"\x31\xf6"  # movabs rdi, timespec; xor esi, esi
           + b"\xb8" + struct.pack("<I", SYS_NANOSLEEP) + b"\x0f\x05"  # nanosleep(1 ms, NULL)
           + b"\x41\xff\xc8")  # dec r8d
    loop = wait + b"\x75" + bytes([len(nap) + 2]) + nap  # jnz go
    loop += b"\x75" + struct.pack("<b", -(len(loop) + 2))  # jnz wait
    code = b"\x41\xb8" + struct.pack("<I", tries) + loop  # mov r8d, tries
    code += b"\xb8" + struct.pack("<I", SYS_GETPID) + b"\x0f\x05" + b"\x48\x89\xc7"  # rdi = getpid()
    code += b"\xb8" + struct.pack("<I", SYS_GETTID) + b"\x0f\x05" + b"\x48\x89\xc6"  # rsi = gettid()
    code += b"\xba" + struct.pack("<I", signal) + b"\xb8" + struct.pack("<I", SYS_TGKILL) + b"\x0f\x05"
    stop = len(code)
    code += b"\xc3"  # ret: the thread ends
    if THREAD_CODE + len(code) > THREAD_AREA:
        raise ValueError("the start routine does not fit its area")
    area = bytearray(THREAD_AREA)
    struct.pack_into("<qq", area, THREAD_SLEEP, 0, 1_000_000)
    area[THREAD_CODE:THREAD_CODE + len(code)] = code
    return ThreadEntry(bytes(area), address + THREAD_CODE, flag, address + THREAD_SEEN, address + THREAD_CODE + stop)
