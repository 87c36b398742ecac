"""host.offset_frames: the line of each instruction, from a code object's location table; a
damaged pointer read as unreadable memory.

The table's format is the same from 3.11 (the interpreter running the tests) to 3.15; each
answer is checked against CPython's own reading of it, `co_lines()`, for every code unit of
every function of a real module."""

from __future__ import annotations

import dis
import os
import sys
import types

import pytest

from gdb_memleak.host import offset_frames
from gdb_memleak.host.memimage import BLOCK_SHIFT, ProcessImage, Unreadable


def _codes(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="location tables begin with 3.11")
@pytest.mark.parametrize("module", [dis, offset_frames])
def test_each_code_unit_gets_the_line_cpython_gives_it(module):
    source = open(module.__file__, encoding="utf-8").read()
    checked = 0
    for code in _codes(compile(source, module.__file__, "exec")):
        for start, end, line in code.co_lines():
            for unit in range(start // 2, end // 2):
                assert offset_frames.line_at(code.co_linetable, code.co_firstlineno, unit) == line, (code, unit)
                checked += 1
    assert checked > 1000


def test_a_table_cut_short_or_an_index_past_it_has_no_line():
    def f(x):
        return x + 1

    table = f.__code__.co_linetable
    assert offset_frames.line_at(table, f.__code__.co_firstlineno, 10_000) is None
    assert offset_frames.line_at(table[:1], f.__code__.co_firstlineno, 10_000) is None
    assert offset_frames.line_at(b"\xf0", 1, 0) is None  # a long form with no bytes after it


def test_a_pointer_past_the_address_space_is_unreadable_not_an_overflow():
    """A damaged target's pointer can be any 64-bit value: /proc/PID/mem's pread takes no offset
    past 2^63 (OverflowError, which once ended py-memtop with an internal error)."""
    image = ProcessImage(os.getpid())
    try:
        assert image.read(id(image), 8)  # this process's own memory reads
        for address in (1 << 63, (1 << 64) - 16, (1 << 63) - 4):
            with pytest.raises(Unreadable):
                image.read(address, 8)
            with pytest.raises(Unreadable):
                image.block(address >> BLOCK_SHIFT)
    finally:
        image.close()
