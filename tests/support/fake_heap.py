"""A CPython heap built byte by byte in a fake memory image, and minimal ELF core files: for the unit tests of
the memory walks (host/heapwalk.py, host/cyclewalk.py) and of core files (host/memimage.py, host/corenotes.py).

The layout is a small one of our own (3.12-like offsets); the walks know CPython only through it.
"""

from __future__ import annotations

import struct

from gdb_memleak.host import heapwalk
from gdb_memleak.host.memimage import BLOCK, BLOCK_SHIFT, Image
from gdb_memleak.host.pyobjects import Reader

GC = 1 << 14  # Py_TPFLAGS_HAVE_GC
LAYOUT = dict(
    version=(3, 12), gc_head=16, ob_size=16,
    tp_name=24, tp_basicsize=32, tp_itemsize=40, tp_flags=48, tp_base=56, tp_dict=64, tp_dictoffset=72,
    tp_subclasses=80, ht_qualname=96, ht_cached_keys=104, type_fields=(64, 56), sizeof_type=120, sizeof_heaptype=160,
    static_type_presize=16, tuple_items=24, list_items=24, list_allocated=32, sizeof_list=40,
    dict_keys=32, dict_values=40, sizeof_dict=48, dict_used=16, set_used=24,
    dk_refcnt=0, dk_log2_size=8, dk_log2_index_bytes=9, dk_kind=10, dk_usable=16, dk_nentries=24, dk_indices=32,
    sizeof_keys=32, entry_general=24, entry_unicode=16, values_values=0, values_embedded=-1, values_valid=-1,
    set_mask=32, set_table=40, set_smalltable=64, sizeof_set=200, set_dummy=0x900, set_entry=16, set_entry_key=0,
    str_length=16, str_state=32, st_kind_shift=2, st_compact_shift=5, st_ascii_shift=6,
    st_compact_mask=1 << 5, st_ascii_mask=1 << 6, sizeof_ascii=40, sizeof_compact=56, sizeof_unicode=72,
    str_data=56, str_utf8=48, str_utf8_length=40, str_wstr=-1, str_wstr_length=-1,
    long_tag=16, long_digits=24, int_min_digits=1, md_dict=16, func_dict=16, member_sizeof=40, member_type=8, member_offset=16,
    managed_dict=-24, f_heaptype=1 << 9, f_gc=GC, f_type_subclass=1 << 31, f_managed_dict=1 << 4,
    f_preheader=(1 << 3) | (1 << 4), f_inline_values=0, static_builtins=-1,
)


class FakeImage(Image):
    """Memory made of bytearrays; what was never written cannot be read."""

    def __init__(self) -> None:
        super().__init__()
        self.mem: dict[int, bytearray] = {}

    def write(self, address: int, data: bytes) -> None:
        for i, b in enumerate(data):
            a = address + i
            self.mem.setdefault(a >> BLOCK_SHIFT, bytearray(BLOCK))[a & (BLOCK - 1)] = b

    def read_block(self, index: int):
        block = self.mem.get(index)
        return bytes(block) if block is not None else None


class Heap:
    """Objects laid out in a FakeImage: static classes at 0x10000, objects from 0x100000 on."""

    def __init__(self) -> None:
        self.img = FakeImage()
        self.next_static, self.next = 0x10000, 0x100000
        self.ring: list[int] = []
        self.type_type = self.static_type("type", GC | (1 << 31), 0)  # its own class: patched below
        self.img.write(self.type_type + 8, struct.pack("<Q", self.type_type))
        self.str = self.static_type("str", 0, 1)
        self.int = self.static_type("int", 0, 4)
        self.tuple = self.static_type("tuple", GC, 8, basic=24)
        self.list = self.static_type("list", GC, 0, basic=40)
        self.dict = self.static_type("dict", GC, 0, basic=48)
        self.module = self.static_type("module", GC, 0, basic=48)
        self.function = self.static_type("function", GC, 0, basic=150)

    def static_type(self, name: str, flags: int, item: int, basic: int = 24) -> int:
        at, self.next_static = self.next_static, self.next_static + 0x200
        self.img.write(at + 0x100, name.encode() + b"\0")
        head = struct.pack("<qQq", 1 << 30, getattr(self, "type_type", 0), 0)
        body = struct.pack("<QqqQQQq", at + 0x100, basic, item, flags, 0, 0, 0)
        self.img.write(at, head + body + bytes(120 - len(head) - len(body)))
        return at

    def obj(self, cls: int, body: bytes, tracked: bool, refs: int = 1) -> int:
        """An object of class `cls`: its collector's header, refcount and class, then `body` (from offset 16)."""
        g, self.next = self.next, self.next + ((16 + 16 + len(body) + 15) & ~15) + 16
        a = g + 16
        self.img.write(g, struct.pack("<QQ", 1 if tracked else 0, 0))
        self.img.write(a, struct.pack("<qQ", refs, cls) + body)
        if tracked:
            self.ring.append(g)
        return a

    def text(self, value: str, refs: int = 1) -> int:
        state = (1 << 2) | (1 << 5) | (1 << 6)  # kind 1, compact, ascii
        return self.obj(self.str, struct.pack("<qqI4x", len(value), -1, state) + value.encode() + b"\0", False, refs)

    def number(self, value: int, refs: int = 1) -> int:
        return self.obj(self.int, struct.pack("<QI", 1 << 3, value), False, refs)  # lv_tag: one digit

    def tuple_of(self, items: list[int], tracked: bool) -> int:
        return self.obj(self.tuple, struct.pack("<q%dQ" % len(items), len(items), *items), tracked)

    def dict_of(self, pairs: list[tuple[int, int]], tracked: bool = True) -> int:
        keys = self.next
        self.next += 0x200
        n = len(pairs)
        head = struct.pack("<qBBBxIqq", 1, 3, 3, 0, 0, 5 - n, n) + bytes(8)  # 8 slots, 1-byte indices, general entries
        entries = b"".join(struct.pack("<qQQ", 0, k, v) for k, v in pairs)
        self.img.write(keys, head + entries)
        return self.obj(self.dict, struct.pack("<qQQQ", n, 0, keys, 0), tracked)  # ma_used, version, keys, values

    def finish(self) -> dict:
        """Close the collector's ring (one generation) and give the roots."""
        head = 0x80000
        chain = [head] + self.ring + [head]
        for before, here, after in zip(chain, chain[1:], chain[2:]):
            self.img.write(here, struct.pack("<QQ", after, before))
        self.img.write(head, struct.pack("<QQ", chain[1], chain[-2]))
        layout = dict(LAYOUT, type_str=self.str, type_module=self.module, type_dict=self.dict,
                      type_function=self.function, type_type=self.type_type)
        shapes = {self.str: heapwalk.STR, self.int: heapwalk.INT, self.tuple: heapwalk.TUPLE, self.list: heapwalk.LIST,
                  self.dict: heapwalk.DICT, self.module: heapwalk.MODULE, self.type_type: heapwalk.TYPE}
        self.reader = Reader(self.img, layout)
        return {"generations": [head], "modules": 0, "builtins": 0, "shapes": shapes, "fields": {}}


def write_core(path, segments, truncate=0, notes=b""):
    """A minimal ELF64 core: program headers for `segments` [(vaddr, data)] (and a PT_NOTE of `notes`, if
    any), the data after them."""
    parts = [(1, vaddr, data) for vaddr, data in segments] + ([(4, 0, notes)] if notes else [])
    phoff, count = 64, len(parts)
    offset = phoff + 56 * count
    headers, blobs = b"", b""
    for kind, vaddr, data in parts:
        headers += struct.pack("<IIQQQQQQ", kind, 6, offset + len(blobs), vaddr, 0, len(data), len(data), 0x1000)
        blobs += data
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    head = ident + struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, phoff, 0, 0, 64, 56, count, 0, 0, 0)
    data = head + headers + blobs
    path.write_bytes(data[: len(data) - truncate])


def note(kind: int, desc: bytes, name: bytes = b"CORE") -> bytes:
    """One ELF note: its header, its name and its descriptor, each padded to 4 bytes."""
    pad = lambda b: b + bytes(-len(b) % 4)  # noqa: E731
    return struct.pack("<III", len(name) + 1, len(desc), kind) + pad(name + b"\0") + pad(desc)
