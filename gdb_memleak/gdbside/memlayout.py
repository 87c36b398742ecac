"""What py-heap --read-only needs from gdb: CPython's struct layouts, the collector's lists, the memory (issue 16).

Everything is asked of gdb once per command: offsets and sizes from the
interpreter's debug info (gdb.types), the addresses of the core types and of the
main interpreter's generation lists, and a way to read the memory in bulk
(/proc/PID/mem of a live target, the core file's segments).  The walk itself
(host/heapwalk.py) then runs without gdb.  Nothing here runs code in the target.
"""

from __future__ import annotations

import re
from typing import Any, Optional

import gdb

from ..errors import Refused, TargetUnavailable
from ..host import heapwalk
from ..host.memimage import CoreFileError, CoreImage, Image, ProcessImage

SUPPORTED = ((3, 11), (3, 12), (3, 13), (3, 14), (3, 15))
H = heapwalk

# static type symbol -> shape of its objects (and of its subclasses')
SHAPES = {
    "PyUnicode_Type": H.STR, "PyLong_Type": H.INT, "PyBool_Type": H.INT, "PyTuple_Type": H.TUPLE,
    "PyList_Type": H.LIST, "PyDict_Type": H.DICT, "PySet_Type": H.SET, "PyFrozenSet_Type": H.SET,
    "PyModule_Type": H.MODULE, "PyType_Type": H.TYPE, "PyBaseObject_Type": H.PLAIN, "PyByteArray_Type": H.BYTEARRAY,
}
# static type symbol -> the C struct whose object pointers the collector follows (tp_traverse)
FIELD_STRUCTS = {
    "PyFunction_Type": "PyFunctionObject", "PyCell_Type": "PyCellObject", "PyMethod_Type": "PyMethodObject",
    "PyCode_Type": "PyCodeObject", "PyProperty_Type": "propertyobject", "PyClassMethod_Type": "classmethod",
    "PyStaticMethod_Type": "staticmethod", "PyCFunction_Type": "PyCFunctionObject",
    "PyCMethod_Type": "PyCMethodObject", "PyDictProxy_Type": "mappingproxyobject",
    "_PyExc_BaseException": "PyBaseExceptionObject", "Py_GenericAliasType": "gaobject",
    "_PyNamespace_Type": "_PyNamespaceObject", "PySlice_Type": "PySliceObject",
    # descriptors: the collector follows their class only (descr_traverse), not their names
    "PyMethodDescr_Type": "PyDescrObject", "PyClassMethodDescr_Type": "PyDescrObject",
    "PyMemberDescr_Type": "PyDescrObject", "PyGetSetDescr_Type": "PyDescrObject",
    "PyWrapperDescr_Type": "PyDescrObject",
}
# struct -> the only fields the collector follows, where it follows fewer than all
ONLY_FIELDS = {"PyDescrObject": ("d_type",)}
# C field -> the attribute Python shows it as (a cycle's path names its steps as payloads/cycles.py does)
PYTHON_NAMES = {
    "func_globals": "__globals__", "func_builtins": "__builtins__", "func_name": "__name__",
    "func_qualname": "__qualname__", "func_code": "__code__", "func_defaults": "__defaults__",
    "func_kwdefaults": "__kwdefaults__", "func_closure": "__closure__", "func_doc": "__doc__",
    "func_dict": "__dict__", "func_module": "__module__", "func_annotations": "__annotations__",
    "func_typeparams": "__type_params__", "ob_ref": "cell_contents", "im_func": "__func__", "im_self": "__self__",
    "m_self": "__self__", "m_module": "__module__", "prop_get": "fget", "prop_set": "fset", "prop_del": "fdel",
    "prop_doc": "__doc__", "prop_name": "__name__", "cm_callable": "__func__", "cm_dict": "__dict__",
    "dict": "__dict__", "traceback": "__traceback__", "context": "__context__", "cause": "__cause__",
    "notes": "__notes__", "ns_dict": "__dict__", "d_type": "__objclass__", "origin": "__origin__",
}
TYPE_FIELDS = ("tp_dict", "tp_cache", "tp_mro", "tp_bases", "tp_base", "ht_module")


def _type(name: str) -> gdb.Type:
    try:
        return gdb.lookup_type(name)
    except gdb.error:
        raise Refused(
            "--read-only needs the interpreter's debug info (the layout of %s), which gdb does not have "
            "for this target; nothing was read (py-heap without --read-only works on a live process)" % name
        ) from None


def _offset(struct_name: str, path: str) -> int:
    """offsetof(struct_name, path); path may go through nested fields ('state', 'long_value.lv_tag')."""
    try:
        return int(gdb.parse_and_eval("(unsigned long)&((%s *)0)->%s" % (struct_name, path)))
    except gdb.error:
        _type(struct_name)
        return -1


def _sizeof(name: str) -> int:
    return int(_type(name).sizeof)


def _address(expression: str) -> int:
    try:
        return int(gdb.parse_and_eval("(unsigned long)(%s)" % expression))
    except gdb.error as e:
        raise TargetUnavailable("--read-only: cannot read %s: %s" % (expression, e)) from None


def _first_address(*expressions: str) -> int:
    for expression in expressions[:-1]:
        try:
            return int(gdb.parse_and_eval("(unsigned long)(%s)" % expression))
        except gdb.error:
            pass
    return _address(expressions[-1])


def _bitfield_shift(struct_name: str, member: str, bit: str) -> int:
    """The bit of `member`.`bit` within its 32-bit word (a str's state)."""
    field = [f for f in _type(struct_name).strip_typedefs().fields() if f.name == member][0]
    assert field.type is not None
    sub = [f for f in field.type.strip_typedefs().fields() if f.name == bit][0]
    return int(sub.bitpos or 0)


def _object_fields(struct_name: str) -> tuple[tuple[int, str], ...]:
    """(offset, name) of the fields of `struct_name` that point to objects (not weak references)."""
    try:
        t = gdb.lookup_type(struct_name).strip_typedefs()
    except gdb.error:
        return ()
    out: list[tuple[int, str]] = []
    for f in t.fields():
        # ob_type: the walks add an instance's class themselves (host/cyclewalk.py counts it once)
        if f.bitpos is None or f.type is None or "weakreflist" in (f.name or "") or f.name == "ob_type":
            continue
        if struct_name in ONLY_FIELDS and f.name not in ONLY_FIELDS[struct_name]:
            continue
        ft = f.type.strip_typedefs()
        if ft.code == gdb.TYPE_CODE_STRUCT and f.name in ("ob_base", "d_common", "func"):
            inner = _object_fields(str(f.type))
            out.extend((int(f.bitpos) // 8 + o, name) for o, name in inner)
            continue
        if ft.code != gdb.TYPE_CODE_PTR:
            continue
        target = ft.target().strip_typedefs()
        if target.code == gdb.TYPE_CODE_STRUCT and target.tag in ("_object", "_typeobject"):
            out.append((int(f.bitpos) // 8, PYTHON_NAMES.get(f.name or "", f.name or "")))
    return tuple(out)


def layout(version: tuple[int, int]) -> dict[str, Any]:
    """The offsets and sizes host/heapwalk.py reads with, from the debug info."""
    L: dict[str, Any] = {"version": version, "gc_head": _sizeof("PyGC_Head"), "ob_size": _offset("PyVarObject", "ob_size")}
    for key, path in (("tp_name", "tp_name"), ("tp_basicsize", "tp_basicsize"), ("tp_itemsize", "tp_itemsize"),
                      ("tp_flags", "tp_flags"), ("tp_base", "tp_base"), ("tp_dict", "tp_dict"),
                      ("tp_dictoffset", "tp_dictoffset")):
        L[key] = _offset("PyTypeObject", path)
    L["ht_qualname"] = _offset("PyHeapTypeObject", "ht_qualname")
    L["ht_cached_keys"] = _offset("PyHeapTypeObject", "ht_cached_keys")
    L["type_fields"] = tuple(o for o in (_offset("PyHeapTypeObject", "ht_type." + f) if f.startswith("tp_")
                                         else _offset("PyHeapTypeObject", f) for f in TYPE_FIELDS) if o >= 0)
    L["sizeof_type"], L["sizeof_heaptype"] = _sizeof("PyTypeObject"), _sizeof("PyHeapTypeObject")
    L["static_type_presize"] = L["gc_head"] if version < (3, 13) else 0
    L["tuple_items"] = _offset("PyTupleObject", "ob_item")
    L["list_items"], L["list_allocated"] = _offset("PyListObject", "ob_item"), _offset("PyListObject", "allocated")
    L["sizeof_list"] = _sizeof("PyListObject")
    L["dict_keys"], L["dict_values"] = _offset("PyDictObject", "ma_keys"), _offset("PyDictObject", "ma_values")
    L["dict_used"], L["set_used"] = _offset("PyDictObject", "ma_used"), _offset("PySetObject", "used")
    L["sizeof_dict"] = _sizeof("PyDictObject")
    for key in ("dk_refcnt", "dk_log2_size", "dk_log2_index_bytes", "dk_kind", "dk_nentries", "dk_usable", "dk_indices"):
        L[key] = _offset("PyDictKeysObject", key)
    L["sizeof_keys"] = _sizeof("PyDictKeysObject")
    L["entry_general"], L["entry_unicode"] = _sizeof("PyDictKeyEntry"), _sizeof("PyDictUnicodeEntry")
    L["values_values"] = _offset("PyDictValues", "values")
    L["values_embedded"] = _offset("PyDictValues", "embedded") if version >= (3, 13) else -1
    L["values_valid"] = _offset("PyDictValues", "valid") if version >= (3, 13) else -1
    L["set_mask"], L["set_table"] = _offset("PySetObject", "mask"), _offset("PySetObject", "table")
    L["set_smalltable"], L["sizeof_set"] = _offset("PySetObject", "smalltable"), _sizeof("PySetObject")
    # setobject.c exports _PySet_Dummy for gdb; the static it points at can be "optimized out"
    # where the target stopped (forky's release 3.14 in clock_nanosleep, seen 2026-12-02).
    L["set_dummy"] = _first_address("_PySet_Dummy", "&_dummy_struct")
    L["str_length"], L["str_state"] = _offset("PyASCIIObject", "length"), _offset("PyASCIIObject", "state")
    for key in ("kind", "compact", "ascii"):
        L["st_%s_shift" % key] = _bitfield_shift("PyASCIIObject", "state", key)
    L["st_compact_mask"], L["st_ascii_mask"] = 1 << L["st_compact_shift"], 1 << L["st_ascii_shift"]
    if L["str_length"] != 16 or L["ob_size"] != 16:
        raise Refused("--read-only: this interpreter's objects are laid out unlike CPython's (a str's length at %d); "
                      "nothing was read" % L["str_length"])
    L["sizeof_ascii"], L["sizeof_compact"] = _sizeof("PyASCIIObject"), _sizeof("PyCompactUnicodeObject")
    L["sizeof_unicode"], L["str_data"] = _sizeof("PyUnicodeObject"), _offset("PyUnicodeObject", "data")
    L["str_utf8"] = _offset("PyCompactUnicodeObject", "utf8")
    L["str_utf8_length"] = _offset("PyCompactUnicodeObject", "utf8_length")
    L["str_wstr"] = _offset("PyASCIIObject", "wstr") if version == (3, 11) else -1
    L["str_wstr_length"] = _offset("PyCompactUnicodeObject", "wstr_length") if version == (3, 11) else -1
    L["long_tag"] = _offset("PyLongObject", "long_value.lv_tag") if version >= (3, 12) else -1
    L["long_digits"] = _offset("PyLongObject", "long_value.ob_digit" if version >= (3, 12) else "ob_digit")
    L["md_dict"] = _offset("PyModuleObject", "md_dict")
    L["bytearray_alloc"] = _offset("PyByteArrayObject", "ob_alloc")
    L["func_dict"] = _offset("PyFunctionObject", "func_dict")
    L["member_sizeof"] = _sizeof("PyMemberDef")
    L["member_type"], L["member_offset"] = _offset("PyMemberDef", "type"), _offset("PyMemberDef", "offset")
    L["managed_dict"] = -3 * 8
    L.update(f_heaptype=1 << 9, f_gc=1 << 14, f_type_subclass=1 << 31, f_managed_dict=1 << 4,
             f_preheader=(1 << 4) if version == (3, 11) else (1 << 3) | (1 << 4),
             f_inline_values=(1 << 2) if version >= (3, 13) else 0)
    for symbol, key in (("PyUnicode_Type", "type_str"), ("PyModule_Type", "type_module"), ("PyDict_Type", "type_dict"),
                        ("PyFunction_Type", "type_function"), ("PyType_Type", "type_type"), ("PyList_Type", "type_list")):
        L[key] = _address("&" + symbol)
    static_builtins(L, version)
    return L


def roots(version: tuple[int, int]) -> dict[str, Any]:
    """The main interpreter's generation lists, sys.modules, builtins and gc.garbage, and the core types' shapes."""
    interp = "_PyRuntime.interpreters.main"
    generations = [_address("&%s->gc.generations[%d].head" % (interp, i)) for i in range(3)]
    modules = _address("%s->%s" % (interp, "modules" if version == (3, 11) else "imports.modules"))
    shapes, fields, field_names = {}, {}, {}
    for symbol, shape in SHAPES.items():
        shapes[_address("&" + symbol)] = shape
    for symbol, struct_name in FIELD_STRUCTS.items():
        try:
            address = int(gdb.parse_and_eval("(unsigned long)&%s" % symbol))
        except gdb.error:
            continue
        shapes[address] = H.FIELDS
        named = _object_fields(struct_name)
        fields[address] = tuple(o for o, _ in named)
        field_names[address] = dict(named)
    return {"generations": generations, "modules": modules, "builtins": _address(interp + "->builtins"),
            "garbage": _address(interp + "->gc.garbage"), "shapes": shapes, "fields": fields,
            "field_names": field_names}


def static_builtins(L: dict[str, Any], version: tuple[int, int]) -> None:
    """3.12+: where a static builtin class keeps its __dict__ (the interpreter's table, by tp_subclasses - 1)."""
    L["static_builtins"] = -1
    if version < (3, 12):
        return
    table = "_PyRuntime.interpreters.main->types.builtins" + (".initialized" if version >= (3, 13) else "")
    try:
        L["static_builtins"] = int(gdb.parse_and_eval("(unsigned long)&%s[0]" % table))
        L["static_builtin_sizeof"] = int(gdb.parse_and_eval("sizeof(%s[0])" % table))
        L["static_builtins_count"] = int(gdb.parse_and_eval("sizeof(%s) / sizeof(%s[0])" % (table, table)))
        L["static_builtin_dict"] = int(gdb.parse_and_eval("(char *)&%s[0].tp_dict - (char *)&%s[0]" % (table, table)))
        L["tp_subclasses"] = _offset("PyTypeObject", "tp_subclasses")
    except gdb.error:
        L["static_builtins"] = -1


def require_supported(version: tuple[int, int]) -> None:
    if version not in SUPPORTED:
        raise Refused(
            "--read-only reads CPython %s; this target runs %d.%d, which it cannot read yet; nothing was read"
            % (", ".join("%d.%d" % v for v in SUPPORTED), version[0], version[1])
        )
    try:
        gdb.parse_and_eval("_PyRuntime.interpreters.main")
    except gdb.error:
        _type("PyInterpreterState")
        raise Refused("--read-only: gdb cannot read _PyRuntime (no debug info for the interpreter); nothing was read") from None


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
