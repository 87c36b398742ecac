"""py-cycles --read-only's walk (host/cyclewalk.py) on a synthetic heap, and which program a core was made from
(host/corenotes.py) on a synthetic core.

Unit tier: no gdb, no target.  The heap is tests/support/fake_heap.py's; the end-to-end tests against real
targets and the payload's answer are in tests/test_cycles_memory.py.
"""

from __future__ import annotations

import struct

import pytest
from support.fake_heap import Heap, note, write_core

from gdb_memleak.host import corenotes, cyclewalk
from gdb_memleak.host.memimage import CoreFileError

pytestmark = pytest.mark.unit


def _ring(h: Heap, size: int, refs: int = 1) -> list[int]:
    """`size` tracked tuples, each holding the next, the last the first; each with `refs` references."""
    members = [h.tuple_of([0], tracked=True) for _ in range(size)]
    for here, after in zip(members, members[1:] + members[:1]):
        h.img.write(here + 24, struct.pack("<Q", after))
        h.img.write(here, struct.pack("<q", refs))
    return members


def test_a_ring_nothing_else_holds_is_found_and_one_held_from_outside_is_not():
    h = Heap()
    _ring(h, 3)
    kept = _ring(h, 2)
    h.img.write(kept[0], struct.pack("<q", 2))  # one more reference, from outside the tracked objects
    hanging = h.tuple_of([h.number(5)], tracked=True)  # held only by a member of a garbage pair
    pair = [h.tuple_of([0, hanging], tracked=True), h.tuple_of([0], tracked=True)]
    h.img.write(pair[0] + 24, struct.pack("<Q", pair[1]))
    h.img.write(pair[1] + 24, struct.pack("<Q", pair[0]))
    roots = h.finish()
    doc = cyclewalk.find(h.reader, roots, [], top=10, graph=True)
    assert [(g["types"], g["count"], g["objects"], g["size"]) for g in doc["cycles"]] == [
        (["tuple"], 1, 3, 3 * (24 + 8 + 16)), (["tuple"], 1, 2, (24 + 16 + 16) + (24 + 8 + 16))]
    assert doc["cycles"][0]["path"] == "tuple[0] -> tuple[0] -> tuple[0] -> tuple"
    # the 3-ring, the pair and what the pair alone holds (garbage, in no cycle); not the 2-ring held from outside
    assert doc["total_objects"] == 3 + 2 + 1
    assert doc["walk"]["tracked"] == 3 + 2 + 1 + 2 and doc["walk"]["overcounted"] == 0
    assert doc["graph"].startswith("digraph") and doc["graph"].count("fontcolor=red") == 3 + 2


def test_more_references_found_than_counted_makes_a_root_never_a_cycle():
    """A reference read twice (a layout mistake, a heap that changed) must not make up garbage."""
    h = Heap()
    second = h.tuple_of([0], tracked=True)
    first = h.tuple_of([second, second], tracked=True)  # two references found to `second`, which counts one
    h.img.write(second + 24, struct.pack("<Q", first))
    roots = h.finish()
    doc = cyclewalk.find(h.reader, roots, [], top=10, graph=False)
    assert doc["cycles"] == [] and doc["total_objects"] == 0
    assert doc["walk"]["overcounted"] == 1


def test_a_filter_on_a_kind_keeps_the_groups_with_it_and_unknown_names_are_listed():
    h = Heap()
    _ring(h, 2)
    roots = h.finish()
    assert cyclewalk.find(h.reader, roots, ["tuple"], top=10, graph=False)["cycles"][0]["count"] == 1
    other = cyclewalk.find(h.reader, roots, ["list", "NoSuchClass"], top=10, graph=False)
    assert other["cycles"] == [] and other["unknown_types"] == ["list", "NoSuchClass"]


def _auxv(phdr: int) -> bytes:
    return struct.pack("<QQQQQQ", 6, 4096, corenotes.AT_PHDR, phdr, 0, 0)  # AT_PAGESZ, AT_PHDR, AT_NULL


def _files(mappings: list[tuple[int, int, str]]) -> bytes:
    table = b"".join(struct.pack("<QQQ", start, end, 0) for start, end, _ in mappings)
    names = b"".join(name.encode() + b"\0" for _, _, name in mappings)
    return struct.pack("<QQ", len(mappings), 4096) + table + names


def test_the_program_is_the_file_mapped_where_its_headers_are(tmp_path):
    core = tmp_path / "core"
    files = [(0x400000, 0x401000, "/usr/bin/python3.12"), (0x7F0000000000, 0x7F0000100000, "/usr/lib/libc.so.6")]
    write_core(core, [(0x400000, b"\0" * 64)], notes=note(corenotes.NT_AUXV, _auxv(0x400040)) + note(corenotes.NT_FILE, _files(files)))
    assert corenotes.program(str(core)) == "/usr/bin/python3.12"
    write_core(core, [(0x400000, b"\0" * 64)], notes=note(corenotes.NT_FILE, _files(files)))  # no auxiliary vector
    assert corenotes.program(str(core)) is None
    core.write_bytes(b"not a core")
    with pytest.raises(CoreFileError, match="not an ELF file"):
        corenotes.program(str(core))
