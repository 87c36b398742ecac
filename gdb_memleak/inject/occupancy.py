"""Which threads of the stopped target may still run code of ours in the padding.

A stub's thread is inside it while its pc is there, and also while it is inside a call
the stub made (its stack returns there).  A gdb that dies mid-command cannot put its
padding back, and a site so left was never used again: after one killed session per
site (12 and 13 in a helper's trial, 2026-12-05) every command refused with "no free
padding" for the rest of the process's life.  A later gdb takes such a site back once
nothing can run it again (stale_stub_in_use; the pointers it looks for: landing.referenced).
"""

from __future__ import annotations

import gdb

from . import landing


def stale_stub_in_use(pid: int, address: int) -> bool:
    """A stub an earlier gdb left at `address` may still run: some thread's pc is in it, or some
    stack or loaded file's data points into it.  True when a thread cannot be read."""
    selected = gdb.selected_thread()
    try:
        registers = [pc_and_sp(thread) for thread in gdb.selected_inferior().threads()]
    except (gdb.error, RuntimeError):
        return True
    finally:
        if selected is not None and selected.is_valid():
            selected.switch()
    end = address + landing.NEEDED
    return (any(address <= pc < end for pc, _ in registers)
            or landing.referenced(pid, address, end, [sp for _, sp in registers]))


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
