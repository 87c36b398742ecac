"""Minimal-symbol tables: an objfile's global functions and data as {name: address}.

Read from `maint print msymbols -objfile NAME`, which reads symbols only, never debug info.
For libpython3.11 (18k symbols) and libc that took 27 ms in gdb and 18 ms of parsing, all of
it in the first command's stop (pyenv 3.11, 2026-12-03).  So before the attach, while the
target runs, preread.py and attach_ahead.py read the tables of the files the commands look
names up in (the runtime, libc, libpthread) at the addresses the target has them
(read_ahead); after the attach such a table is used when a probe address of it lies in
the objfile of the same name (table), and read again otherwise.
"""

from __future__ import annotations

import os
import re
from typing import Optional

import gdb

RUNTIME_MARK = "Py_AddPendingCall"  # every copy of CPython's runtime exports it
_LINE = re.compile(r"^\[\s*\d+\]\s+(\S)\s+(0x[0-9a-fA-F]+)\s+(\S+)")
# (pid, objfile name) -> table; (pid, name without target:, as a real path) -> (table, a probe
# address, or None for a program linked at fixed addresses)
_tables: dict[tuple[int, str], dict[str, int]] = {}
_ahead: dict[tuple[int, str], tuple[dict[str, int], Optional[int]]] = {}


def read(objfile_name: str) -> dict[str, int]:
    """The global functions and data of one objfile of the current program space (first address of each name)."""
    return _read(objfile_name)[0]


def _read(objfile_name: str) -> tuple[dict[str, int], Optional[int]]:
    """read(), and the address of its first function (a probe: it lies in that file's text)."""
    table: dict[str, int] = {}
    probe = None
    try:
        text = gdb.execute("maint print msymbols -objfile %s" % objfile_name, to_string=True)
    except gdb.error:
        return table, None
    for line in text.splitlines():
        match = _LINE.match(line)
        if match and match.group(1) in "TDBRW" and match.group(3) not in table:
            table[match.group(3)] = int(match.group(2), 16)
            if probe is None and match.group(1) == "T":
                probe = table[match.group(3)]
    return table, probe


def real_name(name: str) -> str:
    """An objfile's name as a path of this process's, for comparing names (target:/lib/x.so, /usr/lib/x.so)."""
    name = name[len("target:"):] if name.startswith("target:") else name
    return os.path.realpath(name)


def read_ahead(pid: int, objfile_name: str, name: str, *, fixed: bool = False) -> None:
    """Read objfile_name's table before the attach to pid, for the objfile the attach will name
    `name`.  `fixed`: the program itself, linked at fixed addresses (ET_EXEC): no probe needed."""
    table, probe = _read(objfile_name)
    if table and (fixed or probe is not None):
        _ahead[(pid, real_name(name))] = (table, None if fixed else probe)


def _ahead_for(pid: int, objfile_name: str) -> Optional[dict[str, int]]:
    """The table read before the attach, if the target still has that file where it was read."""
    found = _ahead.get((pid, real_name(objfile_name)))
    if found is None:
        return None
    table, probe = found
    if probe is None:
        progspace = gdb.current_progspace()
        return table if progspace is not None and real_name(progspace.filename or "") == real_name(objfile_name) else None
    try:
        where = gdb.solib_name(probe)
    except (gdb.error, RuntimeError):
        return None
    return table if where and real_name(where) == real_name(objfile_name) else None


def table(objfile_name: str) -> dict[str, int]:
    """{name: address} for one objfile of the selected inferior, read once per process."""
    key = (gdb.selected_inferior().pid, objfile_name)
    if key not in _tables:
        ahead = _ahead_for(key[0], objfile_name) if key[0] else None
        _tables[key] = ahead if ahead is not None else read(objfile_name)
    return _tables[key]


def clear() -> None:
    _tables.clear()
    _ahead.clear()
