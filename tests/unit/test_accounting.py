"""host/accounting.py: the RSS by kind of mapping, from /proc's texts (issue 14)."""

import os
import subprocess
import sys
import time

import pytest

from gdb_memleak.host import accounting, glibc_arenas
from gdb_memleak.host.memimage import ProcessImage

pytestmark = pytest.mark.unit

SMAPS = """\
55d0c0000000-55d0c0021000 rw-p 00000000 00:00 0                          [heap]
Rss:                 132 kB
Anonymous:           132 kB
7f0000000000-7f0008000000 rw-p 00000000 00:00 0
Rss:               90000 kB
Anonymous:         90000 kB
7f1000000000-7f1000800000 rw-p 00000000 00:00 0
Rss:                  40 kB
Anonymous:            40 kB
7f2000000000-7f2000100000 r--p 00000000 08:01 123                        /usr/lib/libc.so.6
Rss:                 900 kB
Anonymous:             8 kB
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]
Rss:                  24 kB
Anonymous:            24 kB
"""


def test_the_parts_add_up_to_the_rss_and_name_the_big_mapping():
    status = {"VmRSS": 92000 * 1024, "RssFile": 892 * 1024, "RssShmem": 0, "RssAnon": 91108 * 1024}
    mappings = accounting.smaps_anonymous(SMAPS)
    assert [m[2] for m in mappings] == ["[heap]", "", "", "/usr/lib/libc.so.6", "[stack]"]
    acc = accounting.account(status, mappings, [0x7f1000400000, 0x7ffc00020000])  # a thread's stack, the main one
    assert acc["main_heap"] == 132 * 1024 and acc["thread_stacks"] == (40 + 24) * 1024
    assert acc["rss"] == acc["file_backed"] + acc["shared_memory"] + acc["main_heap"] + acc["thread_stacks"] + acc["other_anonymous"]
    assert acc["largest_anonymous"] == [{"start": 0x7f0000000000, "size": 0x8000000, "resident": 90000 * 1024}]  # no file, no stack


def test_a_process_of_our_own_is_accounted_with_its_threads_stacks():
    """A real process: a sleeping child with three threads.  /proc gives each stopped or
    sleeping thread's stack pointer; the parts add up to its RSS."""
    code = "import threading, time\nfor _ in range(2): threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\nprint('ready', flush=True)\ntime.sleep(60)\n"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        time.sleep(0.2)
        acc = accounting.memory_accounting(child.pid)
        assert acc is not None and acc["threads_with_stacks"] == 3
        assert acc["thread_stacks"] > 0 and acc["rss"] > 0
        assert acc["rss"] == sum(acc[k] for k in ("file_backed", "shared_memory", "main_heap", "thread_stacks", "other_anonymous"))
    finally:
        child.kill()
        child.wait()
    assert accounting.memory_accounting(child.pid) is None  # gone: nothing to say
    assert not os.path.exists("/proc/%d/status" % child.pid)


def test_the_largest_processes_read_ahead_serve_one_command_of_that_pid():
    """py-memtop's first command takes the rows read before the attach: once, for that pid and limit."""
    pid = os.getpid()
    accounting.read_ahead(pid, top=3)
    ahead = accounting._top_ahead[3]
    assert accounting.top_processes(pid, 3) is ahead  # read before, not again
    again = accounting.top_processes(pid, 3)
    assert again is not ahead and any(row["pid"] == pid for row in again)  # once only
    accounting.read_ahead(pid, top=3)
    assert accounting.top_processes(pid, 5) is not accounting._top_ahead  # another limit: read now
    accounting.read_ahead(pid, top=3)
    assert accounting.top_processes(os.getppid(), 3) is not ahead  # another process: read now
    accounting.forget_ahead()


def test_a_main_arena_found_before_is_checked_not_trusted():
    """glibc's main_arena of this very process: a place found before is taken when it checks out; one
    that does not (16 bytes off, or outside libc's data) is searched for again, and the real one found."""
    with open("/proc/self/maps") as f:
        maps = f.read()
    image = ProcessImage(os.getpid())
    try:
        ranges = glibc_arenas.libc_data_ranges(maps)
        found = glibc_arenas.find_main_arena(image, ranges)
        assert found is not None, "this test runs on glibc"
        base, layout = found
        assert glibc_arenas.find_main_arena(image, ranges, found) is found
        for wrong in ((base + 16, layout), (base - 4096, layout), (8, layout)):
            assert glibc_arenas.find_main_arena(image, ranges, wrong) == found, wrong
    finally:
        image.close()
