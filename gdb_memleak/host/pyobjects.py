"""CPython objects read from a memory image (host/memimage.py) with a layout of offsets: no gdb.

The layout (`Layout`, a dict of numbers the gdb side gives once per command:
gdbside/memlayout.py, from the interpreter's debug info or a kept table) names every offset used here;
nothing below knows a version except through it.  This module reads the pieces
the heap walk (host/heapwalk.py) needs: words, strings, dicts' and sets' entries,
and the sizes `sys.getsizeof` gives for str, int, dict, list, set and type.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Optional

from .memimage import BLOCK, BLOCK_SHIFT, Image, Unreadable

Layout = dict  # name -> int (offsets, sizes, flags, addresses); see gdbside/memlayout.py and dwarf_layout.py

_Q = struct.Struct("<Q")
_q = struct.Struct("<q")
_HEAD = struct.Struct("<qQq")  # ob_refcnt, ob_type, ob_size (ob_size only meaningful for var objects)
MAX_NAME = 200
# Bounds against a corrupt image: no container is walked past these.
MAX_ITEMS = 1 << 28


def packed(fields: list[tuple[int, str]]) -> struct.Struct:
    """A Struct reading `fields` ((offset, code) pairs) at their offsets from one base, the gaps skipped."""
    fmt, at = "<", 0
    for offset, code in sorted(fields):
        if offset < at:
            raise ValueError("overlapping fields at %d" % offset)
        fmt += "%dx%s" % (offset - at, code) if offset > at else code
        at = offset + struct.calcsize("<" + code)
    return struct.Struct(fmt)


class Reader:
    """Words, strings and containers of one image, with one layout."""

    def __init__(self, image: Image, layout: Layout) -> None:
        self.image = image
        self.L = L = layout
        self.blocks = image.blocks
        # a keys object's header as 3.11+ has it: dk_refcnt, dk_log2_size, dk_log2_index_bytes, dk_kind,
        # dk_usable, dk_nentries (3.8-3.10's dk_size made into the two logs; all its entries general)
        self.sized_keys = L["dk_log2_size"] < 0
        if self.sized_keys:
            self.keys_head = packed([(L["dk_refcnt"], "q"), (L["dk_size"], "q"), (L["dk_usable"], "q"),
                                     (L["dk_nentries"], "q")])
        else:
            self.keys_head = packed([(L["dk_refcnt"], "q"), (L["dk_log2_size"], "B"), (L["dk_log2_index_bytes"], "B"),
                                     (L["dk_kind"], "B"), (L["dk_usable"], "q"), (L["dk_nentries"], "q")])
        self.dict_head = packed([(L["dict_keys"], "Q"), (L["dict_values"], "Q")])
        self.list_head = packed([(L["list_items"], "Q"), (L["list_allocated"], "q")])

    def loc(self, address: int, size: int) -> tuple[bytes, int]:
        """(bytes, offset) holding `size` bytes at `address`: the cached block itself when they fit in it."""
        offset = address & (BLOCK - 1)
        if offset + size <= BLOCK:
            data = self.blocks.get(address >> BLOCK_SHIFT)
            if data is None:
                data = self.image.block(address >> BLOCK_SHIFT)
            return data, offset
        return self.image.read(address, size), 0

    # ---------------------------------------------------------------- words
    def word(self, address: int) -> int:
        data = self.blocks.get(address >> BLOCK_SHIFT)
        if data is None:
            data = self.image.block(address >> BLOCK_SHIFT)
        offset = address & (BLOCK - 1)
        if offset <= BLOCK - 8:
            return _Q.unpack_from(data, offset)[0]
        return _Q.unpack(self.image.read(address, 8))[0]

    def sword(self, address: int) -> int:
        value = self.word(address)
        return value - (1 << 64) if value >> 63 else value

    def head(self, address: int) -> tuple[int, int, int]:
        """(ob_refcnt, ob_type, ob_size) of the object at `address`."""
        data = self.blocks.get(address >> BLOCK_SHIFT)
        if data is None:
            data = self.image.block(address >> BLOCK_SHIFT)
        offset = address & (BLOCK - 1)
        if offset <= BLOCK - 24:
            return _HEAD.unpack_from(data, offset)
        return _HEAD.unpack(self.image.read(address, 24))

    def words(self, address: int, count: int) -> tuple[int, ...]:
        if count <= 0:
            return ()
        if count > MAX_ITEMS:
            raise Unreadable("%d items at 0x%x" % (count, address))
        offset = address & (BLOCK - 1)
        if offset + 8 * count <= BLOCK:
            data = self.blocks.get(address >> BLOCK_SHIFT)
            if data is None:
                data = self.image.block(address >> BLOCK_SHIFT)
            return struct.unpack_from("<%dQ" % count, data, offset)
        return struct.unpack("<%dQ" % count, self.image.read(address, 8 * count))

    def byte(self, address: int) -> int:
        return self.image.read(address, 1)[0]

    def u32(self, address: int) -> int:
        return int.from_bytes(self.image.read(address, 4), "little")

    def cstring(self, address: int, limit: int = MAX_NAME) -> str:
        """A NUL-terminated C string (a tp_name), bounded, as text; '?' if unreadable."""
        out = b""
        try:
            while len(out) < limit:
                chunk = self.image.read(address + len(out), min(64, BLOCK - ((address + len(out)) & (BLOCK - 1))))
                cut = chunk.find(b"\0")
                if cut >= 0:
                    out += chunk[:cut]
                    break
                out += chunk
        except Unreadable:
            if not out:
                return "?"
        return out[:limit].decode("utf-8", "replace")

    # ---------------------------------------------------------------- str
    def str_state(self, address: int) -> tuple[int, int, int, int]:
        """(length, kind, compact, ascii) of a str object."""
        L = self.L
        length = self.sword(address + L["str_length"])
        state = self.u32(address + L["str_state"])
        kind = (state >> L["st_kind_shift"]) & 7
        return length, kind, (state >> L["st_compact_shift"]) & 1, (state >> L["st_ascii_shift"]) & 1

    def str_length(self, address: int) -> int:
        return self.str_state(address)[0]

    def str_size(self, address: int) -> int:
        """sys.getsizeof of a str: header, characters and a NUL, and the UTF-8 copy if it has one of its own."""
        L = self.L
        length, kind, compact, ascii_ = self.str_state(address)
        if length < 0 or length > MAX_ITEMS * 8:
            return L["sizeof_ascii"]
        if compact and ascii_:
            return L["sizeof_ascii"] + length + 1
        if compact:
            size = L["sizeof_compact"] + (length + 1) * kind
            data = address + L["sizeof_compact"]
        else:
            size = L["sizeof_unicode"]
            data = self.word(address + L["str_data"])
            if data:
                size += (length + 1) * kind
        utf8 = self.word(address + L["str_utf8"])
        if utf8 and utf8 != data:
            size += self.sword(address + L["str_utf8_length"]) + 1
        if L.get("str_wstr", -1) >= 0:
            wstr = self.word(address + L["str_wstr"])
            if wstr and wstr != data:
                wlen = length if (compact and ascii_) else self.sword(address + L["str_wstr_length"])
                size += (wlen + 1) * 4
        return size

    def text(self, address: int, limit: int = MAX_NAME) -> Optional[str]:
        """The value of an exact str (the first `limit` characters), or None if it is not one or cannot be read."""
        L = self.L
        try:
            if self.head(address)[1] != L["type_str"]:
                return None
            length, kind, compact, ascii_ = self.str_state(address)
            if not compact or length < 0 or kind not in (1, 2, 4):
                return None
            n = min(length, limit)
            data = address + (L["sizeof_ascii"] if ascii_ else L["sizeof_compact"])
            raw = self.image.read(data, n * kind)
        except Unreadable:
            return None
        codec = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[kind]
        return raw.decode(codec, "replace")

    # ---------------------------------------------------------------- int
    def int_size(self, address: int) -> int:
        L = self.L
        if L["long_tag"] >= 0:
            digits = self.word(address + L["long_tag"]) >> 3
        else:
            digits = abs(self.sword(address + L["ob_size"]))
        return L["long_digits"] + 4 * max(digits, L["int_min_digits"])

    def int_value(self, address: int) -> Optional[int]:
        """The value of an int of at most three digits (a dict key in a path), else None."""
        L = self.L
        if L["long_tag"] >= 0:
            tag = self.word(address + L["long_tag"])
            digits, sign = tag >> 3, (-1 if tag & 3 == 2 else 1)
        else:
            size = self.sword(address + L["ob_size"])
            digits, sign = abs(size), (-1 if size < 0 else 1)
        if digits > 3:
            return None
        value = 0
        for i in reversed(range(digits)):
            value = (value << 30) | self.u32(address + L["long_digits"] + 4 * i)
        return sign * value

    # ---------------------------------------------------------------- dict
    def keys_header(self, keys: int) -> tuple[int, int, int, int, int, int]:
        """(dk_refcnt, log2 of the size, log2 of the index table's bytes, kind, dk_usable, dk_nentries)."""
        head = self.keys_head.unpack_from(*self.loc(keys, self.keys_head.size))
        if not self.sized_keys:
            return head
        refcnt, size, usable, nentries = head
        log2_size = max(size, 1).bit_length() - 1
        width = 1 if size <= 0xFF else 2 if size <= 0xFFFF else 4 if size <= 0xFFFFFFFF else 8  # DK_IXSIZE
        return refcnt, log2_size, log2_size + width.bit_length() - 1, 0, usable, nentries

    def keys_size(self, keys: int, head: Optional[tuple] = None) -> int:
        """_PyDict_KeysSize: the keys object with its index table and its entries."""
        L = self.L
        if head is None:
            head = self.keys_header(keys)
        _, log2_size, log2_index, kind, _, _ = head
        entry = L["entry_general"] if kind == 0 else L["entry_unicode"]
        if log2_size > 40 or log2_index > 43:
            return L["sizeof_keys"]
        return L["sizeof_keys"] + (1 << log2_index) + ((1 << log2_size) * 2 // 3) * entry

    def dict_parts(self, address: int) -> tuple[int, int, Optional[tuple]]:
        """(keys, values, the keys' header) of a dict."""
        keys, values = self.dict_head.unpack_from(*self.loc(address, self.dict_head.size))
        head = self.keys_header(keys) if keys else None
        return keys, values, head

    def dict_size(self, address: int, parts: Optional[tuple] = None, basic: int = 0) -> int:
        """sys.getsizeof of a dict (of a subclass whose basic size is `basic`), less the collector's header
        (added by the caller)."""
        L = self.L
        keys, values, head = parts or self.dict_parts(address)
        size = basic or L["sizeof_dict"]
        if head is None:
            return size
        refcnt, log2_size, _, _, usable, nentries = head
        if values:
            # shared_keys_usable_size(): what a split table's values array holds; sys.getsizeof counts it
            # also when the values are an instance's inline ones (3.13, 3.14: 80 bytes for one attribute);
            # before 3.11, USABLE_FRACTION of the table's size
            n = ((1 << log2_size) * 2 // 3) if self.sized_keys else nentries + usable
            size += max(n, 0) * 8
        if refcnt == 1:
            size += self.keys_size(keys, head)
        return size

    def _embedded(self, values: int) -> bool:
        return bool(self.byte(values + self.L["values_embedded"]))

    def dict_items(self, address: int, parts: Optional[tuple] = None) -> list[int]:
        """The keys and values a dict holds (addresses, keys and values alternating)."""
        keys, values, head = parts or self.dict_parts(address)
        if head is None:
            return []
        return self.table_items(keys, values, head)

    def dict_referents(self, address: int, parts: Optional[tuple] = None) -> list[int]:
        """A dict's keys and values.  The collector visits the keys only of a table whose keys are not all
        str; the census adds a str-keyed table's keys (payloads' _str_keys), and so does this walk (a shared
        table's keys come again with every dict that uses it: the walk counts an untracked object once)."""
        keys, values, head = parts or self.dict_parts(address)
        if head is None:
            return []
        _, _, log2_index, kind, _, n = head
        if kind == 0 or n <= 0 or n > MAX_ITEMS or log2_index > 43:
            return self.table_items(keys, values, head)
        entries = self.words(keys + self.L["dk_indices"] + (1 << log2_index), 2 * n)  # (key, value) pairs
        if values:
            if self.L["version"] == (3, 13) and self._embedded(values):
                return list(entries[0::2])  # 3.13: values inline in their object, visited there (3.14: here)
            return list(self.words(values + self.L["values_values"], n)) + list(entries[0::2])
        return list(entries)  # empty slots (0) included; the walk skips those

    def dict_scan(self, address: int, basic: int) -> tuple[int, Sequence[int]]:
        """(dict_size, dict_referents) in one go: the walk's path for the common dict, a combined
        str-keyed table; anything else goes the long way."""
        L = self.L
        keys, values = self.dict_head.unpack_from(*self.loc(address, self.dict_head.size))
        if not keys:
            return basic, ()
        head = self.keys_header(keys)
        refcnt, log2_size, log2_index, kind, _, n = head
        if values or kind == 0 or n <= 0 or n > MAX_ITEMS or log2_index > 43 or log2_size > 40:
            parts = (keys, values, head)
            return self.dict_size(address, parts, basic), self.dict_referents(address, parts)
        size = basic
        if refcnt == 1:
            size += L["sizeof_keys"] + (1 << log2_index) + ((1 << log2_size) * 2 // 3) * L["entry_unicode"]
        return size, self.words(keys + L["dk_indices"] + (1 << log2_index), 2 * n)  # keys and values

    def table_items(self, keys: int, values: int, head: Optional[tuple] = None) -> list[int]:
        """Keys and values of a keys table, with a split table's values from `values` (0: the entries')."""
        L = self.L
        if head is None:
            head = self.keys_header(keys)
        _, _, log2_index, kind, _, n = head
        if n <= 0 or n > MAX_ITEMS or log2_index > 43:
            return []
        entries = keys + L["dk_indices"] + (1 << log2_index)
        if kind == 0:
            flat = self.words(entries, 3 * n)
            ks = flat[1::3]  # before 3.11 a split table's entries are general too, its values apart
            vs = self.words(values + L["values_values"], n) if values else flat[2::3]
        else:
            flat = self.words(entries, 2 * n)
            ks = flat[0::2]
            vs = self.words(values + L["values_values"], n) if values else flat[1::2]
        out: list[int] = []
        for k, v in zip(ks, vs):
            if k and v:
                out.append(k)
                out.append(v)
        return out

    def dict_get(self, address: int, name: str) -> Optional[int]:
        """The value of a dict's str key `name` (compared by text), or None."""
        items = self.dict_items(address)
        for i in range(0, len(items), 2):
            if self.text(items[i], len(name) + 1) == name:
                return items[i + 1]
        return None

    # ---------------------------------------------------------------- set
    def set_items(self, address: int) -> list[int]:
        L = self.L
        mask = self.sword(address + L["set_mask"])
        table = self.word(address + L["set_table"])
        if mask < 0 or mask > MAX_ITEMS or mask & (mask + 1):  # a table's size is a power of two
            return []
        words = L["set_entry"] // 8  # (key, hash) entries; 2.7's are (hash, key)
        flat = self.words(table, words * (mask + 1))
        dummy = L["set_dummy"]
        return [k for k in flat[L["set_entry_key"] // 8::words] if k and k != dummy]

    def set_size(self, address: int, basic: int = 0) -> int:
        L = self.L
        basic = basic or L["sizeof_set"]
        table = self.word(address + L["set_table"])
        if table == address + L["set_smalltable"]:
            return basic
        return basic + (self.sword(address + L["set_mask"]) + 1) * 16

    # ---------------------------------------------------------------- type
    def type_size(self, address: int, flags: int) -> int:
        L = self.L
        if not flags & L["f_heaptype"]:
            return L["sizeof_type"] + L["static_type_presize"]
        size = L["sizeof_heaptype"] + L["gc_head"]
        keys = self.word(address + L["ht_cached_keys"])
        if keys:
            size += self.keys_size(keys)
        return size

    def type_dict(self, address: int, flags: int) -> int:
        """A class's __dict__: tp_dict, or for a static builtin class of 3.12+ its entry in the interpreter's
        table of them (tp_subclasses holds the index + 1 there)."""
        L = self.L
        d = self.word(address + L["tp_dict"])
        if d or flags & L["f_heaptype"] or L.get("static_builtins", -1) < 0:
            return d
        index = self.word(address + L["tp_subclasses"]) - 1
        if not 0 <= index < L["static_builtins_count"]:
            return 0
        return self.word(L["static_builtins"] + index * L["static_builtin_sizeof"] + L["static_builtin_dict"])
