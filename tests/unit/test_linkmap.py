"""host.linkmap: the link map read from a running process's memory names every shared object it maps."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support.interpreters import PYTHON_311, PYTHON_NODEBUG

from gdb_memleak.host.linkmap import loaded_objects

SLEEPER = "import sys, zlib, time; sys.stdout.write('ready\\n'); sys.stdout.flush(); time.sleep(60)"


def mapped_files(pid: int) -> dict[str, int]:
    """Each shared object /proc/PID/maps shows (real path) -> its lowest mapped address."""
    exe = os.path.realpath("/proc/%d/exe" % pid)
    lowest: dict[str, int] = {}
    for line in open("/proc/%d/maps" % pid):
        fields = line.split(None, 5)
        if len(fields) == 6 and ".so" in fields[5] and fields[5].strip() != exe:
            path = os.path.realpath(fields[5].strip())
            start = int(fields[0].split("-")[0], 16)
            lowest[path] = min(start, lowest.get(path, start))
    return lowest


@pytest.mark.parametrize("python", [p for p in (PYTHON_311, PYTHON_NODEBUG, sys.executable) if p])
def test_every_mapped_shared_object_is_named_once_at_its_load_address(python):
    proc = subprocess.Popen([python, "-c", SLEEPER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        objects = loaded_objects(proc.pid)
        mapped = mapped_files(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert objects, "no link map read"
    names = [name for name, _ in objects]
    assert len(set(names)) == len(names)
    assert all(os.path.isabs(name) for name in names)
    assert {os.path.realpath(name) for name in names} == set(mapped)
    for name, base in objects:  # these objects' first PT_LOAD is at address 0
        assert base == mapped[os.path.realpath(name)], name


def test_a_process_that_is_gone_gives_nothing():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert loaded_objects(proc.pid) == []
