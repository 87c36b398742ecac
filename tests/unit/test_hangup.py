"""gdbside.hangup: SIGHUP takes SIGTERM's handler for the length of a command, then its own again.

Checked in this process with the kernel's view of the handlers (sigaction), not
Python's table: gdb's handlers are C functions Python never sees.
"""

from __future__ import annotations

import ctypes
import signal

from gdb_memleak.gdbside import hangup

_libc = ctypes.CDLL(None, use_errno=True)


def kernel_handler(signum: int) -> int:
    """The sa_handler word the kernel holds for `signum` (first member of struct sigaction on Linux)."""
    buf = ctypes.create_string_buffer(512)
    assert _libc.sigaction(signum, None, buf) == 0
    return ctypes.c_void_p.from_buffer(buf).value or 0


def test_sighup_gets_sigterms_handler_inside_and_its_own_after():
    old_term = signal.signal(signal.SIGTERM, lambda *a: None)  # a C handler distinct from SIGHUP's (SIG_DFL)
    old_hup = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        term, hup = kernel_handler(signal.SIGTERM), kernel_handler(signal.SIGHUP)
        assert term != hup
        with hangup.sighup_as_sigterm():
            assert kernel_handler(signal.SIGHUP) == term
        assert kernel_handler(signal.SIGHUP) == hup
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGHUP, old_hup)


def test_restored_when_the_command_raises():
    old_term = signal.signal(signal.SIGTERM, lambda *a: None)
    try:
        hup = kernel_handler(signal.SIGHUP)
        try:
            with hangup.sighup_as_sigterm():
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            pass
        assert kernel_handler(signal.SIGHUP) == hup
    finally:
        signal.signal(signal.SIGTERM, old_term)
