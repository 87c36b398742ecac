"""py-heap --read-only's census: CPython's heap walked in a memory image, nothing run in the target (issue 16).

What it counts, as the injected census does (payloads/heap.py):
  * the objects the collector tracks, from its generation lists (each a ring of
    PyGC_Head, the object right after its header);
  * the untracked objects those refer to (str, int, float, bytes, untracked tuples
    and dicts), and what untracked containers refer to in turn, each once (a set of
    addresses).  References are read for the core containers only: tuple, list,
    dict, set and frozenset, modules (their dict), classes (dict, mro, bases, names,
    slots), instances (their dict, managed dict or inline values, and slots), and
    the C structs the gdb side lists (functions, cells, methods, code...).
Kinds are named as the injected census names them ('str', 'types.CodeType',
'dict of module', 'mymod.MyClass'); sizes are sys.getsizeof's.  No gdb here: the
layout comes from gdbside/memlayout.py, the memory from host/memimage.py.
"""

from __future__ import annotations

import struct
import time
from typing import Any, Optional

from .heapclasses import _MISSING, BYTEARRAY, DICT, FIELDS, INT, LIST, MODULE, PLAIN, SET, STR, TUPLE, TYPE, VAR, Classes, TypeInfo, _try
from .heappaths import Largest, largest_document
from .memimage import BLOCK, BLOCK_SHIFT, Unreadable
from .pyobjects import Layout, Reader

__all__ = ["BYTEARRAY", "DICT", "FIELDS", "INT", "LIST", "MODULE", "PLAIN", "SET", "STR", "TUPLE", "TYPE", "VAR", "HeapWalk", "WalkError",
           "census"]



def gc_structs(header: int) -> tuple[struct.Struct, struct.Struct, int]:
    """How an object is read from its collector's header: (the ring's step: next, ob_refcnt, ob_type, ob_size;
    the untracked test: mark, ob_refcnt, ob_type, ob_size; the mark of an untracked object).  3.8+: a
    16-byte header whose _gc_next is 0 once untracked; 2.7: 32 bytes, gc_refs -2 (_PyGC_REFS_UNTRACKED),
    its gc_next left as it was when an object was never tracked."""
    step = struct.Struct("<Q%dxqQq" % (header - 8))
    if header == 16:
        return step, step, 0
    return step, struct.Struct("<16xq%dxqQq" % (header - 24)), -2
_U32 = struct.Struct("<I")
SPAN = 1 << 16  # items of a long list or tuple read at a time
# A ring longer than this is a corrupt one (or a walk of a target that changed under us).
MAX_OBJECTS = 200_000_000


class WalkError(Exception):
    """The heap cannot be walked: the collector's lists or the core types cannot be read."""


class HeapWalk:
    def __init__(self, reader: Reader, roots: dict[str, Any], nlarge: int = 0) -> None:
        self.r = reader
        self.L: Layout = reader.L
        self.roots = roots
        self.classes = Classes(reader, roots)
        self.types = self.classes.types
        self.info = self.classes.info
        self.seen: set[int] = set()  # the untracked objects counted that have more than one reference
        self.owned: dict[int, str] = {}  # dict address -> 'dict of ...'
        self.todo: list[int] = []
        self.spans: list[tuple[int, int]] = []  # (address, count) of items still to read
        self.skipped = 0
        self.tracked = 0
        self.largest = Largest(nlarge)
        self.header = self.L["gc_head"]
        self.step, self.marked, self.untracked = gc_structs(self.header)

    # ------------------------------------------------------------ the walk
    def run(self, deadline: Optional[float] = None) -> None:
        self.classes.learn_names()
        for head in self.roots["generations"]:
            self._ring(head, deadline)

    def _ring(self, head: int, deadline: Optional[float]) -> None:
        r, header = self.r, self.header
        blocks, block, unpack, need = r.blocks, r.image.block, self.step.unpack_from, self.step.size
        types, visit, todo = self.types, self._visit, self.todo
        g = r.word(head) & ~3
        n = 0
        saved, power, steps = head, 1, 0  # Brent's cycle check: a damaged ring that loops without its head
        while g != head:
            n += 1
            if g == saved or n > MAX_OBJECTS or g == 0:
                raise WalkError("the collector's list at 0x%x does not come back to its head: the memory is damaged "
                                "(a corrupted core?) or changed while it was read; nothing was counted" % head)
            steps += 1
            if steps == power:
                saved, power, steps = g, power << 1, 0
            off = g & (BLOCK - 1)
            try:
                if off <= BLOCK - need:
                    data = blocks.get(g >> BLOCK_SHIFT) or block(g >> BLOCK_SHIFT)
                    nxt, _, t, size = unpack(data, off)
                else:
                    nxt, _, t, size = self.step.unpack(r.image.read(g, need))
            except Unreadable:
                raise WalkError("the collector's list at 0x%x is broken at 0x%x: the memory is damaged (a corrupted "
                                "core?) or changed while it was read; nothing was counted" % (head, g)) from None
            info = types.get(t, _MISSING)
            if info is _MISSING:
                info = self.info(t)
            if info is None:
                self.skipped += 1
            else:
                self.tracked += 1
                visit(g + header, info, size)
                if len(todo) > 16384:  # in batches: a call of _drain costs a few microseconds to set up
                    self._drain()
            if deadline is not None and not n & 0xFFFF and time.monotonic() > deadline:
                raise WalkError("the walk took longer than its time limit")
            g = nxt & ~3
        self._drain()

    def _drain(self) -> None:
        """Count what `todo` holds, then the items of long lists and tuples, a slice at a time (their
        addresses as Python ints would take gdb about 36 bytes each, all at once)."""
        spans, todo, r = self.spans, self.todo, self.r
        while True:
            self._drain_todo()
            if not spans:
                return
            base, count = spans.pop()
            n = min(count, SPAN)
            if count > n:
                spans.append((base + 8 * n, count - n))
            try:
                todo.extend(r.words(base, n))
            except Unreadable:
                self.skipped += 1

    def _drain_todo(self) -> None:
        """The hot loop: count `todo`'s untracked objects once each (leaves here, containers in _visit)."""
        # long: one frame for the whole loop, its names local; a helper called per object would cost a call each
        r, L, todo, seen, types = self.r, self.L, self.todo, self.seen, self.types
        blocks, block, read, unpack = r.blocks, r.image.block, r.image.read, self.marked.unpack_from
        header, untracked = self.header, self.untracked
        unheaded = bytes(16) + struct.pack("<q", untracked) + bytes(header - 24) if header > 16 else bytes(header)
        need = header + 40  # the header and a str's state
        state_at, state = header + L["str_state"], _U32.unpack_from
        ascii_size, int_base, tagged = L["sizeof_ascii"] + 1, L["long_digits"], L["long_tag"] >= 0
        min_digits = L["int_min_digits"]
        ascii_bits = L["st_compact_mask"] | L["st_ascii_mask"]  # 0 on 2.7: its unicode has no compact form
        keep, thr = self.largest.keep, self.largest.threshold
        while todo:
            a = todo.pop()
            if a in seen or a & 7 or a < 4096:
                continue
            g = a - header
            off = g & (BLOCK - 1)
            try:
                if off <= BLOCK - need:
                    data = blocks.get(g >> BLOCK_SHIFT) or block(g >> BLOCK_SHIFT)
                else:
                    data, off = read(g, need), 0
            except Unreadable:
                # the header's place is not mapped: an object at the start of a mapping (2.7's 32-byte header
                # reaches before a big str's mmapped chunk), never a tracked one; the object itself may be read
                try:
                    data, off = unheaded + read(a, need - header), 0
                except Unreadable:
                    continue
            mark, refs, t, size = unpack(data, off)
            info = types.get(t, _MISSING)
            if info is _MISSING:
                info = self.info(t)
            if info is None:
                continue
            shape = info.shape
            if shape == STR:
                if ascii_bits and state(data, off + state_at)[0] & ascii_bits == ascii_bits:
                    s = ascii_size + size  # size: the str's length (it follows ob_type)
                else:
                    s = _try(r.str_size, a)
                    if s is None:
                        continue
            elif shape == INT:
                digits = (size >> 3) if tagged else abs(size)
                s = int_base + 4 * (digits if digits > min_digits else min_digits)
            elif shape == PLAIN and not info.gc:
                s = info.basic
            elif shape == VAR and not info.gc:
                s = info.basic + info.item * abs(size)
            else:
                if shape == TYPE:
                    if (_try(r.word, a + L["tp_flags"]) or 0) & L["f_heaptype"]:
                        continue  # a heap class is tracked; a static one has no collector's header
                elif info.gc and mark != untracked:
                    continue  # tracked: counted from the collector's lists
                seen.add(a)  # a container, always remembered: a damaged heap could make its references loop
                self._visit(a, info, size)
                continue
            if refs != 1:  # one reference: reached once, from its one owner; no need to remember it
                seen.add(a)
            info.count += 1
            info.size += s + info.presize
            if s > thr:
                thr = keep(a, info, s + info.presize)

    def _visit(self, a: int, info: TypeInfo, size: int) -> None:
        """Count the object at `a` and queue what it refers to."""
        try:
            s = self.measure(a, info, size)
        except Unreadable:
            self.skipped += 1
            return
        info.count += 1
        info.size += s + info.presize
        if s > self.largest.threshold:
            self.largest.keep(a, info, s + info.presize)

    def measure(self, a: int, info: TypeInfo, size: int) -> int:
        """sys.getsizeof of the object at `a` less its pre-header; what it refers to is queued on `todo` (and
        `spans`).  Raises Unreadable."""
        r, L, shape = self.r, self.L, info.shape
        if shape == PLAIN:
            s = info.basic
        elif shape == STR:
            s = r.str_size(a)
        elif shape == INT:
            s = r.int_size(a)
        elif shape == TUPLE or shape == VAR:
            s = info.basic + info.item * abs(size)
            if shape == TUPLE:
                self._items(a + L["tuple_items"], size)
        elif shape == DICT:
            s, refs = r.dict_scan(a, info.basic)
            self.todo.extend(refs)
        elif shape == LIST:
            items, allocated = r.list_head.unpack_from(*r.loc(a, r.list_head.size))
            s = info.basic + 8 * allocated  # a subclass's basic size, as list.__sizeof__
            self._items(items, size)
        else:
            s = self._other(a, info, size)
        if (info.slots or info.owner_kind) and info.gc:
            self._instance(a, info)
        return s

    def _items(self, base: int, count: int) -> None:
        if count > SPAN:
            self.spans.append((base, count))
        else:
            self.todo.extend(self.r.words(base, count))

    def _other(self, a: int, info: TypeInfo, size: int) -> int:
        r, L, shape, todo = self.r, self.L, info.shape, self.todo
        if shape == SET:
            todo.extend(r.set_items(a))
            return r.set_size(a, info.basic)
        if shape == BYTEARRAY:  # bytearray.__sizeof__: its allocated buffer
            return info.basic + max(r.sword(a + L["bytearray_alloc"]), 0)
        if shape == MODULE:
            d = r.word(a + L["md_dict"])
            self._own(d, "dict of module")
            todo.append(d)
            return info.basic
        if shape == TYPE:
            flags = r.word(a + L["tp_flags"])
            if flags & L["f_heaptype"]:
                for f in L["type_fields"]:
                    todo.append(r.word(a + f))
            meta = self.info(r.head(a)[1])
            self._own(r.type_dict(a, flags), "dict of " + (meta.name if meta else "type"))
            return r.type_size(a, flags) - info.presize
        if shape == FIELDS and info.gc:  # the collector's referents: a class without its support has none
            for f in info.fields:
                todo.append(r.word(a + f))
            if info.name == "function":
                d = r.word(a + L["func_dict"])
                if d and r.sword(d + L["dict_used"]) > 0:  # as the census: an empty one stays "dict (no owner)"
                    self._own(d, "dict of function")
        return info.basic + (info.item * abs(size) if info.item else 0)

    def _instance(self, a: int, info: TypeInfo) -> None:
        r, todo = self.r, self.todo
        if info.slots:
            todo.extend(info.pick_slots(r.words(a, info.slot_span)))
        if info.owner_kind is None:
            return
        d = self.classes.instance_dict(a, info)
        if d:
            self._own(d, info.owner_kind)
            todo.append(d)
            return
        values = self.classes.instance_values(a, info)
        if values:
            self._values(a, values, info)

    def _values(self, a: int, values: int, info: TypeInfo) -> None:
        """The attribute values of an instance without a dict: its type's shared keys say how many."""
        r, L = self.r, self.L
        t = r.head(a)[1]
        keys = r.word(t + L["ht_cached_keys"])
        if not keys:
            return
        n = r.sword(keys + L["dk_nentries"])
        if 0 < n <= 4096:
            self.todo.extend(v for v in r.words(values + L["values_values"], n) if v)

    def _own(self, d: int, kind: str) -> None:
        if d and d not in self.owned:
            self.owned[d] = kind

    # ------------------------------------------------------------ the result
    def rows(self) -> dict[str, list[int]]:
        """kind -> [count, size], with the dicts that modules, classes, functions and instances own moved out of
        'dict (no owner)' into 'dict of ...'."""
        rows: dict[str, list[int]] = {}
        for info in self.types.values():
            if info is not None and info.count:
                e = rows.setdefault(info.name, [0, 0])
                e[0] += info.count
                e[1] += info.size
        plain = rows.get("dict (no owner)")
        dict_type = self.L["type_dict"]
        for d, kind in self.owned.items():
            try:
                if self.r.head(d)[1] != dict_type:
                    continue
                s = self.r.dict_size(d) + self.L["gc_head"]
            except Unreadable:
                continue
            e = rows.setdefault(kind, [0, 0])
            e[0] += 1
            e[1] += s
            if plain is not None:
                plain[0] -= 1
                plain[1] -= s
        if plain is not None and plain[0] <= 0:
            del rows["dict (no owner)"]
        return rows


def census(reader: Reader, roots: dict[str, Any], top: int, deadline: Optional[float] = None,
           nlarge: int = 0) -> dict[str, Any]:
    """The heap document's body (see model/documents.py HeapPartition) from a walk of the image; with
    `nlarge`, the largest objects and their paths from module globals too."""
    walk = HeapWalk(reader, roots, nlarge)
    walk.run(deadline)
    rows = walk.rows()
    order: list[tuple[int, int, str]] = sorted(((s, c, k) for k, (c, s) in rows.items() if c > 0), reverse=True)
    total_count = sum(c for _, c, _ in order)
    return {
        "backend": "memory",
        "note": None,
        "total_count": total_count,
        "total_size": sum(s for s, _, _ in order),
        "rows": [{"kind": k, "count": c, "size": s} for s, c, k in order[:top]],
        "more_rows": max(0, len(order) - top),
        "largest": largest_document(reader, walk.classes, roots, walk.largest) if nlarge else [],
        "task_count": None,
        "tasks": None,
        "walk": {"tracked": walk.tracked, "untracked": total_count - walk.tracked, "skipped": walk.skipped,
                 "blocks_read": reader.image.reads},
    }
