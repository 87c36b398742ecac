"""Each thread's `threading` name, read from the target's memory with a Reader: no gdb.

`sys.modules['threading']._active` maps a thread's ident (its pthread_t) to its Thread, whose
`_name` and `_native_id` are instance attributes.  Every step is checked as it is taken (a
module, a dict, exact str names), so memory laid out otherwise gives no name, not a wrong one.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from .heapclasses import DICT, INT, MODULE, Classes
from .memimage import Unreadable
from .pyobjects import Reader

MAX_THREADS = 100000  # more entries than this: damaged memory
MAX_NAME = 200  # as gdbside/thread_names.py: longer names are cut, with "..."


class NamedThread(NamedTuple):
    ident: Optional[int]  # threading.get_ident(): the pthread_t
    native_id: Optional[int]  # the thread's id in its own PID namespace (3.8+)
    name: str


def named_threads(r: Reader, classes: Classes, modules: int) -> list[NamedThread]:
    """The Threads of `threading._active`, found from `modules` (the address of sys.modules);
    [] where threading is not imported or its state cannot be read."""
    try:
        threading = r.dict_get(modules, "threading") if _shape(classes, r, modules) == DICT else None
        if not threading or _shape(classes, r, threading) != MODULE:
            return []
        active = r.dict_get(r.word(threading + r.L["md_dict"]), "_active")
        if not active or _shape(classes, r, active) != DICT:
            return []
        items = r.dict_items(active)
    except Unreadable:
        return []
    found = []
    for i in range(0, min(len(items), 2 * MAX_THREADS), 2):
        try:
            thread = _named(r, classes, items[i], items[i + 1])
        except Unreadable:
            continue
        if thread is not None:
            found.append(thread)
    return found


def _named(r: Reader, classes: Classes, key: int, value: int) -> Optional[NamedThread]:
    info = classes.info(r.head(value)[1])
    if info is None:
        return None
    attributes = classes.instance_items(value, info)
    by_name = {r.text(attributes[i], 20): attributes[i + 1] for i in range(0, len(attributes), 2)}
    name_at = by_name.get("_name") or by_name.get("_Thread__name")
    name = r.text(name_at, MAX_NAME + 1) if name_at else None
    if name is None:
        return None
    if len(name) > MAX_NAME:
        name = name[:MAX_NAME] + "..."
    native = by_name.get("_native_id")
    return NamedThread(_integer(r, classes, key), _integer(r, classes, native) if native else None, name)


def _integer(r: Reader, classes: Classes, address: int) -> Optional[int]:
    return r.int_value(address) if _shape(classes, r, address) == INT else None


def _shape(classes: Classes, r: Reader, address: int) -> Optional[int]:
    info = classes.info(r.head(address)[1]) if address else None
    return info.shape if info is not None else None
