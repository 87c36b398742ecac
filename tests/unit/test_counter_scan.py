"""inject/counter_scan.py without gdb: the word that counts a block, told from words that do anything
else, and the writable data of a file loaded in this test's own process."""

from __future__ import annotations

import ctypes
import os
import struct

from gdb_memleak.inject import counter_scan, landing

WORD = struct.Struct("<q")


def _words(*values: int) -> bytes:
    return b"".join(WORD.pack(v) for v in values)


def test_only_the_word_counted_up_by_one_and_back_is_found():
    filler = [7] * 1000  # more than one 4 KB chunk: the one that changed is found past the first
    before = _words(*filler, 41, 5, 9, 100)
    allocated = _words(*filler, 42, 6, 11, 101)  # +1 and back; +1 and stays; +2; +1 and down by two
    freed = _words(*filler, 41, 6, 9, 99)
    assert counter_scan.counted_words(before, allocated, freed) == [8000]


def test_no_word_is_found_where_nothing_changed_or_several_did():
    same = _words(*range(600))
    assert counter_scan.counted_words(same, same, same) == []
    assert counter_scan.counted_words(_words(1, 5), _words(2, 6), _words(1, 5)) == [0, 8]


def test_the_data_of_the_file_holding_a_function_is_its_writable_mappings():
    """PyObject_Malloc's file here (Debian's python3.11 holds the runtime in its executable): the ranges
    are rw-p mappings of that file or the unnamed one after it, and hold _PyRuntime, which it exports."""
    code = ctypes.cast(ctypes.pythonapi.PyObject_Malloc, ctypes.c_void_p).value
    runtime = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
    ranges = landing.image_data(os.getpid(), code)
    assert ranges and all(low < high and low % 8 == 0 for low, high in ranges), ranges
    maps = landing.read_maps(os.getpid())
    for low, high in ranges:
        holder = next(m for m in maps if m.start <= low < m.end)
        assert holder.perms == "rw-p" and high <= holder.end, (holder, low, high)
    assert any(low <= runtime < high for low, high in ranges), (hex(runtime), ranges)
    assert landing.image_data(os.getpid(), 0) == []
