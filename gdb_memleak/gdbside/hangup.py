"""A SIGHUP to gdb during a command is handled the way gdb handles SIGTERM.

gdb's SIGHUP handler runs `quit` from whatever event loop is turning: inside a
command that loop is the one nested in our `continue`, so gdb detaches and
finalizes its Python with a thread still in our stub and our frames on the
stack.  Measured 2026-12-01 (gdb 13.1, `tests/test_gdb_dies.py`, SIGHUP 1 ms
into the wait for the GIL): gdb hung for good in 2 of 7 runs, the target
ptrace-stopped with it, until gdb was killed.  gdb's SIGTERM handler instead
sets the quit flag: the `continue` raises, our code unwinds through its own
clean-up, then gdb quits; 15 of 15 such runs ended at once with the target
whole.  So, for the length of a command, SIGHUP gets SIGTERM's handler, copied
byte for byte with sigaction(2), and gets its own back after.

Only gdb's process is touched (ctypes on gdb's libc); nothing here imports gdb.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import signal
from collections.abc import Iterator
from typing import Optional

# Larger than any libc's struct sigaction (152 bytes on x86-64 glibc): the bytes
# are copied, never read, so the layout of the platform does not matter.
_SIGACTION_BYTES = 512

_libc: Optional[ctypes.CDLL] = None


def _sigaction():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc.sigaction


@contextlib.contextmanager
def sighup_as_sigterm() -> Iterator[None]:
    """SIGHUP handled by gdb's SIGTERM handler inside the block; if that cannot be set up, nothing changes."""
    try:
        sigaction = _sigaction()
        term = ctypes.create_string_buffer(_SIGACTION_BYTES)
        hup = ctypes.create_string_buffer(_SIGACTION_BYTES)
        if sigaction(int(signal.SIGTERM), None, term) != 0 or sigaction(int(signal.SIGHUP), None, hup) != 0:
            raise OSError(ctypes.get_errno(), "sigaction")
        if sigaction(int(signal.SIGHUP), term, None) != 0:
            raise OSError(ctypes.get_errno(), "sigaction")
    except (OSError, AttributeError):  # no libc of that shape: gdb's own handling stays
        yield
        return
    try:
        yield
    finally:
        sigaction(int(signal.SIGHUP), hup, None)
