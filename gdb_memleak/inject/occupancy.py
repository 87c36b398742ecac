"""Which threads of the stopped target may still run code of ours in the padding.

A stub's thread is inside it while its pc is there, and also while it is inside a call
the stub made (its stack returns there).  A gdb that dies mid-command cannot put its
padding back, and a site so left was never used again: after one killed session per
site (12 and 13 in a helper's trial, 2026-12-05) every command refused with "no free
padding" for the rest of the process's life.  A later gdb takes such a site back once
nothing can run it again (stale_stubs_in_use; what it looks for: landing.py).
"""

from __future__ import annotations

from typing import Optional

import gdb

from . import landing, stub

_REGISTERS = ("rip", "rsp", "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp",
              "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
_SIGNAL_FRAME_DEPTH = 32  # frames unwound to find the thread's own stack under a signal handler's


def thread_in_our_code(pid: int, code: tuple[int, int], frames: dict[int, int],
                       origins: dict[int, tuple[int, int]]) -> Optional[int]:
    """The number of a thread still in our code (`code`: its start and end), if any: its pc there, or
    its stack still the stub's (rsp at or below the frame it saved, `frames`: thread number -> rbx in
    the stub, dropped here once it is out): inside a call the stub made, such as the epilogue's
    PyGILState_Release, which can wait for another thread to take the GIL.  Wiping the padding then
    made such a thread return into zeros (seen 2026-12-01).  `origins`: where each was parked (rsp, rip)."""
    start, end = code
    selected = gdb.selected_thread()
    try:
        for thread in gdb.selected_inferior().threads():
            # The kernel's copy of the registers first (/proc's syscall file): building a gdb
            # frame for each thread took 10 ms with 200 threads, for each of the 3-4 looks of a
            # command, all with the process stopped. Only a thread in the padding, or one the
            # stub had a frame in, needs gdb's (an unwind for the second).
            regs = kernel_sp_and_pc(pid, thread.ptid[1])
            if regs is not None and not start <= regs[1] < end and thread.num not in frames:
                continue
            try:
                frame = thread_frame(thread)
                pc, sp = int(frame.pc()), int(frame.read_register("rsp"))
            except (gdb.error, RuntimeError):  # a thread that ended meanwhile
                continue
            if start <= pc < end:
                return thread.num
            saved = frames.get(thread.num)
            if saved is not None and regs is not None and regs == origins.get(thread.num):
                # Back where it was parked, at the very same stack pointer: no call the stub made
                # (all below that) is under way. Unwinding its whole stack to tell took 10-20 ms.
                del frames[thread.num]
                continue
            if saved is not None:
                if sp <= saved + stub.pushed_offset("rflags") and returns_into(frame, start, end):
                    return thread.num
                del frames[thread.num]  # out for good: it jumped back
    finally:
        if selected is not None and selected.is_valid():
            selected.switch()
    return None


def stale_stubs_in_use(pid: int, addresses: list[int]) -> set[int]:
    """Those of the stubs earlier gdbs left at `addresses` that may still run: a thread's register
    points into one, or a stack or a loaded file's data does (landing.referenced).  All of them
    when a thread cannot be read, or its own stack cannot be found under a signal handler's."""
    sites = [(address, address + landing.NEEDED) for address in addresses]
    maps = landing.read_maps(pid)
    in_use: set[int] = set()
    stack_pointers: list[int] = []
    selected = gdb.selected_thread()
    try:
        for thread in gdb.selected_inferior().threads():
            frame = thread_frame(thread)
            values = [int(frame.read_register(name)) & (2**64 - 1) for name in _REGISTERS]
            in_use.update(start for start, end in sites if any(start <= value < end for value in values))
            stack_pointers.append(values[1])
            if not landing.normal_stack(maps, values[1]):
                own = _stack_under_signal_handler(frame)
                if own is None:
                    return set(addresses)
                stack_pointers.append(own)
    except (gdb.error, RuntimeError):
        return set(addresses)
    finally:
        if selected is not None and selected.is_valid():
            selected.switch()
    return in_use | landing.referenced(pid, [site for site in sites if site[0] not in in_use], stack_pointers)


def _stack_under_signal_handler(frame: gdb.Frame) -> Optional[int]:
    """The stack pointer of the code a signal handler on an alternate stack interrupted (the thread's
    own stack, which may hold a return address into a stub), or None if none is found."""
    for _ in range(_SIGNAL_FRAME_DEPTH):
        older = frame.older()
        if older is None:
            return None
        if frame.type() == gdb.SIGTRAMP_FRAME:
            return int(older.read_register("rsp"))
        frame = older
    return None


def returns_into(frame: gdb.Frame, start: int, end: int, depth: int = 256) -> bool:
    """Some caller of `frame` is in [start, end): the thread is inside a call the stub made.  Its stack
    alone does not tell: a thread that went back, then deeper into a wait of its own (a main thread in
    an event loop's poll after its pending call), sat below the frame it had saved (2026-12-05).  It is
    out only once the unwind reaches the thread's outermost frame (_start, clone) without passing
    the padding: a stack that cannot be unwound whole counts as inside."""
    try:
        for _ in range(depth):
            caller = frame.older()
            if caller is None:
                return frame.unwind_stop_reason() != gdb.FRAME_UNWIND_OUTERMOST
            if start <= int(caller.pc()) < end:
                return True
            frame = caller
    except (gdb.error, RuntimeError):
        return True
    return True


def thread_frame(thread: gdb.InferiorThread) -> gdb.Frame:
    thread.switch()
    return gdb.newest_frame()


def pc_and_sp(thread: gdb.InferiorThread) -> tuple[int, int]:
    frame = thread_frame(thread)
    return int(frame.pc()), int(frame.read_register("rsp"))


def kernel_sp_and_pc(pid: int, tid: int) -> Optional[tuple[int, int]]:
    """(rsp, rip) of a stopped thread as the kernel holds them (gdb writes registers through at
    once): the last two fields of /proc's syscall file, in a system call or not; None if unreadable.
    Building a gdb frame for each thread took 10 ms with 200 threads (2026-12-05)."""
    try:
        with open("/proc/%d/task/%d/syscall" % (pid, tid), "rb") as f:
            fields = f.read().split()
        if len(fields) not in (3, 9):  # "running": not stopped
            return None
        return int(fields[-2], 16), int(fields[-1], 16)
    except (OSError, ValueError):
        return None
