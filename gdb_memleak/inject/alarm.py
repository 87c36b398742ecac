"""One thread of gdb's that stops the target once a `continue` has run long enough (calls.continue_for).

A threading.Timer per continue started a thread for every call into the target, and
Thread.start() waits until the new thread has run: 0.3-4 ms of gdb's time with the target
stopped, each time (cProfile, 2026-12-03: 98 ms over 37 calls of py-memtop's payload on
Debian's python3.11, all of it while the safe point's thread was held).  This thread is started
once and armed for each continue.  Its signal is sent with the lock held, so once disarm() has
returned it sends none for that continue; disarm() says whether it did.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Optional

import gdb

from .gdbstate import quiet_continue

POLL = 0.001  # seconds between two looks at an `until` condition


class Alarm:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        # pid, signal, deadline (time.monotonic), and a condition that fires it sooner
        self._armed: Optional[tuple[int, int, float, Optional[Callable[[], bool]]]] = None
        self._fired = False
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Start the thread, if it is not running: Thread.start() waits until it has run, which took
        7 ms of the first command's stop (2026-12-03), so the plugin starts it before the attach."""
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                # A daemon: gdb quitting on SIGTERM/SIGHUP finalizes Python from inside a continue,
                # and would wait for a timer thread up to its whole interval (it hung gdb for minutes).
                self._thread = threading.Thread(target=self._run, daemon=True, name="gdb-memleak-alarm")
                self._thread.start()

    def arm(self, pid: int, signal: int, seconds: float, until: Optional[Callable[[], bool]] = None) -> None:
        """Send `signal` to pid in `seconds`, or once `until()` is true (looked at every POLL s)."""
        self.start()
        with self._cond:
            self._armed = (pid, signal, time.monotonic() + seconds, until)
            self._fired = False
            self._cond.notify()

    def disarm(self) -> bool:
        """No signal after this; whether one was sent for the last arm().  The thread is not woken:
        it finds nothing armed when its wait ends, or the next arm() wakes it."""
        with self._cond:
            self._armed = None
            return self._fired

    def _run(self) -> None:
        with self._cond:
            while True:
                if self._armed is None:
                    self._cond.wait()
                    continue
                pid, signal, deadline, until = self._armed
                remaining = deadline - time.monotonic()
                try:
                    ready = until is not None and until()
                except Exception:  # this thread must not die: gdb's continue would then wait for good
                    ready = True
                if remaining > 0 and not ready:
                    self._cond.wait(remaining if until is None else min(remaining, POLL))
                    continue
                self._armed = None
                self._fired = True
                try:
                    os.kill(pid, signal)
                except OSError:
                    pass


ALARM = Alarm()


def continue_for(pid: int, seconds: float, stop_signal: int, until: Optional[Callable[[], bool]] = None) -> bool:
    """`continue`, stopped by our signal after `seconds` (or once `until()` is true); True if ours stopped it.

    Anything else may stop it first: a stub's stop, Ctrl-C, a signal gdb stops on.
    The signal is one the target ignores: if gdb dies before it arrives, nothing happens.
    """
    if seconds <= 0:
        return True
    ALARM.arm(pid, stop_signal, seconds, until)
    try:
        quiet_continue()
    finally:
        fired = ALARM.disarm()
    return fired


def continue_alone(pid: int, seconds: float, stop_signal: int) -> bool:
    """continue_for with only the selected thread resumed (scheduler-locking on), the setting put back."""
    locking = gdb.parameter("scheduler-locking")
    gdb.execute("set scheduler-locking on", to_string=True)
    try:
        return continue_for(pid, seconds, stop_signal)
    finally:
        gdb.execute("set scheduler-locking %s" % locking, to_string=True)
