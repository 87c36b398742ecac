"""host.offset_frames: the line of each instruction, from a code object's location table.

The table's format is the same from 3.11 (the interpreter running the tests) to 3.15; each
answer is checked against CPython's own reading of it, `co_lines()`, for every code unit of
every function of a real module."""

from __future__ import annotations

import dis
import sys
import types

import pytest

from gdb_memleak.host import offset_frames


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
