"""Every thread's `threading` name, read through CPython's own gdb helper (libpython.py).

Only memory is read: nothing here runs code in the inferior, so it is safe
on any stop (even inside the allocator) and on core files.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import gdb

from . import inferior
from .frame_chain import expressions_for_this_version, threads_by_pthread
from .libpython import require_libpython
from .rawmem import NotCompact, Objects, objects_for
from .rawmem27 import Objects27, objects27

__all__ = ["python_thread_names"]

# sys.modules of the main interpreter: 3.12+, 3.7-3.11, then 2.7 and 3.6.
_MODULES_EXPRS = (
    "_PyRuntime.interpreters.main->imports.modules",
    "_PyRuntime.interpreters.main->modules",
    "interp_head->modules",
)
# Thread.__init__ stores the name as self._name (self.__name on 2.7).
_NAME_ATTRS = ("_name", "_Thread__name")
_MAX_NAME = 200
_MAX_THREADS = 100000


def python_thread_names() -> dict[int, str]:
    """LWP/TID -> the thread's `threading` name, read from memory only
    (sys.modules['threading']._active, whose keys are pthread_self() values).

    Threads threading does not know, and names that are not plain strings,
    are left out; {} if threading is not imported or cannot be read (no
    debug info, say).  Raises FramesUnavailable when there is no helper."""
    libpython = require_libpython()
    by_handle = threads_by_pthread(gdb.selected_inferior())  # none: _native_id may still match
    names: dict[int, str] = {}
    _texts.clear()
    version = inferior.python_version()
    # None: the helper reads them (unknown layouts)
    objects = objects27() if version is not None and version < (3, 0) else objects_for(version)
    try:
        if objects is not None:
            _read_raw(libpython, objects, by_handle, names)
        else:
            _read_with_helper(libpython, by_handle, names)
    except Exception:  # corrupt or unreadable memory: keep the names read so far
        pass
    finally:
        _texts.clear()
    return names


def _read_raw(libpython: Any, objects: Objects | Objects27, by_handle: dict[int, int], names: dict[int, str]) -> None:
    """The names, every dict table, str and int read as bytes (rawmem); the helper finds an
    object's attributes only where rawmem does not know their layout."""

    def text(address: int | None) -> str | None:
        if not address:
            return None
        if address not in _texts:
            try:
                _texts[address] = objects.text(address, _MAX_NAME)
            except NotCompact:
                _texts[address] = _text(libpython, libpython.PyObjectPtr.from_pyobject_ptr(_object(address)))
        return _texts[address]

    def get(items: Iterable[tuple[int, int]], keys: tuple[str, ...]) -> int | None:
        return next((value for key, value in items if text(key) in keys), None)

    def attributes(address: int | None) -> Iterable[tuple[int, int]]:
        if not address:
            return ()
        raw = objects.attributes(address)
        if raw is not None:
            return raw
        found = _instance_dict(libpython, libpython.PyObjectPtr(_object(address)))
        if isinstance(found, libpython.PyDictObjectPtr):
            return objects.dict_items(found.as_address())
        if found is not None and hasattr(found, "keys") and hasattr(found, "values"):  # the helper's PyKeysValuesPair
            values = found.values
            array = values.type.strip_typedefs().code == gdb.TYPE_CODE_ARRAY
            return objects.keys_items(int(found.keys), int(values.address) if array else int(values))
        return ()

    modules = _sys_modules_value()
    if modules is None or not objects.is_dict(int(modules)):
        return
    active = get(attributes(get(objects.dict_items(int(modules)), ("threading",))), ("_active",))
    if not active or not objects.is_dict(active):
        return
    for count, (ident, thread) in enumerate(objects.dict_items(active)):
        if count >= _MAX_THREADS:
            break  # corrupt memory
        attrs = list(attributes(thread))
        name = text(get(attrs, _NAME_ATTRS))
        if name is None:
            continue
        ident_value = objects.integer(ident)
        tid = by_handle.get(ident_value) if ident_value is not None else None
        if not tid:
            native = get(attrs, ("_native_id",))
            tid = objects.integer(native) if native else None
        if tid:
            names[tid] = name


def _read_with_helper(libpython: Any, by_handle: dict[int, int], names: dict[int, str]) -> None:
    """The names through the helper's proxy objects (2.7's dicts, unknown layouts)."""
    threading = _dict_get(libpython, _sys_modules(libpython), ("threading",))
    active = _dict_get(libpython, _instance_dict(libpython, threading), ("_active",))
    if not isinstance(active, libpython.PyDictObjectPtr):
        return
    for count, (ident, thread) in enumerate(active.iteritems()):
        if count >= _MAX_THREADS:
            break  # corrupt memory
        attrs = _instance_dict(libpython, thread)
        name = _text(libpython, _dict_get(libpython, attrs, _NAME_ATTRS))
        ident_value = _int(libpython, ident)
        tid = (by_handle.get(ident_value) if ident_value is not None else None) or _int(libpython, _dict_get(libpython, attrs, ("_native_id",)))
        if name is not None and tid:
            names[tid] = name


def _sys_modules_value() -> Any:
    for expr in expressions_for_this_version(_MODULES_EXPRS):
        try:
            return gdb.parse_and_eval(expr)
        except gdb.error:
            continue
    return None


def _sys_modules(libpython: Any) -> Any:
    modules = _sys_modules_value()
    return None if modules is None else libpython.PyObjectPtr.from_pyobject_ptr(modules)


def _object(address: int) -> Any:
    """A PyObject* gdb.Value for an address."""
    return gdb.Value(address).cast(gdb.lookup_type("PyObject").pointer())


def _instance_dict(libpython: Any, pyop: Any) -> Any:
    """What the object's __dict__ holds, as the helper reads it: inline values
    (3.11+, no dict made yet) or the dict; None if it has neither."""
    if pyop is None or pyop.is_null():
        return None
    heap = libpython.HeapTypeObjectPtr(pyop._gdbval)  # its reader works for any type (a module too)
    values = getattr(heap, "get_keys_values", lambda: None)()
    return values if values else heap.get_attr_dict()


def _dict_get(libpython: Any, pairs: Any, keys: tuple[str, ...]) -> Any:
    """The value of the first of `keys` found among a dict's string keys, or None."""
    if pairs is None or not hasattr(pairs, "iteritems"):
        return None
    for key, value in pairs.iteritems():
        if _text(libpython, key) in keys:
            return value
    return None


# Strings already decoded in this call of python_thread_names, by address: every Thread's
# attribute names are the same interned strings (300 threads: 0.22 s with the target
# stopped, most of it decoding "_name", "_ident" ... again, measured 2026-12-01).
_texts: dict[int, str | None] = {}


def _text(libpython: Any, pyop: Any) -> str | None:
    """An exact str (or 2.7 str/unicode), at most _MAX_NAME characters; else None."""
    kinds = tuple(getattr(libpython, k) for k in ("PyUnicodeObjectPtr", "PyStringObjectPtr") if hasattr(libpython, k))
    if pyop is None or type(pyop) not in kinds:  # a str subclass comes as HeapTypeObjectPtr
        return None
    address = int(pyop.as_address())
    if address not in _texts:
        value = pyop.proxyval(set())
        _texts[address] = (value if len(value) <= _MAX_NAME else value[:_MAX_NAME] + "...") if isinstance(value, str) else None
    return _texts[address]


def _int(libpython: Any, pyop: Any) -> int | None:
    kinds = tuple(getattr(libpython, k) for k in ("PyLongObjectPtr", "PyIntObjectPtr") if hasattr(libpython, k))
    if pyop is None or type(pyop) not in kinds:
        return None
    value = pyop.proxyval(set())
    return value if isinstance(value, int) else None
