"""gdbside.hangup: inside a command SIGTERM and SIGHUP become an interrupt (SIGINT); after it,
the process's own handlers are back and get the signal.

Checked in this process with the kernel's view of the handlers (sigaction), not Python's
table: gdb's handlers are C functions Python never sees.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time

import pytest

from gdb_memleak.gdbside import hangup

_libc = ctypes.CDLL(None, use_errno=True)


def kernel_handler(signum: int) -> int:
    """The sa_handler word the kernel holds for `signum` (first member of struct sigaction on Linux)."""
    buf = ctypes.create_string_buffer(512)
    assert _libc.sigaction(signum, None, buf) == 0
    return ctypes.c_void_p.from_buffer(buf).value or 0


@pytest.fixture
def own_handlers():
    """This process's own handlers for the signals, recording what reaches them, put back afterwards."""
    seen: list[int] = []
    old = {s: signal.signal(s, lambda signum, frame: seen.append(signum)) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        yield seen
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def wait_for(seen: list[int], count: int) -> None:
    deadline = time.monotonic() + 5
    while len(seen) < count and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_termination_interrupts_the_command_then_reaches_the_old_handler(own_handlers, sig):
    seen = own_handlers
    before = {s: kernel_handler(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    with hangup.terminations_interrupt():
        os.kill(os.getpid(), sig)
        wait_for(seen, 1)
        assert seen == [signal.SIGINT]  # inside: an interrupt, not the termination
    wait_for(seen, 2)
    assert seen == [signal.SIGINT, sig]  # after: the old handler got the termination
    assert {s: kernel_handler(s) for s in before} == before


def test_nothing_arrives_nothing_is_sent(own_handlers):
    seen = own_handlers
    before = {s: kernel_handler(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        with hangup.terminations_interrupt():
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    time.sleep(0.1)
    assert seen == []
    assert {s: kernel_handler(s) for s in before} == before
    assert signal.set_wakeup_fd(-1) == -1  # the wakeup fd is put back too
