"""What the memory backend needs from gdb: CPython's struct layouts, the roots of its heap, the memory (issue 16).

Everything is asked of gdb once per command: the offsets and sizes, from the interpreter's
debug info (gdbside/dwarf_layout.py) or, for a 3.13+ build gdb has none for, from a table
kept for its version and checked against the build's own `_Py_DebugOffsets`
(host/layout_tables.py); the addresses of the core types and of `_PyRuntime` from the
symbols a stripped binary keeps too (its dynamic ones); the main interpreter's
generation lists, `sys.modules` and builtins read through it; and a way to read the memory
in bulk (/proc/PID/mem of a live target, the core file's segments).  The walks
(host/heapwalk.py, host/cyclewalk.py) then run without gdb.  Nothing here runs code in the target.
"""

from __future__ import annotations

import re
import struct
from typing import Any, Optional

import gdb

from ..errors import Refused, TargetUnavailable
from ..host import heapwalk, layout_tables
from ..host.memimage import CoreFileError, CoreImage, Image, ProcessImage
from . import dwarf_layout
from . import inferior as inf

SUPPORTED = ((2, 7), (3, 8), (3, 9), (3, 10), (3, 11), (3, 12), (3, 13), (3, 14), (3, 15))
H = heapwalk

# static type symbol -> shape of its objects (and of its subclasses')
SHAPES = {
    "PyUnicode_Type": H.STR, "PyLong_Type": H.INT, "PyBool_Type": H.INT, "PyTuple_Type": H.TUPLE,
    "PyList_Type": H.LIST, "PyDict_Type": H.DICT, "PySet_Type": H.SET, "PyFrozenSet_Type": H.SET,
    "PyModule_Type": H.MODULE, "PyType_Type": H.TYPE, "PyBaseObject_Type": H.PLAIN, "PyByteArray_Type": H.BYTEARRAY,
}
# 2.7: bool is an int of its own kind (fixed size), str is bytes (sized as any class with items)
SHAPES_27 = dict({k: v for k, v in SHAPES.items() if k != "PyBool_Type"}, PyString_Type=H.VAR)
# the classes whose addresses the walks compare with
NAMED_TYPES = (("PyUnicode_Type", "type_str"), ("PyModule_Type", "type_module"), ("PyDict_Type", "type_dict"),
               ("PyFunction_Type", "type_function"), ("PyType_Type", "type_type"), ("PyList_Type", "type_list"))

# a static class a stripped build hides, and the exported pointer to it
EXPORTED_POINTERS = {"_PyExc_BaseException": "PyExc_BaseException"}


def _symbol(name: str) -> Optional[int]:
    """The address of `name`: a dynamic symbol of a stripped build too; a static one only with debug info."""
    return inf.minimal_symbol_address(name, may_be_static=True)


def _required(name: str) -> int:
    address = _symbol(name)
    if address is None:
        raise TargetUnavailable("--read-only: cannot find %s in the interpreter; nothing was read" % name)
    return address


def _static(expression: str) -> int:
    """The address of a static variable (2.7's roots), from the debug info."""
    try:
        return int(gdb.parse_and_eval("(unsigned long)&%s" % expression))
    except gdb.error as e:
        raise TargetUnavailable("--read-only: cannot find %s: %s" % (expression, e)) from None


def _pointer(address: int) -> int:
    try:
        return int(struct.unpack("<Q", bytes(gdb.selected_inferior().read_memory(address, 8)))[0])
    except (gdb.MemoryError, gdb.error) as e:
        raise TargetUnavailable("--read-only: cannot read the interpreter's state at 0x%x: %s" % (address, e)) from None


def offsets(version: tuple[int, int]) -> dict[str, Any]:
    """The walks' offsets: from the debug info, else from the table kept for `version` (require_supported checked it)."""
    if dwarf_layout.available(version):
        return dwarf_layout.offsets(version)
    table = layout_tables.load(version)
    if table is None:
        raise TargetUnavailable("--read-only: no layout for CPython %d.%d" % version)
    return dict(table["offsets"])


def layout(version: tuple[int, int]) -> dict[str, Any]:
    """The offsets and sizes host/heapwalk.py reads with, and the addresses it compares with."""
    L = offsets(version)
    if L["str_length"] != 16 or L["ob_size"] != 16:
        raise Refused("--read-only: this interpreter's objects are laid out unlike CPython's (ob_size at %d, a str's "
                      "length at %d); nothing was read" % (L["ob_size"], L["str_length"]))
    L["type_fields"] = tuple(L["type_fields"])
    for symbol, key in NAMED_TYPES:
        L[key] = _required("PyString_Type" if version == (2, 7) and key == "type_str" else symbol)
    if version == (2, 7):  # statics: read through the debug info
        L["set_dummy"] = _pointer(_static("'setobject.c'::dummy"))
        L["interp"] = _main_interpreter27(_pointer(_static("interp_head")), L["interp_next"])
        L["static_builtins"] = -1
        return L
    # setobject.c exports _PySet_Dummy for gdb; the static it points at can be "optimized out" where the
    # target stopped (forky's release 3.14 in clock_nanosleep under gdb 16 and 18, seen 2026-12-02)
    L["set_dummy"] = _pointer(_required("_PySet_Dummy"))
    L["interp"] = _pointer(_required("_PyRuntime") + L["runtime_interp_main"])
    L["static_builtins"] = L["interp"] + L["static_builtins_at"] if L["static_builtins_at"] >= 0 else -1
    return L


def _main_interpreter27(interp: int, next_at: int) -> int:
    """2.7 puts each new interpreter at the head of the list (mod_wsgi's sub-interpreters): the main one is last."""
    for _ in range(256):
        following = _pointer(interp + next_at)
        if not following:
            return interp
        interp = following
    raise TargetUnavailable("--read-only: the list of interpreters does not end: the memory is damaged; nothing was read")


def roots(L: dict[str, Any]) -> dict[str, Any]:
    """The main interpreter's generation lists, sys.modules, builtins and gc.garbage, and the core types' shapes."""
    old = L["version"] == (2, 7)
    if old:  # gcmodule.c's statics
        generations = [_static("'gcmodule.c'::generations") + i * L["gc_generation_sizeof"] for i in range(3)]
        garbage = _pointer(_static("'gcmodule.c'::garbage"))
    else:
        gc_base = _required("_PyRuntime") if L["gc_in_runtime"] else L["interp"]
        generations = [gc_base + L["gc_generations"] + i * L["gc_generation_sizeof"] for i in range(3)]
        garbage = _pointer(gc_base + L["gc_garbage"])
    shapes: dict[int, int] = {}
    for symbol, shape in (SHAPES_27 if old else SHAPES).items():
        shapes[_required(symbol)] = shape
    fields, field_names = {}, {}
    for symbol, named in L["struct_fields"].items():
        address = _symbol(symbol)
        pointer = _symbol(EXPORTED_POINTERS.get(symbol, "")) if address is None and symbol in EXPORTED_POINTERS else None
        if pointer is not None:
            address = _pointer(pointer)
        if not address:
            continue  # a static one in a stripped build: its objects' references are not followed
        shapes[address] = H.FIELDS
        fields[address] = tuple(o for o, _ in named)
        field_names[address] = {o: n for o, n in named}
    return {"generations": generations, "modules": _pointer(L["interp"] + L["interp_modules"]),
            "builtins": _pointer(L["interp"] + L["interp_builtins"]), "garbage": garbage,
            "shapes": shapes, "fields": fields, "field_names": field_names}


def require_supported(version: tuple[int, int]) -> None:
    """Refuse in one line what the walks cannot read: another version, or no debug info and no table that fits."""
    if version not in SUPPORTED:
        raise Refused(
            "--read-only reads CPython %s; this target runs %d.%d, which it cannot read yet; nothing was read"
            % (", ".join("%d.%d" % v for v in SUPPORTED), version[0], version[1])
        )
    if dwarf_layout.available(version):
        return
    table = layout_tables.load(version)
    if table is None:
        dwarf_layout._type("PyInterpreterState")  # refuses, naming the debug info
        raise Refused("--read-only: gdb cannot read _PyRuntime (no debug info for the interpreter); nothing was read")
    runtime = _symbol("_PyRuntime")
    if runtime is None:
        raise Refused("--read-only: no debug info for the interpreter and no _PyRuntime symbol; nothing was read")
    try:
        head = bytes(gdb.selected_inferior().read_memory(runtime, layout_tables.span(table)))
    except (gdb.MemoryError, gdb.error):
        raise Refused("--read-only: no debug info for the interpreter, and its _Py_DebugOffsets cannot be read; "
                      "nothing was read") from None
    why = layout_tables.mismatch(table, head)
    if why is not None:
        raise Refused("--read-only needs the interpreter's debug info, which gdb does not have for this target, "
                      "and the layout kept for CPython %d.%d does not fit it (%s); nothing was read" % (version + (why,)))


_CORE_LINE = re.compile(r"Local core dump file:\s*\n\s*`(.+?)', file type")


def core_path() -> Optional[str]:
    text = gdb.execute("info files", to_string=True)
    match = _CORE_LINE.search(text)
    return match.group(1) if match else None


def _gdb_reader(inferior: gdb.Inferior):
    def read(address: int, size: int) -> Optional[bytes]:
        try:
            return bytes(inferior.read_memory(address, size))
        except (gdb.MemoryError, gdb.error, OverflowError, ValueError):
            return None
    return read


def image(inferior: gdb.Inferior, core: bool) -> Image:
    """The target's memory, read in bulk: the core file's segments, or /proc/PID/mem; gdb's reads as the fallback."""
    fallback = _gdb_reader(inferior)
    if core:
        path = core_path()
        if path is None:
            raise TargetUnavailable("--read-only: cannot tell which core file gdb has loaded")
        try:
            return CoreImage(path, fallback)
        except CoreFileError as e:
            raise TargetUnavailable("--read-only: %s" % e) from None
    try:
        return ProcessImage(inferior.pid, fallback)
    except OSError:
        return _GdbImage(fallback)


class _GdbImage(Image):
    """Only gdb's own reads (when /proc/PID/mem cannot be opened)."""

    def read_block(self, index: int) -> Optional[bytes]:
        return None
