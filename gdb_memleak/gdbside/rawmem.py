"""The interpreter's structures read as bytes: field offsets from its debug info, one read_memory per struct or table.

The libpython helper reads each field as a gdb.Value and wraps each object in a proxy
whose class it works out from the object's type: 30-150 us an object, against 3-5 us
for a read_memory of a whole struct (measured 2026-12-02, gdb 13, pyenv 3.11).  On 300
threads that was most of py-memtop's stop of the target.  Only memory is read.

Offsets and sizes come from the target's own debug info (gdb.lookup_type), and what a
version lays out differently is mostly told by the fields it has.  The exceptions are
written down where they are: the dict entries and PyHeapTypeObject (not looked up, see
Objects), and the places of 3.11+'s managed dicts (pycore_object.h's, by version).  A
structure whose fields are not all found raises LayoutUnknown, and the caller goes back to
the helper.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gdb

__all__ = ["LayoutUnknown", "Memory", "NotCompact", "Objects", "Struct", "objects_for", "uint"]

# Bounds against corrupt memory.
MAX_ENTRIES = 1 << 20
PAGE = 4096
MAX_PAGES = 8192  # pages kept at most (32 MB of gdb's memory: some 10,000 threads' frames)
MAX_BYTES = 1 << 16  # a line table's bytes read at most
_TPFLAGS_INLINE_VALUES = 1 << 2  # 3.13+
_TPFLAGS_MANAGED_DICT = 1 << 4  # 3.11+
_TPFLAGS_HEAPTYPE = 1 << 9
_BUILTIN_KINDS = {"int": 1 << 24, "bytes": 1 << 27, "str": 1 << 28, "dict": 1 << 29}  # Py_TPFLAGS_*_SUBCLASS


class LayoutUnknown(Exception):
    """The debug info lacks a type or field the raw reader needs."""


class Struct:
    """Offsets and sizes of one struct type's fields (by name), and its size."""

    def __init__(self, typename: str) -> None:
        try:
            kind = gdb.lookup_type(typename).strip_typedefs()
            fields = kind.fields()
        except (gdb.error, RuntimeError, TypeError):
            raise LayoutUnknown(typename) from None
        self.name = typename
        self.size = kind.sizeof
        self.fields: dict[str, Any] = {f.name: f for f in fields if f.name}

    def has(self, name: str) -> bool:
        return name in self.fields

    def offset(self, name: str) -> int:
        if name not in self.fields:
            raise LayoutUnknown("%s.%s" % (self.name, name))
        return int(self.fields[name].bitpos) // 8

    def sized(self, name: str) -> tuple[int, int]:
        """(offset, size in bytes) of a field."""
        return self.offset(name), int(self.fields[name].type.strip_typedefs().sizeof)

    def member(self, name: str) -> Struct:
        """The layout of a field that is itself a struct (offsets relative to that field)."""
        if name not in self.fields:
            raise LayoutUnknown("%s.%s" % (self.name, name))
        inner = Struct.__new__(Struct)
        kind = self.fields[name].type.strip_typedefs()
        inner.name, inner.size = "%s.%s" % (self.name, name), kind.sizeof
        inner.fields = {f.name: f for f in kind.fields() if f.name}
        return inner


class Memory:
    """read_memory by whole pages, each read once: the structs one command reads lie close
    together (a thread's frames, a pool's Thread objects), and gdb reads 4 KB as fast as 8
    bytes (2.4-2.7 us, measured 2026-12-02).  A page holds no more than a read of any byte
    of it would have brought into the target's memory.  For one command: the memory can
    change once the target runs."""

    def __init__(self) -> None:
        self._inferior = gdb.selected_inferior()
        self._pages: dict[int, bytes | None] = {}

    def read(self, address: int, size: int) -> bytes:
        """Raises gdb.MemoryError (a gdb.error) where the target has no such memory."""
        if address <= 0 or size < 0:
            raise gdb.MemoryError("cannot read %d bytes at 0x%x" % (size, address))
        start = address & -PAGE
        if address + size - start <= PAGE:
            if start not in self._pages:
                if len(self._pages) >= MAX_PAGES:
                    self._pages.clear()  # gdb's own memory: a start afresh costs reads, not answers
                try:
                    self._pages[start] = self._inferior.read_memory(start, PAGE).tobytes()
                except gdb.MemoryError:
                    self._pages[start] = None  # read what was asked for (and fail as it fails)
            page = self._pages[start]
            if page is not None:
                return page[address - start : address - start + size]
        return self._inferior.read_memory(address, size).tobytes()

    def pointer(self, address: int) -> int:
        return int.from_bytes(self.read(address, 8), "little")


def uint(data: bytes, offset: int, size: int = 8) -> int:
    return int.from_bytes(data[offset : offset + size], "little")


class TypeKinds:
    """Which built-in type an object is, told by its type object's tp_name and flags (subclasses
    set KIND_FLAGS, name -> Py_TPFLAGS_*_SUBCLASS bit, and the offsets read in __init__)."""

    KIND_FLAGS: dict[str, int] = _BUILTIN_KINDS
    memory: Memory
    _ob_type: int
    _type_size: int
    _tp_name: int
    _tp_flags: tuple[int, int]
    _kinds: dict[int, str | None]

    def type_of(self, address: int) -> int:
        return self.memory.pointer(address + self._ob_type)

    def kind_of(self, address: int) -> str | None:
        """The KIND_FLAGS name of an object of exactly that built-in type, else None."""
        kind = self.type_of(address)
        if kind not in self._kinds:
            head = self.memory.read(kind, self._type_size)
            flags = uint(head, *self._tp_flags)
            name = self._c_string(uint(head, self._tp_name), 8)
            flag = self.KIND_FLAGS.get(name)
            # a static type (not a class statement's) of that name, flagged as that kind
            self._kinds[kind] = name if flag is not None and flags & flag and not flags & _TPFLAGS_HEAPTYPE else None
        return self._kinds[kind]

    def _c_string(self, address: int, limit: int) -> str:
        """A NUL-terminated string of at most `limit` bytes ("" if longer), read a page at a time."""
        out = b""
        while len(out) <= limit:
            chunk = self.memory.read(address, min(PAGE - address % PAGE, limit + 1 - len(out)))
            end = chunk.find(b"\0")
            if end >= 0:
                return (out + chunk[:end]).decode("latin-1")
            out, address = out + chunk, address + len(chunk)
        return ""


class Objects(TypeKinds):
    """Exact str, int, bytes and dict objects of one interpreter, objects' attributes and
    code objects' fields, read as bytes.

    Made per command: the layouts are looked up once, and the pages read are kept for that
    command only."""

    def __init__(self, version: tuple[int, int]) -> None:
        # long: one flat list of layout lookups, each beside its reason; split, they would scatter
        self.memory = Memory()
        self._version = version
        obj = Struct("PyObject")
        self._ob_type = obj.offset("ob_type")
        self._managed_dict = -8 if obj.has("ob_ref_local") else -24  # 3.13+'s MANAGED_DICT_OFFSET (-8: free-threaded)
        # Built-in types are told by their tp_name and flags, read from the type object, not by
        # looking up &PyDict_Type ...: right after the attach, that waited for gdb's indexing of
        # the debug info (35-38 ms, none a second later; pyenv 3.11, measured 2026-12-02).
        self._kinds: dict[int, str | None] = {}
        kind = Struct("PyTypeObject")
        self._type_size = kind.size
        self._tp_name = kind.offset("tp_name")
        self._tp_flags = kind.sized("tp_flags")
        self._tp_basicsize = kind.offset("tp_basicsize")
        self._tp_dictoffset = kind.offset("tp_dictoffset")
        self._tp_as_buffer = kind.offset("tp_as_buffer")
        self._buffer_procs = Struct("PyBufferProcs").size
        self._code: Struct | None = None  # looked up when a frame is first described
        self._bytes: tuple[int, int] | None = None
        # str: PyASCIIObject { ob_base, length, hash, state {kind, compact, ascii ...} }, data after
        # it (compact ASCII) or after PyCompactUnicodeObject (other compact strings).
        ascii_object = Struct("PyASCIIObject")
        self._str_head = ascii_object.size
        self._str_length = ascii_object.offset("length")
        state = ascii_object.member("state")
        self._str_state = ascii_object.sized("state")
        self._state_bits = {name: (int(state.fields[name].bitpos), int(state.fields[name].bitsize)) for name in ("kind", "compact", "ascii") if state.has(name)}
        if len(self._state_bits) != 3:
            raise LayoutUnknown("PyASCIIObject.state")
        self._compact_head = Struct("PyCompactUnicodeObject").size
        # int: 3.12+ keep the digit count and sign in long_value.lv_tag, older ones in ob_size.
        long_object = Struct("PyLongObject")
        self._digit_size = gdb.lookup_type("digit").sizeof
        if long_object.has("long_value"):
            value = long_object.member("long_value")
            self._lv_tag: int | None = long_object.offset("long_value") + value.offset("lv_tag")
            self._digits = long_object.offset("long_value") + value.offset("ob_digit")
        else:
            self._lv_tag = None
            self._digits = long_object.offset("ob_digit")
            self._ob_size = Struct("PyVarObject").offset("ob_size")
        # dict: ma_keys -> PyDictKeysObject (size, kind, indices, then the entries); ma_values
        # (split tables) -> the values by entry index, in a PyDictValues on 3.11+.
        dict_object = Struct("PyDictObject")
        self._ma_keys = dict_object.offset("ma_keys")
        self._ma_values = dict_object.offset("ma_values")
        self._values_at = Struct("PyDictValues").offset("values") if _has_type("PyDictValues") else 0
        keys = Struct("PyDictKeysObject")
        self._keys_head = keys.offset("dk_indices")  # the indices, then the entries
        self._log2 = keys.has("dk_log2_size")  # 3.11+: the size as its log2
        self._dk_size = keys.sized("dk_log2_size" if self._log2 else "dk_size")
        self._dk_nentries = keys.sized("dk_nentries")
        self._dk_kind = keys.sized("dk_kind") if keys.has("dk_kind") else None  # 3.11+
        # The entries (size, me_key, me_value) are not looked up: PyDictKeyEntry is {me_hash,
        # me_key, me_value} and 3.11+'s PyDictUnicodeEntry {me_key, me_value} in every version
        # 3.6-3.15, and finding them in the debug info expanded a compilation unit of its own
        # (16-30 ms of a 0.1 s py-memtop, measured 2026-12-02).
        if gdb.lookup_type("PyObject").pointer().sizeof != 8:
            raise LayoutUnknown("pointers of %d bytes" % gdb.lookup_type("PyObject").pointer().sizeof)
        self._general = (24, 8, 16)
        self._unicode = (16, 0, 8)

    # --- str --------------------------------------------------------------------

    def text(self, address: int, limit: int, more: str = "...") -> str | None:
        """An exact str's first `limit` characters (and `more` if it has more); None if the
        object is not an exact str or its text cannot be told.  Raises NotCompact for a
        str the raw reader does not lay out (a legacy string built by the old C API)."""
        if not address or self.kind_of(address) != "str":
            return None
        head = self.memory.read(address, self._str_head)
        length = int.from_bytes(head[self._str_length : self._str_length + 8], "little", signed=True)
        state = uint(head, *self._str_state)
        kind, compact, ascii = (state >> pos & ((1 << bits) - 1) for pos, bits in (self._state_bits[k] for k in ("kind", "compact", "ascii")))
        if not compact:
            raise NotCompact()
        if length < 0 or kind not in (1, 2, 4):
            return None
        shown = min(length, limit)
        data = self.memory.read(address + (self._str_head if ascii else self._compact_head), shown * kind) if shown else b""
        try:
            if kind == 1:
                value = data.decode("latin-1")
            else:
                value = "".join(map(chr, memoryview(data).cast("H" if kind == 2 else "I")))
        except ValueError:  # a code point over 0x10FFFF: corrupt
            return None
        return value if length <= limit else value + more

    # --- code objects -------------------------------------------------------------

    def code_field(self, code: int, name: str) -> int:
        """The object a code object's field (co_filename, co_name, co_linetable ...) points to."""
        if self._code is None:
            self._code = Struct("PyCodeObject")
        return self.memory.pointer(code + self._code.offset(name))

    def bytes_text(self, address: int, limit: int = MAX_BYTES) -> str | None:
        """An exact bytes object's first `limit` bytes as latin-1 (how the helper hands a line
        table to its own decoder); None if the object is not an exact bytes."""
        if self._bytes is None:
            self._bytes = (Struct("PyVarObject").offset("ob_size"), Struct("PyBytesObject").offset("ob_sval"))
        size_at, data_at = self._bytes
        if not address or self.kind_of(address) != "bytes":
            return None
        size = int.from_bytes(self.memory.read(address + size_at, 8), "little", signed=True)
        if size < 0:
            return None
        return self.memory.read(address + data_at, min(size, limit)).decode("latin-1")

    # --- int --------------------------------------------------------------------

    def integer(self, address: int) -> int | None:
        """An exact int's value; None if the object is not an exact int."""
        if not address or self.kind_of(address) != "int":
            return None
        if self._lv_tag is not None:
            tag = self.memory.pointer(address + self._lv_tag)
            count, negative = tag >> 3, (tag & 3) == 2
        else:
            size = int.from_bytes(self.memory.read(address + self._ob_size, 8), "little", signed=True)
            count, negative = abs(size), size < 0
        if count > 64:
            return None  # no thread id is that long: corrupt
        data = self.memory.read(address + self._digits, count * self._digit_size) if count else b""
        shift = 30 if self._digit_size == 4 else 15
        value = 0
        for i in reversed(range(count)):
            value = (value << shift) | uint(data, i * self._digit_size, self._digit_size)
        return -value if negative else value

    # --- attributes -------------------------------------------------------------

    def attributes(self, address: int) -> Iterator[tuple[int, int]] | None:
        """(key, value) addresses of an object's attributes: its instance dict, or on 3.11+ the
        values it keeps without one (managed dicts, as CPython's pycore_object.h lays them out);
        None where this reader does not know the layout (the caller asks the helper)."""
        kind = self.type_of(address)
        head = self.memory.read(kind, self._type_size)
        flags = uint(head, *self._tp_flags)
        if self._version >= (3, 11) and flags & _TPFLAGS_MANAGED_DICT:
            if self._version >= (3, 13):  # the dict at MANAGED_DICT_OFFSET, else values inline after the object
                found = self.memory.pointer(address + self._managed_dict)
                if found or not flags & _TPFLAGS_INLINE_VALUES:
                    return self.dict_items(found) if found else iter(())
                values = address + int.from_bytes(head[self._tp_basicsize : self._tp_basicsize + 8], "little", signed=True)
            elif self._version == (3, 12):  # one word at -3: the dict, or the values pointer - 1 (odd)
                found = self.memory.pointer(address - 24)
                if not found & 1:
                    return self.dict_items(found) if found else iter(())
                values = found + 1
            else:  # 3.11: the values pointer at -4, the dict at -3
                values = self.memory.pointer(address - 32)
                if not values:
                    found = self.memory.pointer(address - 24)
                    return self.dict_items(found) if found else iter(())
            keys = self._cached_keys(kind, head, flags)
            return None if keys is None else self.keys_items(keys, values + self._values_at)
        offset = int.from_bytes(head[self._tp_dictoffset : self._tp_dictoffset + 8], "little", signed=True)
        if offset < 0:
            return None  # a variable-sized object's dict: counted from its end
        found = self.memory.pointer(address + offset) if offset else 0
        return self.dict_items(found) if found and self.is_dict(found) else iter(())

    def _cached_keys(self, kind: int, head: bytes, flags: int) -> int | None:
        """A heap type's ht_cached_keys, the keys its instances' values are laid out by.

        PyHeapTypeObject is {PyTypeObject, as_async, as_number, as_mapping, as_sequence,
        as_buffer, ht_name, ht_slots, ht_qualname, ht_cached_keys ...} in 3.3-3.15, and a heap
        type's tp_as_buffer points at its own as_buffer: the offset is read off the type.
        Looking PyHeapTypeObject up in the debug info expanded a compilation unit of its own
        (31 ms of py-memtop on pyenv's 3.11, measured 2026-12-02)."""
        as_buffer = uint(head, self._tp_as_buffer) - kind
        if not flags & _TPFLAGS_HEAPTYPE or not self._type_size <= as_buffer <= self._type_size + 1024:
            return None
        return self.memory.pointer(kind + as_buffer + self._buffer_procs + 3 * 8)

    # --- dict -------------------------------------------------------------------

    def is_dict(self, address: int) -> bool:
        """A dict or an instance of a dict subclass (same layout), by the type's flags (dict's own
        has Py_TPFLAGS_DICT_SUBCLASS too)."""
        if not address:
            return False
        at, size = self._tp_flags
        return bool(uint(self.memory.read(self.type_of(address) + at, size), 0, size) & _BUILTIN_KINDS["dict"])

    def dict_items(self, address: int) -> Iterator[tuple[int, int]]:
        """(key, value) object addresses of a dict, in entry order."""
        head = self.memory.read(address, max(self._ma_keys, self._ma_values) + 8)
        values = uint(head, self._ma_values)
        yield from self.keys_items(uint(head, self._ma_keys), values + self._values_at if values else 0)

    def keys_items(self, keys: int, values: int) -> Iterator[tuple[int, int]]:
        """(key, value) addresses from a PyDictKeysObject and, for a split table, the address
        of its values (indexed as the entries): one read for the entries, one for the values."""
        head = self.memory.read(keys, self._keys_head)
        size = uint(head, *self._dk_size)
        if self._log2:
            size = 1 << min(size, 62)
        at, length = self._dk_nentries
        count = int.from_bytes(head[at : at + length], "little", signed=True)
        if not 0 <= count <= min(size, MAX_ENTRIES):
            return  # corrupt
        width = 1 if size <= 0xFF else 2 if size <= 0xFFFF else 4 if size <= 0xFFFFFFFF else 8
        entry_size, key_at, value_at = self._general
        if self._dk_kind is not None and uint(head, *self._dk_kind) != 0:  # not DICT_KEYS_GENERAL
            entry_size, key_at, value_at = self._unicode
        entries = self.memory.read(keys + self._keys_head + width * size, count * entry_size)
        split = self.memory.read(values, count * 8) if values else b""
        for i in range(count):
            value = uint(split, i * 8) if values else uint(entries, i * entry_size + value_at)
            if value:
                yield uint(entries, i * entry_size + key_at), value


def objects_for(version: tuple[int, int] | None) -> Objects | None:
    """An Objects for a 3.6+ interpreter, or None (2.7, or a layout the debug info lacks)."""
    if version is None or version < (3, 6):
        return None
    try:
        return Objects(version)
    except LayoutUnknown:
        return None


class NotCompact(Exception):
    """A str laid out in a way the raw reader leaves to the helper."""


def _has_type(name: str) -> bool:
    try:
        gdb.lookup_type(name)
    except gdb.error:
        return False
    return True
