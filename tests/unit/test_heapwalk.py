"""The read-only heap walk (host/heapwalk.py, host/pyobjects.py) on a synthetic memory image, and core files'
segments (host/memimage.py).

Unit tier: no gdb, no target.  The image is built here object by object with a small layout of our own
(3.12-like offsets); the walk knows CPython only through the layout, so this checks the walk itself:
the collector's ring, untracked objects reached once, sizes as sys.getsizeof gives them, dicts owned.
"""

from __future__ import annotations

import struct

import pytest
from support.fake_heap import Heap, write_core

from gdb_memleak.host import heapwalk
from gdb_memleak.host.memimage import CoreFileError, CoreImage, core_segments
from gdb_memleak.host.pyobjects import Reader

pytestmark = pytest.mark.unit

def _rows(doc: dict) -> dict:
    return {r["kind"]: (r["count"], r["size"]) for r in doc["rows"]}


def test_the_walk_counts_tracked_and_untracked_objects_once_with_getsizeof_sizes():
    h = Heap()
    hello = h.text("hello", refs=3)  # held by the module dict and twice by the tuple
    inner = h.tuple_of([hello, hello, h.number(7)], tracked=False)
    d = h.dict_of([(h.text("s"), hello), (h.text("t"), inner), (h.text("n"), h.number(8))])
    h.obj(h.module, struct.pack("<Q", d), True)
    roots = h.finish()
    doc = heapwalk.census(h.reader, roots, top=10)
    rows = _rows(doc)
    # str: 'hello' once (three references), 's', 't', 'n'; each 40 + length + 1
    assert rows["str"] == (4, (40 + 6) + 3 * (40 + 2))
    assert rows["int"] == (2, 2 * 28)
    assert rows["tuple"] == (1, 24 + 3 * 8 + 16)
    # the module's dict moves to "dict of module": 48 + keys (32 + 8 + 5 * 24) + the collector's header
    assert rows["dict of module"] == (1, 48 + 32 + 8 + 5 * 24 + 16)
    assert "dict (no owner)" not in rows
    assert rows["module"] == (1, 48 + 16)
    assert doc["total_count"] == 9 and doc["walk"] == {"tracked": 2, "untracked": 7, "skipped": 0,
                                                       "blocks_read": doc["walk"]["blocks_read"]}


def test_a_tracked_object_reached_by_reference_is_counted_from_the_ring_only():
    h = Heap()
    shared = h.tuple_of([h.number(1)], tracked=True)
    h.dict_of([(h.text("a"), shared), (h.text("b"), shared)])
    roots = h.finish()
    doc = heapwalk.census(h.reader, roots, top=10)
    assert _rows(doc)["tuple"] == (1, 24 + 8 + 16)
    assert _rows(doc)["dict (no owner)"][0] == 1


def test_a_broken_ring_is_a_walk_error_and_garbage_pointers_are_skipped():
    h = Heap()
    h.tuple_of([0x123456780, 0xDEAD0, 7], tracked=True)  # unmapped, unmapped, misaligned
    roots = h.finish()
    doc = heapwalk.census(h.reader, roots, top=10)
    assert _rows(doc) == {"tuple": (1, 24 + 24 + 16)}
    h.img.write(h.ring[0], struct.pack("<Q", 0x7777000))  # the ring now leads nowhere
    h.img.blocks.clear()
    with pytest.raises(heapwalk.WalkError, match="is broken at 0x7777000"):
        heapwalk.census(Reader(h.img, h.reader.L), roots, top=10)


def test_a_ring_that_loops_without_its_head_and_looping_untracked_containers_end():
    h = Heap()
    for _ in range(5):
        h.tuple_of([h.number(1)], tracked=True)
    roots = h.finish()
    h.img.write(h.ring[4], struct.pack("<Q", h.ring[1]))  # the last object leads back to the second
    with pytest.raises(heapwalk.WalkError, match="does not come back to its head"):
        heapwalk.census(h.reader, roots, top=10)
    h = Heap()
    a = h.tuple_of([0], tracked=False)  # two untracked tuples, one reference each, holding each other
    b = h.tuple_of([a], tracked=False)
    h.img.write(a + 24, struct.pack("<Q", b))
    h.dict_of([(h.text("k"), a)])
    roots = h.finish()
    doc = heapwalk.census(h.reader, roots, top=10)
    assert _rows(doc)["tuple"] == (2, 2 * (24 + 8 + 16))


def test_core_segments_are_read_and_a_truncated_core_is_one_clear_error(tmp_path):
    core = tmp_path / "core"
    write_core(core, [(0x400000, b"A" * 100), (0x7F0000000000, bytes(range(256)) * 4)])
    assert [(v, m, f) for v, m, _, f in core_segments(str(core))] == [(0x400000, 100, 100), (0x7F0000000000, 1024, 1024)]
    image = CoreImage(str(core))
    try:
        assert image.read(0x7F0000000000 + 10, 4) == bytes([10, 11, 12, 13])
        assert image.read(0x400000 + 98, 2) == b"AA"
    finally:
        image.close()
    write_core(core, [(0x400000, b"A" * 100)], truncate=10)
    with pytest.raises(CoreFileError, match="is truncated"):
        core_segments(str(core))
    core.write_bytes(b"not a core")
    with pytest.raises(CoreFileError, match="not an ELF file"):
        core_segments(str(core))


def test_largest_objects_get_a_label_and_a_path_from_a_module_global():
    h = Heap()
    big = h.text("x" * 1000, refs=2)  # held by the dict and the tuple
    items = h.tuple_of([h.text("y" * 500), big], tracked=True)
    d = h.dict_of([(h.text("blob"), big), (h.text("items"), items)])
    module = h.obj(h.module, struct.pack("<Q", d), True)
    modules = h.dict_of([(h.text("mod"), module)])
    roots = dict(h.finish(), modules=modules)
    doc = heapwalk.census(h.reader, roots, top=10, nlarge=2)
    assert [{k: o[k] for k in ("type", "size", "repr", "path")} for o in doc["largest"]] == [
        {"type": "str", "size": 40 + 1001, "repr": "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' (len 1000)", "path": "mod.blob"},
        {"type": "str", "size": 40 + 501, "repr": "'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy...' (len 500)", "path": "mod.items[0]"},
    ]
    # what each retains is measured in the target only
    assert all(o["retained"] is None and o["inside"] == [] for o in doc["largest"])


def test_a_long_tuple_is_read_a_slice_at_a_time(monkeypatch):
    monkeypatch.setattr(heapwalk, "SPAN", 3)
    h = Heap()
    h.tuple_of([h.number(i) for i in range(10)], tracked=True)
    roots = h.finish()
    doc = heapwalk.census(h.reader, roots, top=10)
    assert _rows(doc)["int"] == (10, 10 * 28)
