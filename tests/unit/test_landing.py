"""inject/landing.py without gdb: ELF padding of the binaries on this machine, signal masks,
and the PEP 768 opt-out, read from /proc of this test's own process and of children."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys

import pytest
from support.interpreters import PYTHON_311, libpython

from gdb_memleak.inject import landing, stub

PAGE = landing.PAGE
# Real ELF files of this machine: the interpreter running the test, libc, and pyenv's 3.11 and its libpython.
BINARIES = sorted({os.path.realpath(sys.executable), "/usr/lib/x86_64-linux-gnu/libc.so.6", PYTHON_311,
                   libpython(PYTHON_311)})


def _readelf_loads(path: str) -> list[tuple[int, int, int, bool]]:
    """(vaddr, filesz, memsz, executable) of each PT_LOAD, as readelf reads them."""
    text = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True, check=True).stdout
    loads = []
    for line in text.splitlines():
        fields = line.split()
        if fields[:1] == ["LOAD"]:
            loads.append((int(fields[2], 16), int(fields[4], 16), int(fields[5], 16), "E" in fields[6:-1]))
    return loads


@pytest.mark.skipif(shutil.which("readelf") is None, reason="no readelf (binutils)")
@pytest.mark.parametrize("path", BINARIES)
def test_the_executable_segment_end_is_what_readelf_reads(path):
    if not os.path.exists(path):
        pytest.skip("no %s" % path)
    with open(path, "rb") as f:
        head = f.read(PAGE)  # what padding_sites reads
    loads = _readelf_loads(path)
    lowest = min(vaddr for vaddr, _, _, _ in loads) & ~(PAGE - 1)
    end = max(vaddr + memsz for vaddr, filesz, memsz, x in loads if x and filesz == memsz)
    assert landing._executable_segment_end(head) == (lowest, end)


def test_what_is_not_a_64_bit_little_endian_elf_has_no_segment():
    with open(os.path.realpath(sys.executable), "rb") as f:
        head = f.read(PAGE)
    assert landing._executable_segment_end(b"#!/bin/sh\n" + head) is None
    assert landing._executable_segment_end(head[:4] + b"\x01" + head[5:]) is None  # ELFCLASS32
    assert landing._executable_segment_end(head[:5] + b"\x02" + head[6:]) is None  # big-endian
    assert landing._executable_segment_end(head[:0x40]) is None  # the program headers cut off


def test_the_padding_of_this_process_is_big_enough_and_the_executable_s_is_free():
    """Candidates only: a file linked without page-aligned segments (rpds-py's, jsonschema's
    dependency, seen 2026-12) has its next segment's bytes there, which is_free_padding turns down."""
    sites = landing.padding_sites(os.getpid())
    assert sites, "no padding of %d bytes in any file this process maps" % landing.NEEDED
    for address, size, path in sites:
        assert address % 16 == 0 and (address + size) % PAGE == 0 and size >= landing.NEEDED, (hex(address), size, path)
    free = [path for address, size, path in sites if landing.is_free_padding(ctypes.string_at(address, size))]
    assert free, sites
    exe = os.readlink("/proc/self/exe")
    if any(path == exe for _, _, path in sites):
        assert sites[0][2] == exe and free[0] == exe  # the executable's first: it is in every process


def test_free_padding_is_one_filler_throughout():
    assert landing.is_free_padding(b"\0" * 3000) and landing.is_free_padding(b"\xcc" * 3000)
    assert not landing.is_free_padding(b"\0" * 100 + b"\x66\x90" + b"\0" * 100)  # a stub of an earlier session
    assert not landing.is_free_padding(b"\x90" * 3000)


def test_a_stub_an_earlier_gdb_left_is_told_from_free_padding_and_from_other_code():
    block = stub.first_block(0x1000, [stub.Call(0x2000)], errno_location=0, resume=0x3000, tgid=1, tid=1, signal=23)
    later = stub.next_block(0x1000, [stub.Call(0x2000)], resume=0x3000, tgid=1, tid=1, signal=23)
    assert landing.holds_stub(block.code + b"\0" * 100)
    for code in (later.code, stub.release_block(0x1000, resume=0x3000),
                 stub.release_block(0x1000, resume=0x3000, epilogue=(stub.Call(0x2000),))):
        region = code.ljust(stub.MAX_BLOCK, b"\0")
        assert landing.holds_stub(region + block.code) and landing.holds_stub(block.code.ljust(stub.MAX_BLOCK, b"\0") + code)
        assert landing.holds_stub(region + region) and landing.holds_stub(b"\0" * stub.MAX_BLOCK + code)  # the later kinds alone
    # a next block as gdb-memleak wrote it before 2026-12-06 (mov rsp, rbx; sub rsp, ...), still in some target
    assert landing.holds_stub(b"\0" * stub.MAX_BLOCK + b"\x48\x89\xdc\x48\x81\xec\x48\x02\x00\x00")
    assert not landing.holds_stub(b"\0" * 3000) and not landing.holds_stub(b"\x55\x48\x89\xe5" + b"\0" * 100)
    assert landing.filler(b"\xcc") == 0xCC and landing.filler(b"") == 0 and landing.filler(b"\x90") == 0


@pytest.mark.parametrize("offset,value,expected", [(0, 0x7F0000001000, True), (8, 0x7F0000001A3F, True),
                                                   (16, 0x7F0000000FFF, False), (24, 0x7F0000001A40, False),
                                                   (12, 0x7F0000001000, False)])  # not 8-aligned
def test_a_word_is_found_only_when_aligned_and_inside_the_site(offset, value, expected):
    data = bytearray(64)
    data[offset:offset + 8] = value.to_bytes(8, "little")
    assert landing._points_into(bytes(data), 0x7F0000001000, 0x7F0000001A40) is expected


def test_what_points_into_this_process_s_memory_is_found_on_its_stack_and_in_its_libraries_data():
    """__environ (libc's, or its copy in the executable's .bss) holds the address of the environment's
    array.  Read from an address up, as from a stack pointer, a pointer stored there is found.  Nothing
    points into the padding."""
    libc = ctypes.CDLL(None)
    environ = ctypes.c_void_p.in_dll(libc, "__environ").value
    pid = os.getpid()
    assert landing.referenced(pid, [(environ, environ + 8)], []) == {environ}
    pointed, holder = ctypes.create_string_buffer(16), (ctypes.c_void_p * 2)()
    holder[1] = ctypes.addressof(pointed)
    site = (ctypes.addressof(pointed), ctypes.addressof(pointed) + 16)
    assert landing.referenced(pid, [site], [ctypes.addressof(holder)]) == {site[0]}  # read from a "stack pointer" up
    address, _, _ = landing.padding_sites(pid)[0]
    padding = (address, address + landing.NEEDED)
    assert landing.referenced(pid, [padding, (environ, environ + 8)], []) == {environ}
    assert landing.referenced(pid, [padding], [1]) == {address}  # a stack pointer in no mapping: kept
    maps = landing.read_maps(pid)
    stack = next(m for m in maps if m.path == "[stack]")
    assert landing.normal_stack(maps, stack.end - 8)
    assert not landing.normal_stack(maps, address)


def test_a_thread_stack_has_glibc_s_guard_page_below_it_and_an_alternate_stack_has_none():
    guard = landing.Mapping(0x1000, 0x2000, "---p", 0, 0, "")
    stack = landing.Mapping(0x2000, 0x9000, "rw-p", 0, 0, "")
    heap = landing.Mapping(0x9000, 0xA000, "rw-p", 0, 0, "[heap]")
    assert landing.normal_stack([guard, stack, heap], 0x8000)
    assert not landing.normal_stack([guard, stack, heap], 0x9800)
    assert not landing.normal_stack([stack, heap], 0x8000)


def test_a_start_routine_no_thread_has_entered_keeps_its_site():
    """The payload's own thread has its start address on the heap until it enters the routine, where
    gdb sees it and sets the routine's word."""
    entry = stub.thread_entry(0x10000 + landing.NEEDED - stub.THREAD_AREA, signal=23, tries=5000)
    site = bytearray(landing.NEEDED)
    assert not landing.thread_on_its_way(bytes(site))  # no routine written
    site[-stub.THREAD_AREA:] = entry.code
    assert landing.thread_on_its_way(bytes(site))
    site[-stub.THREAD_AREA + stub.THREAD_SEEN] = 1
    assert not landing.thread_on_its_way(bytes(site))


def test_read_maps_parses_this_process():
    maps = landing.read_maps(os.getpid())
    exe = os.readlink("/proc/self/exe")
    mine = [m for m in maps if m.path == exe]
    assert mine and any("x" in m.perms for m in mine) and min(m.offset for m in mine) == 0
    assert all(m.start < m.end and len(m.perms) == 4 for m in maps)
    assert any(m.path == "[stack]" and m.inode == 0 for m in maps)


# A child that catches and blocks the signals it is told to, then waits.
SIGNALS_CHILD = """
import signal, sys, time
for name in sys.argv[1].split(","):
    if name:
        signal.signal(getattr(signal, name), lambda *_: None)
signal.pthread_sigmask(signal.SIG_BLOCK, [getattr(signal, n) for n in sys.argv[2].split(",") if n])
print("ready")
sys.stdout.flush()
time.sleep(60)
"""


@pytest.mark.parametrize("caught, blocked, expected", [
    ("", "", landing.SIGURG),
    ("SIGURG", "", landing.SIGWINCH),
    ("", "SIGURG", landing.SIGWINCH),
    ("SIGURG", "SIGWINCH", None),
    ("SIGURG,SIGWINCH", "", None),
])
def test_the_stop_signal_is_one_the_threads_neither_catch_nor_block(caught, blocked, expected):
    child = subprocess.Popen([sys.executable, "-c", SIGNALS_CHILD, caught, blocked], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        number, why = landing.stop_signal(child.pid, [child.pid])
        assert number == expected
        assert (why == "") if expected else ("catches or blocks both SIGURG and SIGWINCH" in why), why
        if blocked:  # only the threads to be stopped count: none here, so only what the process catches
            assert landing.stop_signal(child.pid, [])[0] == (None if "," in caught else
                                                           landing.SIGWINCH if caught else landing.SIGURG)
    finally:
        child.kill()
        child.wait()


def test_the_stop_signal_of_a_process_that_is_gone():
    gone = subprocess.Popen(["true"])
    gone.wait()
    number, why = landing.stop_signal(gone.pid, [gone.pid])
    assert number is None and why.startswith("cannot read the target's signal masks")


def test_seccomp_mode_and_namespace_pid_of_this_process():
    status = open("/proc/self/status").read()
    assert landing.seccomp_mode(os.getpid()) == int(re.search(r"^Seccomp:\s+(\d+)", status, re.M).group(1))
    assert landing.namespace_pid(os.getpid()) == os.getpid()
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert landing.seccomp_mode(gone.pid) == 0 and landing.namespace_pid(gone.pid) == gone.pid


@pytest.mark.parametrize("argv, expected", [
    (["python3", "app.py"], ([], False)),
    (["python3", "-X", "dev", "-X", "disable-remote-debug", "app.py"], ([b"dev", b"disable-remote-debug"], False)),
    (["python3", "-W", "error", "-Xdisable-remote-debug", "-m", "app"], ([b"disable-remote-debug"], False)),
    # An -X or -W ending a cluster of flags takes its value from the next argument, as CPython does.
    (["python3", "-bEX", "disable-remote-debug", "app.py"], ([b"disable-remote-debug"], True)),
    (["python3", "-bW", "error", "-X", "dev", "app.py"], ([b"dev"], False)),
    # Long options do not end the interpreter's options.
    (["python3", "--check-hash-based-pycs", "always", "-X", "disable-remote-debug", "app.py"], ([b"disable-remote-debug"], False)),
    (["python3", "-Wdefault", "-I", "app.py"], ([], True)),
    (["python3", "-", "-X", "disable-remote-debug"], ([], False)),  # the program from stdin: the rest is its own
    (["python3", "--", "-X", "x"], ([], False)),
    (["python3", "-m", "-X"], ([], False)),
    (["python3", "-X"], ([], False)),  # a dangling -X: nothing to take
])
def test_interpreter_options(argv, expected):
    assert landing._interpreter_options([a.encode() for a in argv]) == expected


def _waiting_child(argv: list[str], env: dict) -> subprocess.Popen:
    child = subprocess.Popen(argv + ["-c", "import sys, time; print('ready'); sys.stdout.flush(); time.sleep(60)"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout.readline().strip() == "ready"  # exec'd: /proc shows its own command line
    return child


@pytest.mark.parametrize("options, variable, expected", [
    ([], None, ""),
    (["-X", "disable-remote-debug"], None, "it runs with -X disable-remote-debug"),
    ([], "1", "PYTHON_DISABLE_REMOTE_DEBUG is set"),
    ([], "", ""),  # empty: not set
    (["-E"], "1", ""),  # the environment ignored
    (["-X", "disable_remote_debug"], None, ""),  # the underscore spelling does nothing
])
def test_the_opt_out_of_a_real_process(options, variable, expected):
    env = dict(os.environ)
    env.pop("PYTHON_DISABLE_REMOTE_DEBUG", None)
    if variable is not None:
        env["PYTHON_DISABLE_REMOTE_DEBUG"] = variable
    child = _waiting_child([sys.executable] + options, env)
    try:
        assert landing.remote_debug_opt_out(child.pid) == expected
    finally:
        child.kill()
        child.wait()
