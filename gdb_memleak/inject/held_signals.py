"""Signals held during a payload in the main thread, sent again once the thread is back in its own code.

The runner holds the target's Python signal handlers while the payload runs there (a SIGTERM's
SystemExit would end the payload, not the service), and a thread of the payload's sends what arrived
once the main thread has left the payload.  gdb, once it has read the answer, claims them and sends
them itself (`claim`, `send_again`): its signal reaches a thread stopped in its call, which the
payload's thread could not wait for (a service in select() missed its handler).  The claim, a
bytearray in the payload's globals (packaging.CLAIM_NAME), says who sends: 0, the payload's thread;
1, gdb; 2, gdb has (`mark_sent`); 3, the payload's thread again (`hand_back`: gdb gave the call up
after its claim, with the main thread still in our code).  The payload's thread waits through a 1
for as long as gdb traces the target, so a gdb killed after its claim and before its sending loses
nothing.
"""

from __future__ import annotations

import signal

import gdb

from ..gdbside.invocation import note
from . import gc_pause
from .calls import Caller
from .packaging import CLAIM_NAME


def claim(calls: Caller, namespace: int, at: dict[str, int]) -> bool:
    """The payload's claim (packaging.CLAIM_NAME: a bytearray, 0, whether its thread waits for gdb's 2,
    then the held signals that thread would send) set to 1, if it made one: True when gdb is to send
    them (calls.claimed_signals; session sends them, and marks them sent, when the command fails after
    this too).  Set before anything that could run the target's code (the globals' clearing runs
    finalizers), while the payload's globals hold the claim.  gdb
    sending them, not that thread, once gdb has the answer: that thread sent them as soon as the main
    thread had let go of the GIL on its way back, before it was back in its system call, and a
    service in select() never ran its SIGTERM handler in 3 of 8 trials (a review, 2026-12-07); gdb's
    signal comes while the thread is stopped.  Read from the claim, not the answer: no parse of up to
    8 MiB while every thread waits."""
    claim = calls.call("PyDict_GetItemString", namespace, at[CLAIM_NAME])
    if claim == 0 or not gc_pause.exact_type(claim, "PyByteArray_Type"):
        return False  # (not claimed: the payload's thread sends them)
    flag, size = calls.call_many([("PyByteArray_AsString", (claim,)), ("PyByteArray_Size", (claim,))])
    if flag == 0 or not 2 < size < 67:
        return False
    watching, *signals = gdb.selected_inferior().read_memory(flag + 1, size - 1).tobytes()
    gdb.selected_inferior().write_memory(flag, b"\x01")
    calls.claimed_signals = signals
    calls.claim_sent_at = flag if watching else 0
    return True


def send_again(pid: int, signals: list, by_the_target: bool) -> None:
    """Signals that reached the target's Python handlers while the payload ran in its main thread
    were held back (the runner's __gdb_memleak_hold_signals__); send them again, now that the
    thread is back in its own code, so the target handles them as it would have: a thread of the
    payload's does where gdb could not claim them (`by_the_target`: claim), else gdb."""
    import ctypes

    syscall = ctypes.CDLL(None, use_errno=True).syscall
    for signum in signals:
        if by_the_target and isinstance(signum, int):
            note("signal %d arrived while the payload ran; it was held, and a thread of the payload's sends it again "
                 "once the main thread has left the payload" % signum)
        elif isinstance(signum, int) and 0 < signum < 65:
            # To the main thread itself, as the kernel would have picked it: a process-wide signal
            # sent while every thread is stopped may be taken by another thread, and then a main
            # thread that waits for good never runs the handler.
            if syscall(234, pid, pid, signum) != 0:  # SYS_tgkill on x86-64
                continue
            note("signal %d arrived while the payload ran; it was held and is sent again" % signum)


def after_the_way_back(pid: int, calls: Caller) -> None:
    """gdb's claimed signals sent and marked sent; where the call was given up after the claim (the
    main thread still in our code) and the payload's thread waits for gdb, handed back to it instead
    (else gdb sends them, and the handler runs when the main thread next runs Python)."""
    if calls.abandoned and calls.claim_sent_at:
        hand_back(calls.claim_sent_at)
    else:
        send_claimed(pid, calls.claimed_signals, calls.claim_sent_at)


def send_claimed(pid: int, signals: list, at: int) -> None:
    """gdb's claimed signals sent, then marked sent (`mark_sent`), with gdb's SIGINT, SIGTERM and
    SIGHUP held in between: a Ctrl-C raised between the two would leave them unmarked, and the
    payload's thread would send them a second time once gdb lets go of the target."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
    try:
        send_again(pid, signals, by_the_target=False)
        mark_sent(at)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def hand_back(at: int) -> None:
    """The claim handed back (3; `at`: the payload's thread waits for gdb's mark) where gdb gave the
    call up after its claim (a second Ctrl-C, SIGTERM, SIGHUP, the call's limit): the main thread is
    then still in our code, where gdb's signal would run the handler (in a finalizer of the payload's
    run there, its SystemExit was ignored, and the service went on); the payload's thread sends them,
    with its looks counted afresh, once the main thread has left the payload's frames and sleeps."""
    try:
        gdb.selected_inferior().write_memory(at, b"\x03")
    except (gdb.error, gdb.MemoryError):
        note("warning: the held signals could not be handed back to the payload's thread; it sends them once "
             "gdb lets go of the target")


def mark_sent(at: int) -> None:
    """The claim's 2, for the payload's thread that waits for it (`at`, 0: none waits): with gdb gone
    first, that thread sends the signals (a gdb killed between its claim and its sending lost them).
    Written after the sending: a gdb killed in between (microseconds) has them sent twice, not lost.
    The claim is alive: the thread, which holds it once the payload's globals are emptied, ends
    only once it has seen the 2 or gdb gone (or it sent them before any claim: then none was made)."""
    if at:
        try:
            gdb.selected_inferior().write_memory(at, b"\x02")
        except (gdb.error, gdb.MemoryError):
            note("warning: the held signals' claim could not be marked sent; the payload's thread sends them "
                 "again once gdb lets go of the target")
