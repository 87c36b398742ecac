"""host.elf: the exports read from a file's dynamic symbol table agree with readelf's."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.interpreters import PYTHON_311, PYTHON_NODEBUG, libpython

from gdb_memleak.host.elf import exports_function, has_debug_info, linked_at_fixed_addresses

FILES = [libpython(PYTHON_311), PYTHON_311, PYTHON_NODEBUG, "/lib/x86_64-linux-gnu/libc.so.6", sys.executable]
NAMES = ["Py_AddPendingCall", "malloc", "PyGILState_Ensure", "no_such_function_anywhere"]


def readelf_exports(path: str, name: str) -> bool:
    out = subprocess.run(["readelf", "--dyn-syms", "-W", path], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.split()
        # Num: Value Size Type Bind Vis Ndx Name[@version]
        if len(fields) >= 8 and fields[3] == "FUNC" and fields[6] != "UND" and fields[7].split("@")[0] == name:
            return True
    return False


@pytest.mark.skipif(shutil.which("readelf") is None, reason="no readelf (binutils)")
@pytest.mark.parametrize("path", [p for p in FILES if p and Path(p).exists()])
def test_the_same_answer_as_readelf(path):
    for name in NAMES:
        assert exports_function(path, name) == readelf_exports(path, name), (path, name)


def test_what_is_not_elf_cannot_be_read(tmp_path):
    text = tmp_path / "script.py"
    text.write_text("print('hello')\n")
    assert exports_function(str(text), "malloc") is None
    assert exports_function(str(tmp_path / "missing.so"), "malloc") is None
    truncated = tmp_path / "truncated.so"
    truncated.write_bytes(Path("/lib/x86_64-linux-gnu/libc.so.6").read_bytes()[:4096])
    assert exports_function(str(truncated), "malloc") in (None, False)


def readelf_type(path: str) -> str:
    out = subprocess.run(["readelf", "-h", "-W", path], capture_output=True, text=True, check=True).stdout
    return next(line.split(":", 1)[1].split()[0] for line in out.splitlines() if line.strip().startswith("Type:"))


@pytest.mark.skipif(shutil.which("readelf") is None, reason="no readelf (binutils)")
@pytest.mark.parametrize("path", [p for p in FILES if p and Path(p).exists()])
def test_fixed_addresses_as_readelf_says(path):
    assert linked_at_fixed_addresses(path) == (readelf_type(path) == "EXEC"), path


def test_no_fixed_addresses_where_there_is_no_elf(tmp_path):
    text = tmp_path / "script.py"
    text.write_text("print('hello')\n")
    assert not linked_at_fixed_addresses(str(text))
    assert not linked_at_fixed_addresses(str(tmp_path / "missing"))


def readelf_has_dwarf(path: str) -> bool:
    out = subprocess.run(["readelf", "-S", "-W", path], capture_output=True, text=True, check=True).stdout
    return any(name in out.split() for name in (".debug_info", ".zdebug_info"))


@pytest.mark.skipif(shutil.which("readelf") is None, reason="no readelf (binutils)")
@pytest.mark.parametrize("path", [p for p in FILES if p and Path(p).exists()])
def test_debug_info_as_readelf_says(path):
    assert has_debug_info(path) == readelf_has_dwarf(path), path


def test_no_debug_info_answer_where_there_is_no_elf(tmp_path):
    text = tmp_path / "script.py"
    text.write_text("print('hello')\n")
    assert has_debug_info(str(text)) is None
    assert has_debug_info(str(tmp_path / "missing")) is None
