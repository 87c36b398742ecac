"""SIGTERM and SIGHUP to gdb during a command: an interrupt first, gdb's own handling after.

gdb handles both by running `quit` from whatever event loop is turning; inside a
command that is the loop nested in our `continue`, so gdb detaches with a thread
in our stub and our frames on the stack.  Measured 2026-12-01 (gdb 13.1,
tests/test_gdb_dies.py): gdb then hung for good, the target ptrace-stopped with
it, in 2 of 7 SIGHUPs sent 1 ms into the wait for the GIL and in 1 of 25 SIGTERMs
sent 20 ms into the payload's call.  Ctrl-C (SIGINT) has no such path: it stops
the target, the command unwinds through its own clean-up (row 9 of docs/safety.md).

So, for the length of a command, SIGTERM and SIGHUP get a Python handler; the
interpreter's C handler writes the signal's number to a pipe (signal.set_wakeup_fd)
at once, even while gdb waits in C, and a thread reading that pipe sends gdb a
SIGINT.  When the command has unwound, gdb's own handlers are put back, byte for
byte with sigaction(2), and the signal is raised again: gdb quits as asked, from
its top level.  Only gdb's process is touched; nothing here imports gdb.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
from collections.abc import Iterator
from typing import Optional

TERMINATIONS = (signal.SIGTERM, signal.SIGHUP)
# The termination received during the current command (terminations_interrupt), for a wait that
# Ctrl-C does not end (a call in flight) to end on it.
_received_now: list[int] = []
# Larger than any libc's struct sigaction (152 bytes on x86-64 glibc): the bytes
# are copied, never read, so the layout of the platform does not matter.
_SIGACTION_BYTES = 512

_libc: Optional[ctypes.CDLL] = None


def _sigaction():
    global _libc
    if _libc is None:
        # gdb's own symbols, its libc's among them: ctypes.util.find_library runs ldconfig, 5 ms
        # here and 28 ms on a loaded machine, every command, while the target is stopped.
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc.sigaction


def _saved_actions() -> Optional[dict[int, ctypes.Array]]:
    """The current sigaction of each termination signal, as raw bytes; None if it cannot be read."""
    try:
        sigaction = _sigaction()
    except (OSError, AttributeError):
        return None
    saved = {}
    for signum in TERMINATIONS:
        buf = ctypes.create_string_buffer(_SIGACTION_BYTES)
        if sigaction(int(signum), None, buf) != 0:
            return None
        saved[int(signum)] = buf
    return saved


def _restore(saved: dict[int, ctypes.Array]) -> None:
    sigaction = _sigaction()
    for signum, buf in saved.items():
        sigaction(signum, buf, None)


# While gdb attaches from its command line: gdb's own actions, and the signals held meanwhile.
_attaching: dict[str, Optional[dict]] = {"saved": None}
_held: list[int] = []


def hold_during_attach() -> None:
    """From here to attach_over(): SIGTERM and SIGHUP are held, then given to gdb.

    gdb quitting on one while it waits for its attach's stops hung for good in sigsuspend, the target
    ptrace-stopped with it (3-4 of 120 signals 5-100 ms after the attach in test_gdb_dies' loop,
    2026-12-06), or left the target stopped for good.  The interpreter's C handler only notes the
    signal; gdb's attach goes on, and the Python handler runs at gdb's next call into Python."""
    saved = _saved_actions()
    if saved is None or threading.current_thread() is not threading.main_thread():
        return
    try:
        for signum in TERMINATIONS:
            signal.signal(signum, lambda signum, _frame: _held.append(signum))
            signal.siginterrupt(signum, False)  # as gdb's own: its reads go on (SA_RESTART)
    except (OSError, ValueError):
        _restore(saved)
        return
    _attaching["saved"] = saved


def end_hold() -> None:
    """gdb's own actions back (the attach's stop); what was held stays held, for attach_over or a command.

    Not given to gdb here: inside the stop, gdb would quit in the middle of the next command, our
    `continue` among them (a review's trial, 2026-12-06), the hang terminations_interrupt avoids."""
    saved, _attaching["saved"] = _attaching["saved"], None
    if saved is not None:
        _restore(saved)


def attach_over(raise_held: bool = True) -> list[int]:
    """The hold ended; the signals held sent again to gdb (`raise_held`: at a prompt, where gdb quits
    from its top level) or returned (for a command to interrupt itself)."""
    end_hold()
    held = list(dict.fromkeys(_held))
    _held.clear()
    if raise_held:
        _raise(held)
        return []
    return held


def _raise(signals: list[int]) -> None:
    for signum in signals:
        os.kill(os.getpid(), signum)


def termination_received() -> Optional[int]:
    """The SIGTERM or SIGHUP gdb received during the current command, if any."""
    return _received_now[0] if _received_now else None


@contextlib.contextmanager
def terminations_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGHUP interrupt gdb (as Ctrl-C does); after it, gdb gets them.

    Where this cannot be set up (not gdb's main thread, no libc of that shape), nothing changes."""
    held = attach_over(raise_held=False)  # a command from gdb's command line: its attach is over
    saved = _saved_actions()
    if saved is None or threading.current_thread() is not threading.main_thread():
        _raise(held)
        yield
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    received = _received_now  # (what termination_received() reads)
    del received[:]
    python_handlers = {}  # Python's own table (None where the handler is not Python's: gdb's)
    try:
        previous_fd = signal.set_wakeup_fd(write_end)
        for signum in TERMINATIONS:
            # the interpreter's C handler writes the pipe; this function runs later, if ever
            python_handlers[signum] = signal.signal(signum, lambda *_: None)
    except (OSError, ValueError):
        _restore(saved)
        os.close(read_end)
        os.close(write_end)
        _raise(held)
        yield
        return

    def watch() -> None:
        while True:
            try:
                data = os.read(read_end, 64)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                if signum in saved and not received:
                    received.append(signum)
                    os.kill(os.getpid(), signal.SIGINT)  # gdb interrupts the target; the command unwinds

    watcher = threading.Thread(target=watch, name="gdb-memleak terminations", daemon=True)
    watcher.start()
    _raise(held)  # one held during the attach: the command interrupts itself, gdb then quits
    try:
        yield
    finally:
        for signum, handler in python_handlers.items():
            if handler is not None:
                signal.signal(signum, handler)
        _restore(saved)  # gdb's own handlers, byte for byte, before anything else can arrive
        try:
            signal.set_wakeup_fd(previous_fd)
        except (OSError, ValueError):
            pass
        os.close(write_end)  # the watcher reads the end of the pipe and stops
        watcher.join(timeout=1.0)
        os.close(read_end)
        if received:
            os.kill(os.getpid(), received.pop())  # gdb's own handler now: it quits from its top level
