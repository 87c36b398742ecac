"""Python 2.7's objects read from a memory image: str as bytes, unicode, dicts and sets as open tables (issue 16).

What differs from 3.x (host/pyobjects.py), with the layout gdbside/dwarf_layout.py's offsets27
reads: a `str` is a PyStringObject (its bytes inline, sized as any class with items); a
`unicode` keeps its characters apart (sys.getsizeof: the object and length + 1 characters);
a dict is one table of (hash, key, value) entries (`ma_table`, the small table inside the
dict while it has at most 8 slots), a set one of (hash, key).  Deleted entries keep the
`dummy` key with no value (dicts) or the `dummy` key (sets).  No gdb.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from .memimage import Image, Unreadable
from .pyobjects import MAX_ITEMS, MAX_NAME, Layout, Reader, packed


class Reader27(Reader):
    def __init__(self, image: Image, layout: Layout) -> None:  # no keys objects: Reader's own set-up does not apply
        self.image = image
        self.L = L = layout
        self.blocks = image.blocks
        self.list_head = packed([(L["list_items"], "Q"), (L["list_allocated"], "q")])

    # ---------------------------------------------------------------- str, unicode
    def str_length(self, address: int) -> int:
        return self.sword(address + self.L["ob_size"])

    def str_size(self, address: int) -> int:
        """sys.getsizeof of a unicode (the shape STR is unicode's on 2.7)."""
        L = self.L
        length = self.sword(address + L["str_length"])
        return L["sizeof_unicode"] + (max(length, 0) + 1) * L["unicode_char"]

    def text(self, address: int, limit: int = MAX_NAME) -> Optional[str]:
        """The value of an exact str (bytes, as latin-1), or None."""
        L = self.L
        try:
            if self.head(address)[1] != L["type_str"]:
                return None
            length = self.sword(address + L["ob_size"])
            if length < 0:
                return None
            raw = self.image.read(address + L["bytes_data"], min(length, limit))
        except Unreadable:
            return None
        return raw.decode("latin-1")

    def int_size(self, address: int) -> int:
        """A long's: its digits, none for 0 (2.7's long.__sizeof__)."""
        return self.L["long_digits"] + 4 * abs(self.sword(address + self.L["ob_size"]))

    # ---------------------------------------------------------------- dict
    def _table(self, address: int) -> tuple[int, int]:
        mask = self.sword(address + self.L["dict_mask"])
        if mask < 0 or mask > MAX_ITEMS or mask & (mask + 1):  # a table's size is a power of two
            raise Unreadable("a dict's mask %d at 0x%x" % (mask, address))
        return self.word(address + self.L["dict_table"]), mask

    def dict_size(self, address: int, parts: Optional[tuple] = None, basic: int = 0) -> int:
        L = self.L
        table, mask = self._table(address)
        size = basic or L["sizeof_dict"]
        if table != address + L["dict_smalltable"]:
            size += (mask + 1) * L["entry_general"]
        return size

    def dict_items(self, address: int, parts: Optional[tuple] = None) -> list[int]:
        table, mask = self._table(address)
        flat = self.words(table, 3 * (mask + 1))
        out: list[int] = []
        for k, v in zip(flat[1::3], flat[2::3]):
            if k and v:
                out.append(k)
                out.append(v)
        return out

    def dict_referents(self, address: int, parts: Optional[tuple] = None) -> list[int]:
        return self.dict_items(address)  # 2.7's dict_traverse visits keys and values alike

    def dict_scan(self, address: int, basic: int) -> tuple[int, Sequence[int]]:
        return self.dict_size(address, None, basic), self.dict_items(address)

    def table_items(self, keys: int, values: int, head: Optional[tuple] = None) -> list[int]:
        return []  # no shared keys on 2.7

    # ---------------------------------------------------------------- type
    def type_size(self, address: int, flags: int) -> int:
        """2.7's type has no __sizeof__ of its own: object.__sizeof__, `type`'s basic size (a heap class's) for
        every class, and a heap class's member table and collector's header."""
        L = self.L
        if not flags & L["f_heaptype"]:
            return L["sizeof_heaptype"]
        return L["sizeof_heaptype"] + L["member_sizeof"] * abs(self.sword(address + L["ob_size"])) + L["gc_head"]

    def type_dict(self, address: int, flags: int) -> int:
        return self.word(address + self.L["tp_dict"])
