"""Python 2.7's str, int and dict read as bytes, for py-memtop's thread names (rawmem.py reads 3.6+).

The same idea as rawmem.Objects, with 2.7's layouts, taken from the debug info: PyStringObject
(ob_size, then the bytes at ob_sval), PyIntObject (ob_ival) and PyDictObject (an open table of
ma_mask + 1 PyDictEntry {me_hash, me_key, me_value} at ma_table).  Through the helper's proxy
objects, 300 threads' names took 1.2 s of a 1.46 s py-memtop (2026-12-02)."""

from __future__ import annotations

from collections.abc import Iterator

from .rawmem import MAX_ENTRIES, LayoutUnknown, Memory, Struct, TypeKinds, uint

# Py_TPFLAGS_INT_SUBCLASS, _STRING_SUBCLASS and _DICT_SUBCLASS as 2.7 numbers them
_KINDS = {"int": 1 << 23, "str": 1 << 27, "dict": 1 << 29}


class Objects27(TypeKinds):
    """Reads one 2.7 target's str, int and dict objects, and instances' __dict__, per command."""

    KIND_FLAGS = _KINDS

    def __init__(self) -> None:
        self.memory = Memory()
        self._ob_type = Struct("PyObject").offset("ob_type")
        kind = Struct("PyTypeObject")
        self._type_size = kind.size
        self._tp_name = kind.offset("tp_name")
        self._tp_flags = kind.sized("tp_flags")
        self._tp_dictoffset = kind.offset("tp_dictoffset")
        string = Struct("PyStringObject")
        self._ob_size, self._sval = string.offset("ob_size"), string.offset("ob_sval")
        self._ival = Struct("PyIntObject").offset("ob_ival")
        table = Struct("PyDictObject")
        self._ma_mask, self._ma_table = table.offset("ma_mask"), table.offset("ma_table")
        entry = Struct("PyDictEntry")
        self._entry, self._me_key, self._me_value = entry.size, entry.offset("me_key"), entry.offset("me_value")
        self._kinds = {}

    def text(self, address: int, limit: int, more: str = "...") -> str | None:
        """An exact str's first `limit` bytes as latin-1 (as the helper shows 2.7's strs)."""
        if not address or self.kind_of(address) != "str":
            return None
        size = int.from_bytes(self.memory.read(address + self._ob_size, 8), "little", signed=True)
        if size < 0:
            return None
        value = self.memory.read(address + self._sval, min(size, limit)).decode("latin-1") if size else ""
        return value if size <= limit else value + more

    def integer(self, address: int) -> int | None:
        if not address or self.kind_of(address) != "int":
            return None
        return int.from_bytes(self.memory.read(address + self._ival, 8), "little", signed=True)

    def attributes(self, address: int) -> Iterator[tuple[int, int]] | None:
        """(key, value) addresses of a new-style instance's __dict__; None for other layouts."""
        head = self.memory.read(self.type_of(address), self._type_size)
        offset = int.from_bytes(head[self._tp_dictoffset : self._tp_dictoffset + 8], "little", signed=True)
        if offset <= 0:
            return None  # none, or counted from a variable-sized object's end: the helper's
        found = self.memory.pointer(address + offset)
        return self.dict_items(found) if found and self.is_dict(found) else iter(())

    def is_dict(self, address: int) -> bool:
        if not address:
            return False
        at, size = self._tp_flags
        return bool(uint(self.memory.read(self.type_of(address) + at, size), 0, size) & _KINDS["dict"])

    def dict_items(self, address: int) -> Iterator[tuple[int, int]]:
        """(key, value) object addresses of a dict's used slots, in table order."""
        mask = int.from_bytes(self.memory.read(address + self._ma_mask, 8), "little", signed=True)
        if not 0 <= mask < MAX_ENTRIES:
            return  # corrupt
        table = self.memory.read(self.memory.pointer(address + self._ma_table), (mask + 1) * self._entry)
        for at in range(0, len(table), self._entry):
            key, value = uint(table, at + self._me_key), uint(table, at + self._me_value)
            if key and value:  # an empty slot has no key; a deleted one no value
                yield key, value

    def keys_items(self, keys: int, values: int) -> Iterator[tuple[int, int]]:
        return iter(())  # 2.7 has no split tables


def objects27() -> Objects27 | None:
    """An Objects27, or None where the debug info lacks one of its layouts."""
    try:
        return Objects27()
    except LayoutUnknown:
        return None
