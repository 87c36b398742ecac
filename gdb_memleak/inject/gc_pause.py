"""Automatic collections paused from gdb's side for a payload (3.6+), with a fork guard, both
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
(the names threading's handler calls on a stand-in, 3.10-3.15) are gc.enable, until gdb puts in a
handler that tells subprocess's children apart, once the payload's code is loaded and before it
runs (fork_handler.py).

The resume and the guard's removal are also the epilogue of every block meanwhile: the
thread does them on its way back even if gdb dies.  A target that never imported gc gets it
loaded here first, by C calls (_import_gc).  Where anything is not as expected (a gc that cannot
be loaded so, a threading._dangling that is not a WeakSet of a set, a call that fails),
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
from . import stub
from .calls import Caller

_NAMES = ("threading", "gc", "sys", "_dangling", "data", "_remove", "_iterating", "enable", "is_tracked",
          "gdb-memleak fork guard", "_reset_internal_locks", "_stop", "_after_fork", "disable", "isenabled",
          "_imp", "create_builtin", "name")
OB_TYPE = 8  # PyObject.ob_type after ob_refcnt (x86-64, no Py_TRACE_REFS)
SET_USED = 24  # PySetObject.used, after the head and fill
# PyModuleObject.md_weaklist (Include/internal/pycore_moduleobject.h); 3.15 dropped md_def before it.
MD_WEAKLIST = {(3, 6): 40, (3, 7): 40, (3, 8): 40, (3, 9): 40, (3, 10): 40, (3, 11): 40, (3, 12): 40, (3, 13): 40, (3, 14): 40, (3, 15): 32}
# PyWeakReference (Include/cpython/weakrefobject.h, 3.6-3.15): wr_object, then wr_prev and wr_next.
WR_OBJECT, WR_PREV, WR_NEXT = 16, 40, 48
# PyCFunctionObject's m_ml and m_self, after the head; PyMethodDef's ml_name, ml_meth, ml_flags (3.6-3.9).
CF_ML, ML_WORDS = 16, 3
METH_NOARGS = 0x0004


@dataclass(frozen=True)
class Switch:
    """The calls that turn automatic collections off and on: PyGC_Disable and PyGC_Enable (3.10+).
    3.6-3.9 have neither: there the C functions behind the gc module's own disable() and enable(),
    called directly (each sets a flag: nothing of the target's runs, and they cannot fail), each
    followed by dropping the None it returns."""

    off: list
    on: list


SWITCH = Switch([("PyGC_Disable", ())], [("PyGC_Enable", ())])


class _Refs(list):
    """New references of gdb's, in the order made; `guard` the guard module among them, `ref` its
    weak reference (made after it, so dropped before it)."""

    guard = 0
    ref = 0


@dataclass
class Pause:
    """What pause() made: the resume calls, and the references gdb drops once gc is back."""

    resume: list  # (function, args) calls, also in the epilogue meanwhile
    references: _Refs  # new references of ours, dropped after the resume
    sys: int = 0  # the sys and gc modules (borrowed), for the guard's handler (fork_handler.py)
    gc: int = 0
    made_gc: int = 0  # gc when gdb loaded it (_import_gc): the quiet block puts it in sys.modules


_NAMES_DATA = b"".join(name.encode("ascii") + b"\0" for name in _NAMES)


def _names(buffer: int) -> dict[str, int]:
    """_NAMES written at `buffer`: where each one is."""
    gdb.selected_inferior().write_memory(buffer, _NAMES_DATA)
    at, offset = {}, 0
    for name in _NAMES:
        at[name] = buffer + offset
        offset += len(name) + 1
    return at


def exact_type(address: int, type_symbol: str) -> bool:
    """The object at `address` is of exactly the interpreter's `type_symbol` (False on a build whose
    object head is not the usual one: Py_TRACE_REFS before 3.13, which pause() refuses)."""
    expected = inf.minimal_symbol_address(type_symbol)
    memory = gdb.selected_inferior().read_memory(address + OB_TYPE, 8).tobytes()
    return expected is not None and struct.unpack("<Q", memory)[0] == expected


def pause(calls: Caller) -> Optional[Pause]:
    """Pause gc and put the fork guard in, on the parked thread that holds the GIL; None if not done."""
    modern = calls.version >= (3, 10)
    if calls.version < (3, 6) or (modern and inf.minimal_symbol_address("PyGC_Disable") is None):
        return None
    if inf.minimal_symbol_address("_Py_PrintReferences") is not None:
        return None  # Py_TRACE_REFS (3.6/3.7 debug builds): two more words in every object's head, not OB_TYPE's
    first = [("PyImport_GetModuleDict", ()), (calls.raw_malloc, (len(_NAMES_DATA),))]
    modules, buffer, *enabled = calls.call_many(first + ([("PyGC_IsEnabled", ())] if modern else []))
    made = _Refs()
    try:
        if modules == 0 or buffer == 0 or enabled and enabled[0] & 0xFFFFFFFF != 1:  # off: the target's own pause, left as it is
            return None
        return _pause_with_guard(calls, modules, _names(buffer), made)
    except BaseException:
        made.clear()  # left: dropping the guard while it may be in the set would call the target's code
        raise
    finally:
        _drop(calls, made, [(calls.raw_free, (buffer,))] if buffer else [])  # not paused: nothing of ours kept


def _switch(calls: Caller, gc: int, gdict: int, at: dict[str, int]) -> Optional[Switch]:
    """How gc is switched off and on here (on now: pause() looked on 3.10+, this looks before); None if
    it is off (the target's own pause, left as it is) or cannot be switched from C."""
    if calls.version >= (3, 10):
        return SWITCH
    names = ("isenabled", "disable", "enable")
    found = calls.call_many([("PyDict_GetItemString", (gdict, at[name])) for name in names])
    functions = [f for f in (_gc_function(function, gc, name) for function, name in zip(found, names)) if f is not None]
    if len(functions) < len(names):
        return None
    for name, address in zip(names, functions):
        calls.addresses["gc." + name] = address
    true, none = calls.address("_Py_TrueStruct"), calls.address("_Py_NoneStruct")
    state = calls.call("gc.isenabled", gc, 0)
    calls.call("Py_DecRef", state, ret="void")
    if state != true:
        return None
    return Switch([("gc.disable", (gc, 0)), ("Py_DecRef", (none,))], [("gc.enable", (gc, 0)), ("Py_DecRef", (none,))])


def _gc_function(function: int, gc: int, name: str) -> Optional[int]:
    """The C function behind `function`, if it is the interpreter's own gc.`name` (a builtin of the gc
    module, METH_NOARGS, of that name), as found in gc's dict; else None (replaced by the target)."""
    found = _module_function(function, gc, name)
    return found[0] if found is not None and found[1] & 0xFFFFFFFF == METH_NOARGS else None


def _module_function(function: int, module: int, name: str) -> Optional[tuple[int, int]]:
    """(C function, flags) behind `function`, if it is a builtin of `module` named `name`; else None."""
    if function == 0 or not exact_type(function, "PyCFunction_Type"):
        return None
    memory = gdb.selected_inferior().read_memory
    method, owner = struct.unpack("<QQ", memory(function + CF_ML, 16).tobytes())
    if owner != module or method == 0:
        return None
    ml_name, ml_meth, ml_flags = struct.unpack("<QQQ", memory(method, 8 * ML_WORDS).tobytes())
    if ml_meth == 0 or memory(ml_name, len(name) + 1).tobytes() != name.encode("ascii") + b"\0":
        return None
    return ml_meth, ml_flags


def _import_gc(calls: Caller, modules: int, at: dict[str, int]) -> int:
    """gc loaded by C calls as BuiltinImporter loads it, for a target that never imported it, as most
    services never do (gunicorn's and uvicorn's workers, the standard library's servers): a new
    reference, dropped by the thread's way back (in the epilogue from here on), or 0.  Before, gdb had
    nothing to pause gc with there: the first command's payload loaded with gc on, and collections in
    its thread ran 98-332 of the target's finalizers in two commands (tests/targets/young_cycles.py
    nogc, 4 of 6 interpreters, 2026-12-07).  No import hook runs: _imp.create_builtin, the C function
    BuiltinImporter calls, given a stand-in spec (a module whose `name` is "gc").  It is not put in
    sys.modules here: the quiet block gives it the __spec__ and __loader__ the import system would
    have, then puts it there (packaging.GC_MADE_NAME), so a payload that never runs (gdb gone, a
    refusal) leaves no gc behind, half-made.  3.10+ keep gc off meanwhile, so the module's few dozen
    containers start no collection here; 3.6-3.9 cannot switch it without gc.  Not in a verbose
    target: a module's death there writes "# destroy" to its sys.stderr."""
    if not _quiet_target():
        return 0
    off, on = (SWITCH.off, SWITCH.on) if calls.version >= (3, 10) else ([], [])
    before = list(calls.epilogue)
    made = len(off)  # the tuple's and the spec's results; their drops go with the block that makes them
    imp, args, spec = calls.call_many(off + [("PyDict_GetItemString", (modules, at["_imp"])), ("PyTuple_New", (1,)),
                                             ("PyModule_New", (at["gc"],))],
                                      epilogue=[("Py_DecRef", (stub.ResultOf(made + 1),)),
                                                ("Py_DecRef", (stub.ResultOf(made + 2),))] + on + before)[made:]
    if 0 in (imp, args, spec) or not exact_type(imp, "PyModule_Type"):
        _undo(calls, before)
        return 0
    named, imp_dict = calls.call_many([("PyModule_AddStringConstant", (spec, at["name"], at["gc"])),
                                       ("PyModule_GetDict", (imp,))])
    create = calls.call("PyDict_GetItemString", imp_dict, at["create_builtin"]) if imp_dict else 0
    if named & 0xFFFFFFFF or not _module_function(create, imp, "create_builtin"):
        _undo(calls, before)
        return 0
    # The tuple holds the spec from here on (a fresh tuple that only gdb holds: SetItem cannot fail), so
    # one drop lets both go.  3.6-3.9's gc (single-phase) puts itself in sys.modules as it is made:
    # out again in the same block (nothing else can have put one there since gdb looked), until the
    # quiet block has given it its spec; a KeyError there (it failed) is cleared.
    unregister = [("PyDict_DelItemString", (modules, at["gc"])), ("PyErr_Clear", ())] if calls.version < (3, 10) else []
    _, module, *_ = calls.call_many([("PyTuple_SetItem", (args, 0, spec)), ("PyObject_Call", (create, args, 0))] + unregister,
                                    epilogue=[("Py_DecRef", (stub.ResultOf(1),)), ("Py_DecRef", (args,))] + on + before)
    definition = calls.call("PyModule_GetDef", module) if module else 0
    if not definition or calls.call("PyModule_ExecDef", module, definition) & 0xFFFFFFFF != 0:
        _undo(calls, before)
        return 0
    # Kept (off again on 3.10+ until pause() pauses it with its guard), then let go of on the thread's way back.
    calls.call_many([("Py_DecRef", (args,)), ("PyErr_Clear", ())] + on, epilogue=[("Py_DecRef", (module,))] + before)
    return module


def _undo(calls: Caller, before: list) -> None:
    """The calls the epilogue holds beyond `before` (drops, gc back on), made now and taken out of it."""
    calls.call_many([("PyErr_Clear", ())] + calls.epilogue[:len(calls.epilogue) - len(before)], epilogue=before)


def _pause_with_guard(calls: Caller, modules: int, at: dict[str, int], made: _Refs) -> Optional[Pause]:
    """pause() past its first checks; `made` collects new references, which the caller drops unless kept.
    Everything is read from dicts (borrowed, then one reference of ours to the set): no attribute
    lookup, which could run the target's code (a module __getattr__, a class's __getattribute__)."""
    threading, gc, sys = calls.call_many([("PyDict_GetItemString", (modules, at[name])) for name in ("threading", "gc", "sys")])
    made_gc = _import_gc(calls, modules, at) if gc == 0 else 0  # never imported
    gc = gc or made_gc
    if gc == 0 or not exact_type(gc, "PyModule_Type"):  # the quiet block loads it, and pauses gc itself
        return None
    if threading and not exact_type(threading, "PyModule_Type"):
        return None
    gdict, *tdict = calls.call_many([("PyModule_GetDict", (gc,))] + ([("PyModule_GetDict", (threading,))] if threading else []))
    switch = _switch(calls, gc, gdict, at)
    if switch is None:
        return None
    if threading == 0:  # no threading: no after-fork handler for a guard to be in (nor was there before)
        calls.call_many(switch.off, epilogue=switch.on + calls.epilogue)
        return Pause(switch.on, _Refs(), made_gc=made_gc)
    dangling, enable, is_tracked = calls.call_many([("PyDict_GetItemString", (tdict[0], at["_dangling"])),
                                                    ("PyDict_GetItemString", (gdict, at["enable"])),
                                                    ("PyDict_GetItemString", (gdict, at["is_tracked"]))])
    # The child calls these: the interpreter's own functions, not something put in their place.
    if 0 in (dangling, enable, is_tracked) or not all(exact_type(f, "PyCFunction_Type") for f in (enable, is_tracked)):
        return None
    # Paused from here on (the WeakSet's dict may be made now, on 3.11+: a container), with the
    # resume in every block's epilogue; each way out below without a guard resumes at once.
    before = list(calls.epilogue)
    ddict = calls.call_many(switch.off + [("PyObject_GenericGetDict", (dangling, 0))],
                            epilogue=switch.on + before)[-1]
    if ddict:
        made.append(ddict)
        data, remove, iterating = calls.call_many([("PyDict_GetItemString", (ddict, at["data"])),
                                                   ("PyDict_GetItemString", (ddict, at["_remove"])),
                                                   ("PyDict_GetItemString", (ddict, at["_iterating"]))])
        # A thread of the target stopped half-way through iterating the set would see it change size
        # (3.14+ has no _iterating: it iterates over a copy).
        if data and remove and exact_type(data, "PySet_Type") and (iterating == 0 or _empty_set(iterating)):
            calls.call("Py_IncRef", data, ret="void")  # the epilogue discards from it, after the payload
            made.append(data)
            paused = _guard_in(calls, at, made, (data, remove, enable, is_tracked), (switch, before))
            if paused is not None:
                paused.gc, paused.made_gc = gc, made_gc
                paused.sys = sys if sys and exact_type(sys, "PyModule_Type") else 0
                return paused
    calls.call("PyErr_Clear", ret="void")
    calls.call_many(switch.on, epilogue=before)
    return None


def _guard_in(calls: Caller, at: dict[str, int], made: _Refs, found: tuple, switching: tuple) -> Optional[Pause]:
    """The guard made and put in the set, gc paused meanwhile: the Pause, or None."""
    data, remove, enable, is_tracked = found
    switch, before = switching
    guard = calls.call("PyModule_New", at["gdb-memleak fork guard"])
    if guard == 0:
        return None
    made.append(guard)
    made.guard = guard
    # (Only a MemoryError fails these; the calls after one are then made with it set.)
    results = calls.call_many([("PyObject_SetAttrString", (guard, at["_reset_internal_locks"], is_tracked)),
                               ("PyObject_SetAttrString", (guard, at["_stop"], enable)),
                               ("PyObject_SetAttrString", (guard, at["_after_fork"], enable)),
                               ("PyWeakref_NewRef", (guard, remove))])
    ref = results[-1]
    if ref:
        made.append(ref)
        made.ref = ref
    if ref == 0 or any(r & 0xFFFFFFFF for r in results[:3]):
        return None
    # The resume: gc back, then the guard out (a fork in between gets gc on either way); in the
    # epilogue from the block that puts the guard in.
    resume = switch.on + [("PySet_Discard", (data, ref))]
    (added,) = calls.call_many([("PySet_Add", (data, ref))], epilogue=resume + before)
    if added & 0xFFFFFFFF != 0:
        calls.call_many([("PySet_Discard", (data, ref))], epilogue=switch.on + before)
        return None
    kept = _Refs(made)
    kept.guard, kept.ref = guard, ref
    made.clear()
    return Pause(resume, kept)


def _empty_set(address: int) -> bool:
    if not exact_type(address, "PySet_Type"):
        return False
    return struct.unpack("<q", gdb.selected_inferior().read_memory(address + SET_USED, 8).tobytes())[0] == 0


def _guard_may_die(calls: Caller, references: _Refs) -> bool:
    """Dropping gdb's reference to the guard runs nothing of the target's, whichever thread drops the
    last one: no weak reference left but gdb's own (dropped first, in the same block: it dies then,
    since gdb holds it alone; a copy of threading._dangling holds one more, and its callback would
    run), and the target not verbose (a module's death then writes "# destroy" to its sys.stderr).
    Another reference does not keep it: a list the payload handed to a thread of its own to let go
    of (the census's snapshot) often still holds it here, and the guard was then kept for good, one
    per command (a helper's trial, 2026-12-05)."""
    weaklist = MD_WEAKLIST.get(calls.version)
    if weaklist is None or not _quiet_target():
        return False
    memory = gdb.selected_inferior().read_memory

    def word(address: int) -> int:
        return int(struct.unpack("<q", memory(address, 8).tobytes())[0])

    guard, ref = references.guard, references.ref
    weak = word(guard + weaklist)
    return weak == 0 or (weak == ref and word(ref) == 1 and word(ref + WR_OBJECT) == guard
                         and word(ref + WR_PREV) == 0 and word(ref + WR_NEXT) == 0)


def _quiet_target() -> bool:
    """The target is not verbose (Py_VerboseFlag 0): a module's death there writes nothing to its
    sys.stderr (a verbose one's writes "# destroy", through the target's own stream object)."""
    verbose = inf.minimal_symbol_address("Py_VerboseFlag")
    return verbose is not None and gdb.selected_inferior().read_memory(verbose, 4).tobytes() == bytes(4)


def _drop(calls: Caller, references: _Refs, also: list) -> None:
    """gdb's references dropped in one block, the newest first (the guard's weak reference before
    the guard), after the calls `also`; the guard itself only if that runs nothing of the target's,
    else left (a module object)."""
    if calls.gone or calls.abandoned:
        return
    keep = references.guard and not _guard_may_die(calls, references)
    drops = also + [("Py_DecRef", (r,)) for r in reversed(references) if not (keep and r == references.guard)]
    for start in range(0, len(drops), stub.RESULT_SLOTS):  # (blocks of at most that many calls; 6 at most so far)
        calls.call_many(drops[start:start + stub.RESULT_SLOTS])


def flag(calls: Caller, paused: Optional[Pause]) -> int:
    """What the payload's globals hold to say gdb paused gc (evaluation.execute): the guard, for the
    census to leave out; True where there is none (no threading: no guard); 0 if gdb did not pause it."""
    if paused is None:
        return 0
    return paused.references.guard or calls.address("_Py_TrueStruct")


def resume(calls: Caller, paused: Optional[Pause]) -> None:
    """gc back and the guard out (the calls the epilogue carried), then gdb's references dropped."""
    if paused is None or calls.gone or calls.abandoned:
        return
    rest = [c for c in calls.epilogue if c not in paused.resume]
    calls.call_many(paused.resume, epilogue=rest)
    _drop(calls, paused.references, [])
