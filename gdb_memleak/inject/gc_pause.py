"""Automatic collections paused from gdb's side for a payload (3.10+), with a fork guard, both
made and undone by C calls while the payload's thread holds the GIL.

Why from gdb's side: loading a payload's code makes thousands of containers.  With gc on,
that started a collection in the payload's thread before its quiet block could pause gc (up
to 3.11 inside the load; from 3.12 at the module's first instruction), and the target's gc
callbacks and its cyclic garbage's finalizers ran there: 14 collections and 172 finalizers in
3 commands on tests/targets/young_cycles.py (2026-12-05, pyenv 3.11).

Why the fork guard comes along: the pause is process-wide, and a child forked meanwhile by
another thread would keep it for life.  The quiet block's guard (a stand-in thread in
threading._dangling, whose after-fork handler the child runs) went in only once the payload's
Python ran; Python code hands the GIL to waiting threads, so a thread forked in between, and
in 1-3 of about 100 forks per test its children kept gc off (2026-12-05, 3.11-3.13).  Here the
pause, the guard, and later the resume and the guard's removal are C calls in a row on the
GIL-holding thread: no Python code runs between them, so no thread can fork in between.  The
guard is a module whose _reset_internal_locks is gc.is_tracked and whose _stop and _after_fork
(the names threading's handler calls on a stand-in, 3.10-3.15) are gc.enable.

The resume and the guard's removal are also the epilogue of every block meanwhile: the
thread does them on its way back even if gdb dies.  Where anything is not as expected (gc
not imported yet, a threading._dangling that is not a WeakSet of a set, a call that fails),
nothing stays paused here and the quiet block pauses gc itself, as before 3.10.  A target that
never imported threading has no after-fork handler for a guard: gc is paused without one, as
the quiet block did.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Optional

import gdb

from ..gdbside import inferior as inf
from .calls import Caller

_NAMES = ("threading", "gc", "_dangling", "data", "_remove", "enable", "is_tracked", "gdb-memleak fork guard",
          "_reset_internal_locks", "_stop", "_after_fork")
OB_TYPE = 8  # PyObject.ob_type after ob_refcnt (x86-64, no Py_TRACE_REFS)


@dataclass
class Pause:
    """What pause() made: the resume calls, and the references gdb drops once gc is back."""

    resume: list  # (function, args) calls, also in the epilogue meanwhile
    references: list  # new references of ours, dropped after the resume


def _names(calls: Caller) -> tuple[int, dict[str, int]]:
    data = b"".join(name.encode("ascii") + b"\0" for name in _NAMES)
    buffer = calls.call(calls.raw_malloc, len(data))
    if buffer == 0:
        return 0, {}
    gdb.selected_inferior().write_memory(buffer, data)
    at, offset = {}, 0
    for name in _NAMES:
        at[name] = buffer + offset
        offset += len(name) + 1
    return buffer, at


def _exact_type(address: int, type_symbol: str) -> bool:
    expected = inf.minimal_symbol_address(type_symbol)
    memory = gdb.selected_inferior().read_memory(address + OB_TYPE, 8).tobytes()
    return expected is not None and struct.unpack("<Q", memory)[0] == expected


def pause(calls: Caller) -> Optional[Pause]:
    """Pause gc and put the fork guard in, on the parked thread that holds the GIL; None if not done."""
    if calls.version < (3, 10) or inf.minimal_symbol_address("PyGC_Disable") is None:
        return None
    enabled, modules = calls.call_many([("PyGC_IsEnabled", ()), ("PyImport_GetModuleDict", ())])
    if enabled & 0xFFFFFFFF != 1 or modules == 0:  # the target's own pause: left as it is
        return None
    buffer, at = _names(calls)
    if buffer == 0:
        return None
    made: list[int] = []
    try:
        return _pause_with_guard(calls, modules, at, made)
    except BaseException:
        made.clear()  # left: dropping the guard while it may be in the set would call the target's code
        raise
    finally:
        calls.cleanup(calls.raw_free, buffer)
        for reference in made:  # not paused: nothing of ours kept
            calls.cleanup("Py_DecRef", reference)


def _pause_with_guard(calls: Caller, modules: int, at: dict[str, int], made: list[int]) -> Optional[Pause]:
    """pause() past its first checks; `made` collects new references, which the caller drops unless kept.
    Everything is read from dicts (borrowed, then one reference of ours to the set): no attribute
    lookup, which could run the target's code (a module __getattr__, a class's __getattribute__)."""
    threading, gc = calls.call_many([("PyDict_GetItemString", (modules, at["threading"])),
                                     ("PyDict_GetItemString", (modules, at["gc"]))])
    if gc == 0:  # not imported yet: the quiet block loads it, and pauses gc itself
        return None
    if threading == 0:  # no threading: no after-fork handler for a guard to be in (nor was there before)
        calls.call_many([("PyGC_Disable", ())], epilogue=[("PyGC_Enable", ())] + calls.epilogue)
        return Pause([("PyGC_Enable", ())], [])
    if not (_exact_type(threading, "PyModule_Type") and _exact_type(gc, "PyModule_Type")):
        return None
    tdict, gdict = calls.call_many([("PyModule_GetDict", (threading,)), ("PyModule_GetDict", (gc,))])
    dangling, enable, is_tracked = calls.call_many([("PyDict_GetItemString", (tdict, at["_dangling"])),
                                                    ("PyDict_GetItemString", (gdict, at["enable"])),
                                                    ("PyDict_GetItemString", (gdict, at["is_tracked"]))])
    # The child calls these: the interpreter's own functions, not something put in their place.
    if 0 in (dangling, enable, is_tracked) or not all(_exact_type(f, "PyCFunction_Type") for f in (enable, is_tracked)):
        return None
    (ddict,) = calls.call_many([("PyObject_GenericGetDict", (dangling, 0))])
    if ddict == 0:
        calls.call("PyErr_Clear", ret="void")
        return None
    made.append(ddict)
    data, remove = calls.call_many([("PyDict_GetItemString", (ddict, at["data"])),
                                    ("PyDict_GetItemString", (ddict, at["_remove"]))])
    if data == 0 or remove == 0 or not _exact_type(data, "PySet_Type"):
        return None
    calls.call("Py_IncRef", data, ret="void")  # the epilogue discards from it, after the payload
    made.append(data)
    # From here on gc is paused: the first block carries the resume, and each later one too.
    before = list(calls.epilogue)
    (_, guard) = calls.call_many([("PyGC_Disable", ()), ("PyModule_New", (at["gdb-memleak fork guard"],))],
                                 epilogue=[("PyGC_Enable", ())] + before)
    if guard:
        made.append(guard)
        results = calls.call_many([("PyObject_SetAttrString", (guard, at["_reset_internal_locks"], is_tracked)),
                                   ("PyObject_SetAttrString", (guard, at["_stop"], enable)),
                                   ("PyObject_SetAttrString", (guard, at["_after_fork"], enable)),
                                   ("PyWeakref_NewRef", (guard, remove))])
        ref = results[-1]
        if ref:
            made.append(ref)
        if ref and not any(r & 0xFFFFFFFF for r in results[:3]):
            # The resume: gc back, then the guard out (a fork in between gets gc on either way); in
            # the epilogue from the block that puts the guard in.
            resume = [("PyGC_Enable", ()), ("PySet_Discard", (data, ref))]
            (added,) = calls.call_many([("PySet_Add", (data, ref))], epilogue=resume + before)
            if added & 0xFFFFFFFF == 0:
                kept = list(made)
                made.clear()
                return Pause(resume, kept)
    # No guard: gc back at once, the quiet block pauses it itself.
    calls.call("PyErr_Clear", ret="void")
    calls.call_many([("PyGC_Enable", ())], epilogue=before)
    return None


def resume(calls: Caller, paused: Optional[Pause]) -> None:
    """gc back and the guard out (the calls the epilogue carried), then gdb's references dropped:
    the guard's weak reference first, so that the guard's death calls nothing back."""
    if paused is None or calls.gone or calls.abandoned:
        return
    rest = [c for c in calls.epilogue if c not in paused.resume]
    calls.call_many(paused.resume, epilogue=rest)
    for reference in reversed(paused.references):
        calls.cleanup("Py_DecRef", reference)
