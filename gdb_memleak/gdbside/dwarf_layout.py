"""CPython's struct layouts for the memory backend, read from the interpreter's debug info (issue 16).

`offsets(version)` gives every offset, size and flag host/heapwalk.py and host/cyclewalk.py
read with, and where the interpreter keeps its collector's lists, `sys.modules` and builtins
(offsets from `_PyRuntime` and the interpreter): numbers only, no address, so that the same
dict can be kept for a build without debug info (host/layouts/*.json, checked there against
the build's own `_Py_DebugOffsets`, host/layout_tables.py).  `debug_offsets()` reads that
struct for the tables.  Nothing here runs code in the target.
"""

from __future__ import annotations

from typing import Any

import gdb

from ..errors import Refused

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


def available(version: tuple[int, int]) -> bool:
    """Whether gdb reads the interpreter's debug info (its runtime's type and the runtime itself)."""
    try:
        gdb.parse_and_eval("interp_head" if version == (2, 7) else "_PyRuntime.interpreters.main")
        gdb.lookup_type("PyTypeObject")
        return True
    except gdb.error:
        return False


def _type(name: str) -> gdb.Type:
    try:
        return gdb.lookup_type(name)
    except gdb.error:
        raise Refused(
            "--read-only needs the interpreter's debug info (the layout of %s), which gdb does not have "
            "for this target; nothing was read (without --read-only, the command runs in a live process)" % name
        ) from None


PENDING_MUTEX = "ceval.pending_mainthread.mutex"


def pending_mutex_offset() -> int:
    """Where in `_PyRuntime` 3.13+ keep the PyMutex Py_AddPendingCall takes; -1 if the debug info does not say."""
    try:
        return int(gdb.parse_and_eval("(unsigned long)&((_PyRuntimeState *)0)->" + PENDING_MUTEX))
    except gdb.error:
        return -1


def _offset(struct_name: str, path: str) -> int:
    """offsetof(struct_name, path); path may go through nested fields ('state', 'long_value.lv_tag'); -1 if none."""
    try:
        return int(gdb.parse_and_eval("(unsigned long)&((%s *)0)->%s" % (struct_name, path)))
    except gdb.error:
        _type(struct_name)
        return -1


def _sizeof(name: str) -> int:
    return int(_type(name).sizeof)


def _number(expression: str) -> int:
    try:
        return int(gdb.parse_and_eval(expression))
    except gdb.error:
        return -1


def _bitfield_shift(struct_name: str, member: str, bit: str) -> int:
    """The bit of `member`.`bit` within its 32-bit word (a str's state)."""
    field = [f for f in _type(struct_name).strip_typedefs().fields() if f.name == member][0]
    assert field.type is not None
    sub = [f for f in field.type.strip_typedefs().fields() if f.name == bit][0]
    return int(sub.bitpos or 0)


def object_fields(struct_name: str) -> list[tuple[int, str]]:
    """(offset, name) of the fields of `struct_name` that point to objects (not weak references)."""
    try:
        t = gdb.lookup_type(struct_name).strip_typedefs()
    except gdb.error:
        return []
    out: list[tuple[int, str]] = []
    for f in t.fields():
        # ob_type: the walks add an instance's class themselves (host/cyclewalk.py counts it once)
        if f.bitpos is None or f.type is None or "weakreflist" in (f.name or "") or f.name == "ob_type":
            continue
        if struct_name in ONLY_FIELDS and f.name not in ONLY_FIELDS[struct_name]:
            continue
        ft = f.type.strip_typedefs()
        if ft.code == gdb.TYPE_CODE_STRUCT and f.name in ("ob_base", "d_common", "func"):
            inner = object_fields(str(f.type))
            out.extend((int(f.bitpos) // 8 + o, name) for o, name in inner)
            continue
        if ft.code != gdb.TYPE_CODE_PTR:
            continue
        target = ft.target().strip_typedefs()
        if target.code == gdb.TYPE_CODE_STRUCT and target.tag in ("_object", "_typeobject"):
            out.append((int(f.bitpos) // 8, PYTHON_NAMES.get(f.name or "", f.name or "")))
    return out


# 2.7: the classes of its own whose object pointers the collector follows
FIELD_STRUCTS_27 = dict(FIELD_STRUCTS, PyInstance_Type="PyInstanceObject", PyClass_Type="PyClassObject",
                        PyDictProxy_Type="proxyobject")


def offsets(version: tuple[int, int]) -> dict[str, Any]:
    """The offsets and sizes the walks read with, from the debug info (see the module's docstring)."""
    if version == (2, 7):
        return offsets27()
    L: dict[str, Any] = {"version": version, "gc_head": _sizeof("PyGC_Head"), "ob_size": _offset("PyVarObject", "ob_size")}
    for key in ("tp_name", "tp_basicsize", "tp_itemsize", "tp_flags", "tp_base", "tp_dict", "tp_dictoffset",
                "tp_subclasses"):
        L[key] = _offset("PyTypeObject", key)
    L["ht_qualname"] = _offset("PyHeapTypeObject", "ht_qualname")
    L["ht_cached_keys"] = _offset("PyHeapTypeObject", "ht_cached_keys")
    L["type_fields"] = [o for o in (_offset("PyHeapTypeObject", "ht_type." + f) if f.startswith("tp_")
                                    else _offset("PyHeapTypeObject", f) for f in TYPE_FIELDS) if o >= 0]
    L["sizeof_type"], L["sizeof_heaptype"] = _sizeof("PyTypeObject"), _sizeof("PyHeapTypeObject")
    # sys.getsizeof of a static class: 3.11 and 3.12 add a collector's header, 3.8-3.10 and 3.13+ do not (measured)
    L["static_type_presize"] = L["gc_head"] if (3, 11) <= version < (3, 13) else 0
    L["tuple_items"] = _offset("PyTupleObject", "ob_item")
    L["list_items"], L["list_allocated"] = _offset("PyListObject", "ob_item"), _offset("PyListObject", "allocated")
    L["sizeof_list"] = _sizeof("PyListObject")
    L["dict_keys"], L["dict_values"] = _offset("PyDictObject", "ma_keys"), _offset("PyDictObject", "ma_values")
    L["dict_used"], L["set_used"] = _offset("PyDictObject", "ma_used"), _offset("PySetObject", "used")
    L["sizeof_dict"] = _sizeof("PyDictObject")
    # 3.8-3.10: dk_size itself, every entry (hash, key, value), a split table's values a bare array
    for key in ("dk_refcnt", "dk_size", "dk_log2_size", "dk_log2_index_bytes", "dk_kind", "dk_nentries", "dk_usable",
                "dk_indices"):
        L[key] = _offset("PyDictKeysObject", key)
    L["sizeof_keys"] = _sizeof("PyDictKeysObject")
    L["entry_general"] = _sizeof("PyDictKeyEntry")
    L["entry_unicode"] = _sizeof("PyDictUnicodeEntry") if version >= (3, 11) else L["entry_general"]
    L["values_values"] = _offset("PyDictValues", "values") if version >= (3, 11) else 0
    L["values_embedded"] = _offset("PyDictValues", "embedded") if version >= (3, 13) else -1
    L["values_valid"] = _offset("PyDictValues", "valid") if version >= (3, 13) else -1
    L["set_mask"], L["set_table"] = _offset("PySetObject", "mask"), _offset("PySetObject", "table")
    L["set_smalltable"], L["sizeof_set"] = _offset("PySetObject", "smalltable"), _sizeof("PySetObject")
    L["set_entry"], L["set_entry_key"] = _sizeof("setentry"), _offset("setentry", "key")
    _strs(L, version)
    L["long_tag"] = _offset("PyLongObject", "long_value.lv_tag") if version >= (3, 12) else -1
    L["int_min_digits"] = 1 if version >= (3, 11) else 0  # int.__sizeof__ counts one digit for 0 since 3.11
    L["long_digits"] = _offset("PyLongObject", "long_value.ob_digit" if version >= (3, 12) else "ob_digit")
    L["md_dict"] = _offset("PyModuleObject", "md_dict")
    L["bytearray_alloc"] = _offset("PyByteArrayObject", "ob_alloc")
    L["func_dict"] = _offset("PyFunctionObject", "func_dict")
    L["member_sizeof"] = _sizeof("PyMemberDef")
    L["member_type"], L["member_offset"] = _offset("PyMemberDef", "type"), _offset("PyMemberDef", "offset")
    L["managed_dict"] = -3 * 8
    # before 3.11 no object has a managed dict or a pre-header
    L.update(f_heaptype=1 << 9, f_gc=1 << 14, f_type_subclass=1 << 31, f_managed_dict=(1 << 4) if version >= (3, 11) else 0,
             f_preheader=0 if version < (3, 11) else (1 << 4) if version == (3, 11) else (1 << 3) | (1 << 4),
             f_inline_values=(1 << 2) if version >= (3, 13) else 0)
    _interpreter(L, version)
    L["struct_fields"] = {symbol: object_fields(struct) for symbol, struct in FIELD_STRUCTS.items()}
    return L


def _strs(L: dict[str, Any], version: tuple[int, int]) -> None:
    L["str_length"], L["str_state"] = _offset("PyASCIIObject", "length"), _offset("PyASCIIObject", "state")
    for key in ("kind", "compact", "ascii"):
        L["st_%s_shift" % key] = _bitfield_shift("PyASCIIObject", "state", key)
    L["st_compact_mask"], L["st_ascii_mask"] = 1 << L["st_compact_shift"], 1 << L["st_ascii_shift"]
    L["sizeof_ascii"], L["sizeof_compact"] = _sizeof("PyASCIIObject"), _sizeof("PyCompactUnicodeObject")
    L["sizeof_unicode"], L["str_data"] = _sizeof("PyUnicodeObject"), _offset("PyUnicodeObject", "data")
    L["str_utf8"] = _offset("PyCompactUnicodeObject", "utf8")
    L["str_utf8_length"] = _offset("PyCompactUnicodeObject", "utf8_length")
    L["str_wstr"] = _offset("PyASCIIObject", "wstr") if version <= (3, 11) else -1
    L["str_wstr_length"] = _offset("PyCompactUnicodeObject", "wstr_length") if version <= (3, 11) else -1


def _interpreter(L: dict[str, Any], version: tuple[int, int]) -> None:
    """Where the main interpreter, its collector's lists, sys.modules, builtins and gc.garbage are, as offsets:
    from `_PyRuntime` to the main interpreter's pointer, and from the interpreter (3.8: the runtime) on."""
    L["runtime_interp_main"] = _offset("_PyRuntimeState", "interpreters.main")
    # 3.13+: the PyMutex Py_AddPendingCall takes (inject/in_place.py reads it at each stop)
    L["runtime_pending_mutex"] = _offset("_PyRuntimeState", PENDING_MUTEX) if version >= (3, 13) else -1
    gc_owner = "_PyRuntimeState" if version == (3, 8) else "PyInterpreterState"  # 3.9 moved the collector's state
    L["gc_in_runtime"] = version == (3, 8)
    L["gc_generations"] = _offset(gc_owner, "gc.generations")
    L["gc_garbage"] = _offset(gc_owner, "gc.garbage")
    L["gc_generation_sizeof"] = _sizeof("struct gc_generation")
    L["interp_modules"] = _offset("PyInterpreterState", "modules" if version <= (3, 11) else "imports.modules")
    L["interp_builtins"] = _offset("PyInterpreterState", "builtins")
    # 3.12+: where a static builtin class keeps its __dict__ (the interpreter's table, by tp_subclasses - 1)
    L["static_builtins_at"] = -1
    if version >= (3, 12):
        table = "((PyInterpreterState *)0)->types.builtins" + (".initialized" if version >= (3, 13) else "")
        L["static_builtins_at"] = _number("(unsigned long)&%s[0]" % table)
        L["static_builtin_sizeof"] = _number("sizeof(%s[0])" % table)
        L["static_builtins_count"] = _number("sizeof(%s) / sizeof(%s[0])" % (table, table))
        L["static_builtin_dict"] = _number("(char *)&%s[0].tp_dict - (char *)&%s[0]" % (table, table))


def debug_offsets() -> list[list[Any]]:
    """[name, position, value] of every number in this runtime's `_Py_DebugOffsets` (3.13+) but its version:
    what a build without debug info must show for a table made here to fit it.  [] before 3.13."""
    try:
        value = gdb.parse_and_eval("_PyRuntime.debug_offsets")
    except gdb.error:
        return []
    out: list[list[Any]] = []

    def walk(v: gdb.Value, t: gdb.Type, name: str, base: int) -> None:
        for f in t.strip_typedefs().fields():
            ft = f.type.strip_typedefs() if f.type is not None else None
            field = f.name
            if ft is None or f.bitpos is None or field is None or field in ("cookie", "version"):
                continue
            at = base + int(f.bitpos) // 8
            if ft.code == gdb.TYPE_CODE_STRUCT:
                walk(v[field], ft, name + field + ".", at)
            elif ft.code == gdb.TYPE_CODE_INT and ft.sizeof == 8:
                out.append([name + field, at, int(v[field])])

    walk(value, value.type, "", 0)
    return out


def offsets27() -> dict[str, Any]:
    """Python 2.7's: a 32-byte collector's header, str as bytes (PyStringObject), unicode with its characters
    apart, dicts and sets as open tables of (hash, key[, value]) entries, the heap's roots in statics
    (`interp_head`, gcmodule.c's `generations` and `garbage`); host/pyobjects27.py reads with them."""
    L: dict[str, Any] = {"version": (2, 7), "gc_head": _sizeof("PyGC_Head"), "ob_size": _offset("PyVarObject", "ob_size")}
    for key in ("tp_name", "tp_basicsize", "tp_itemsize", "tp_flags", "tp_base", "tp_dict", "tp_dictoffset",
                "tp_subclasses"):
        L[key] = _offset("PyTypeObject", key)
    L["ht_qualname"] = _offset("PyHeapTypeObject", "ht_name")
    L["ht_cached_keys"] = -1
    L["type_fields"] = [o for o in (_offset("PyTypeObject", f) for f in TYPE_FIELDS if f.startswith("tp_")) if o >= 0]
    L["sizeof_type"], L["sizeof_heaptype"] = _sizeof("PyTypeObject"), _sizeof("PyHeapTypeObject")
    L["static_type_presize"] = 0
    L["tuple_items"] = _offset("PyTupleObject", "ob_item")
    L["list_items"], L["list_allocated"] = _offset("PyListObject", "ob_item"), _offset("PyListObject", "allocated")
    L["sizeof_list"] = _sizeof("PyListObject")
    L["dict_used"], L["dict_mask"] = _offset("PyDictObject", "ma_used"), _offset("PyDictObject", "ma_mask")
    L["dict_table"], L["dict_smalltable"] = _offset("PyDictObject", "ma_table"), _offset("PyDictObject", "ma_smalltable")
    L["sizeof_dict"], L["entry_general"] = _sizeof("PyDictObject"), _sizeof("PyDictEntry")
    L["set_used"], L["set_mask"], L["set_table"] = (_offset("PySetObject", f) for f in ("used", "mask", "table"))
    L["set_smalltable"], L["sizeof_set"] = _offset("PySetObject", "smalltable"), _sizeof("PySetObject")
    L["set_entry"], L["set_entry_key"] = _sizeof("setentry"), _offset("setentry", "key")
    L["bytes_data"] = _offset("PyStringObject", "ob_sval")
    L["str_length"], L["sizeof_unicode"] = _offset("PyUnicodeObject", "length"), _sizeof("PyUnicodeObject")
    L["unicode_char"] = _sizeof("Py_UNICODE")
    L["str_state"], L["sizeof_ascii"], L["st_compact_mask"], L["st_ascii_mask"] = 0, 0, 0, 0  # no compact strs
    L["long_tag"], L["long_digits"], L["int_min_digits"] = -1, _offset("PyLongObject", "ob_digit"), 0
    L["interp_next"] = _offset("PyInterpreterState", "next")
    L["md_dict"] = _offset("PyModuleObject", "md_dict")
    L["bytearray_alloc"] = _offset("PyByteArrayObject", "ob_alloc")
    L["func_dict"] = _offset("PyFunctionObject", "func_dict")
    L["member_sizeof"] = _sizeof("PyMemberDef")
    L["member_type"], L["member_offset"] = _offset("PyMemberDef", "type"), _offset("PyMemberDef", "offset")
    L["managed_dict"], L["values_valid"] = 0, -1
    L.update(f_heaptype=1 << 9, f_gc=1 << 14, f_type_subclass=1 << 31, f_managed_dict=0, f_preheader=0,
             f_inline_values=0)
    L["gc_generation_sizeof"] = _sizeof("struct gc_generation")
    L["interp_modules"] = _offset("PyInterpreterState", "modules")
    L["interp_builtins"] = _offset("PyInterpreterState", "builtins")
    L["static_builtins_at"] = -1
    L["struct_fields"] = {symbol: object_fields(struct) for symbol, struct in FIELD_STRUCTS_27.items()}
    return L
