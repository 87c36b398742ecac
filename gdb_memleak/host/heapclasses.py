"""The classes a read-only heap walk meets (host/heapwalk.py): what each is, read once from the image.

For each class address: the kind's name as the injected census gives it (payloads/heap.py:
the `types` and `builtins` modules' names, `module`, `function`, `dict (no owner)`, a heap
class's `__module__` and `__qualname__`, a static class's `tp_name`), the shape of its objects
(how they are sized and what they refer to, from the first base the gdb side knows), the
collector's flag, the pre-header, and where an instance keeps its dict and slots.  No gdb.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Optional

from .memimage import Unreadable
from .pyobjects import Layout, Reader

# shapes: how an object's size and references are read
(PLAIN, VAR, STR, INT, TUPLE, LIST, DICT, SET, MODULE, TYPE, FIELDS, BYTEARRAY) = range(12)
_MISSING: Any = object()  # a class not learnt yet


class TypeInfo:
    """What is known of one class: its kind's name, how its objects are sized and what they refer to."""

    __slots__ = ("name", "shape", "basic", "item", "presize", "gc", "heap", "slots", "dictoffset", "managed",
                 "inline", "fields", "count", "size", "owner_kind", "nvalues", "slot_span", "pick_slots",
                 "slot_names", "field_names")

    def __init__(self) -> None:
        self.name = "?"
        self.shape = PLAIN
        self.basic = self.item = self.presize = self.dictoffset = 0
        self.gc = self.heap = self.managed = self.inline = False
        self.count = 0
        self.size = 0
        self.slots: tuple[int, ...] = ()
        self.fields: tuple[int, ...] = ()
        self.field_names: dict[int, str] = {}  # offset -> the attribute Python shows (FIELDS only)
        self.owner_kind: Optional[str] = None
        self.nvalues = -1
        self.slot_span = 0
        self.slot_names: tuple[tuple[str, int], ...] = ()
        self.pick_slots: Any = None


class Classes:
    """The TypeInfo of each class address met, and the names of the well-known ones."""

    def __init__(self, reader: Reader, roots: dict[str, Any]) -> None:
        self.r = reader
        self.L: Layout = reader.L
        self.roots = roots
        self.types: dict[int, Optional[TypeInfo]] = {}
        self.names: dict[int, str] = {}
        self.shapes: dict[int, int] = dict(roots["shapes"])  # static class address -> shape
        self.fields: dict[int, tuple[int, ...]] = roots.get("fields", {})

    def learn_names(self) -> None:
        """guppy's names for the classes of the `types` and `builtins` modules, as payloads/heap.py gives them."""
        r, L = self.r, self.L
        names: dict[int, str] = {}
        modules = self.roots.get("modules")
        sources = []
        if modules:
            m = _try(r.dict_get, modules, "types")
            if m and r.head(m)[1] == L["type_module"]:
                sources.append((r.word(m + L["md_dict"]), "types."))
        if self.roots.get("builtins"):
            sources.append((self.roots["builtins"], ""))
        for d, prefix in sources:
            items = _try(r.dict_items, d) or []
            texts = ((r.text(items[i]), items[i + 1]) for i in range(0, len(items), 2))
            named = sorted((key, value) for key, value in texts if key is not None)
            for key, value in named:  # by name, the last one kept, as the payloads do (aliases: one name)
                if prefix and key.startswith("_"):
                    continue
                info = self.info(_try(lambda a: r.head(a)[1], value) or 0)
                if info is not None and info.shape == TYPE:
                    names[value] = prefix + key
        names[L["type_module"]] = "module"
        names[L["type_function"]] = "function"
        names[L["type_dict"]] = "dict (no owner)"
        self.names = names
        self.types.clear()  # classes met above were named without these names

    def kind_name(self, t: int, flags: int, tp_name: str) -> str:
        name = self.names.get(t)
        if name is not None:
            return name
        r, L = self.r, self.L
        if flags & L["f_heaptype"]:
            qual = r.text(r.word(t + L["ht_qualname"])) or tp_name
            mod = None
            tdict = r.word(t + L["tp_dict"])
            if tdict:
                v = _try(r.dict_get, tdict, "__module__")
                mod = r.text(v) if v else None
            return mod + "." + qual if mod and mod not in ("builtins", "__builtin__") else qual
        if tp_name.startswith("builtins."):
            return tp_name[len("builtins."):]
        return tp_name

    # ------------------------------------------------------------ classes
    def info(self, t: int) -> Optional[TypeInfo]:
        """The TypeInfo of the class at `t`, learnt at first sight; None if `t` is not a class."""
        found = self.types.get(t, _MISSING)
        if found is not _MISSING:
            return found
        try:
            info = self._learn(t)
        except Unreadable:
            info = None
        self.types[t] = info
        return info

    def _is_class(self, t: int) -> bool:
        """t's own class is `type` or a subclass of it, within a few steps."""
        L = self.L
        meta = self.r.head(t)[1]
        for _ in range(8):
            if meta == L["type_type"]:
                return True
            if meta == 0 or meta & 7:
                return False
            flags = self.r.word(meta + L["tp_flags"])
            if not flags & L["f_type_subclass"]:
                return False
            meta = self.r.word(meta + L["tp_base"])
        return False

    def _learn(self, t: int) -> Optional[TypeInfo]:
        r, L = self.r, self.L
        if t == 0 or t & 7 or not self._is_class(t):
            return None
        info = TypeInfo()
        flags = r.word(t + L["tp_flags"])
        info.basic = r.sword(t + L["tp_basicsize"])
        info.item = r.sword(t + L["tp_itemsize"])
        info.gc = bool(flags & L["f_gc"])
        info.heap = bool(flags & L["f_heaptype"])
        info.presize = (L["gc_head"] if info.gc else 0) + (16 if flags & L["f_preheader"] else 0)
        info.managed = bool(flags & L["f_managed_dict"])
        info.inline = bool(flags & L["f_inline_values"])
        info.dictoffset = r.sword(t + L["tp_dictoffset"]) if info.heap else 0
        info.name = self.kind_name(t, flags, r.cstring(r.word(t + L["tp_name"])))
        shape, base, slots, counted = None, t, [], False
        for _ in range(64):
            if base == 0:
                break
            shape = self.shapes.get(base)
            if shape is not None:
                info.fields = self.fields.get(base, ())
                info.field_names = self.roots.get("field_names", {}).get(base, {})
                break
            base_flags = r.word(base + L["tp_flags"])
            if base_flags & L["f_heaptype"]:
                slots.extend(self._slots(base))
            elif r.sword(base + L["tp_itemsize"]) and not base_flags & L["f_gc"]:
                counted = True  # a static class of items the collector does not track (bytes): ob_size counts them
            base = r.word(base + L["tp_base"])
        if shape is None or (shape == PLAIN and info.item and counted):
            # (object's PLAIN reached through the bases: bytes and its subclasses are sized by their items; they
            # were counted at their empty size, 33 bytes a bytes object: a user's trial.  Not a tracked static
            # class with items whose ob_size is no count of them: a generator's made it 10^15 bytes)
            shape = VAR if info.item else PLAIN
        info.shape = shape
        info.slot_names = tuple((n, o) for n, o in slots if o > 0 and not o & 7)
        info.slots = tuple(o for _, o in info.slot_names)
        if info.slots:
            info.slot_span = max(info.slots) // 8 + 1
            picked = itemgetter(*(s >> 3 for s in info.slots))
            info.pick_slots = picked if len(info.slots) > 1 else (lambda span: (picked(span),))
        # a metaclass's tp_dictoffset points at tp_dict: a class's dict is read as a class's (the walks' TYPE)
        if info.heap and (info.managed or info.dictoffset) and shape != TYPE:
            info.owner_kind = "dict of " + info.name
        return info

    def _slots(self, t: int) -> list[tuple[str, int]]:
        """(name, offset) of the object slots (__slots__) a heap class adds: its member table, after the class."""
        r, L = self.r, self.L
        count = r.sword(t + L["ob_size"])
        if count <= 0 or count > 4096:
            return []
        members = t + r.sword(r.head(t)[1] + L["tp_basicsize"])
        out = []
        for i in range(count):
            m = members + i * L["member_sizeof"]
            kind = r.u32(m + L["member_type"])
            if kind in (6, 16):  # T_OBJECT, T_OBJECT_EX
                out.append((r.cstring(r.word(m), 100), r.sword(m + L["member_offset"])))
        return out

    # ------------------------------------------------------------ instances
    def dict_offset(self, a: int, info: TypeInfo) -> int:
        """Where an instance's __dict__ pointer is: tp_dictoffset, counted from the end of a variable-size object
        when negative (an int or tuple subclass with a __dict__)."""
        if info.dictoffset > 0:
            return info.dictoffset
        r, L = self.r, self.L
        size = r.sword(a + L["ob_size"])
        if info.shape == INT:
            size = (r.word(a + L["long_tag"]) >> 3) if L["long_tag"] >= 0 else abs(size)
        return ((info.basic + info.item * abs(size) + 7) & ~7) + info.dictoffset

    def instance_dict(self, a: int, info: TypeInfo) -> int:
        """An instance's materialised __dict__, or 0."""
        r, L = self.r, self.L
        if info.managed:
            if info.inline and r.byte(a + info.basic + L["values_valid"]):
                # valid inline values and a dict made from them: 3.13's collector visits the values (the dict
                # shares them, visiting nothing), 3.14's the dict (which visits them); gc.get_referents says so
                return 0 if L["version"] < (3, 14) else r.word(a + L["managed_dict"])
            d = r.word(a + L["managed_dict"])
            return 0 if L["version"] == (3, 12) and d & 1 else d  # 3.12: a tagged pointer to values instead
        if info.dictoffset:
            return r.word(a + self.dict_offset(a, info))
        return 0

    def instance_items(self, a: int, info: TypeInfo) -> list[int]:
        """An instance's attribute names and values, alternating: its __dict__'s, or its values' with its class's
        shared keys; [] if it has neither."""
        r = self.r
        d = self.instance_dict(a, info)
        if d:
            return r.dict_items(d)
        values = self.instance_values(a, info)
        if values is None:
            return []
        keys = r.word(r.head(a)[1] + self.L["ht_cached_keys"])
        return r.table_items(keys, values) if keys else []

    def instance_values(self, a: int, info: TypeInfo) -> Optional[int]:
        """The attribute values (a PyDictValues) of an instance with no materialised __dict__, or None:
        3.11 keeps them before the object, 3.12 in its tagged dict pointer, 3.13 inline after it."""
        r, L = self.r, self.L
        if not info.managed:
            return None
        if info.inline and r.byte(a + info.basic + L["values_valid"]):
            return a + info.basic
        d = r.word(a + L["managed_dict"])
        if L["version"] == (3, 12):
            return d + 1 if d & 1 else None  # PyDictOrValues keeps (char *)values - 1
        if d:
            return None
        if L["version"] == (3, 11):
            return r.word(a + L["managed_dict"] - 8) or None
        return None


def _try(f: Any, *args: Any) -> Any:
    try:
        return f(*args)
    except Unreadable:
        return None
