"""py-memtop on real targets: memory figures, each thread's Python location and threading name."""

import json
import os
import re

import pytest
from support.gdb import WATCH_INFERIOR_CALLS, assert_no_inferior_call, assert_no_traceback, gcore, run_gdb
from support.interpreters import ALL_INTERPRETERS, INTERPRETERS, PYTHON_27, PYTHON_311, PYTHON_NODEBUG
from support.paths import GDBINIT, REPO
from support.targets import (
    BARE_THREADS,
    FRAGMENTED_HEAP,
    NAMED_THREADS,
    NATIVE_LEAK,
    SEED_STRING,
    THREAD_POOL,
    assert_pool_placed,
    script_line,
)

from gdb_memleak.model import schemas
from gdb_memleak.render import html


@pytest.mark.parametrize("python", INTERPRETERS)
def test_memtop_shows_memory_and_the_running_line(start_target, python):
    target = start_target(python, SEED_STRING, "5")
    run = run_gdb("py-memtop --json", pid=target.pid)
    assert_no_traceback(run)
    doc = run.document()
    assert doc["pid"] == target.pid
    assert doc["rss"] > 5_000_000  # the 5 MB string at least
    assert doc["peak_rss"] >= doc["rss"]
    # Always listed, even when it is not among the machine's top 5 (issue 14).
    assert any(p["pid"] == target.pid for p in doc["top_processes"]) and len(doc["top_processes"]) in (5, 6)
    main = next(t for t in doc["threads"] if t["tid"] == target.pid)
    # Debian's python3.11 has no debug symbols: locations come from the payload then.
    assert main["source"] == ("libpython" if python == PYTHON_311 else "payload")
    assert main["frames"][0]["file"].endswith("seed_string.py")
    # keep_growing()'s frame is somewhere in its loop, from `while True:` to its heartbeat
    # (the innermost frame may be gc_state() or say(), which the heartbeat calls).
    loop = next(f for f in main["frames"] if f["function"] == "keep_growing")
    assert script_line(SEED_STRING, "while True:") <= loop["line"] <= script_line(SEED_STRING, 'say("tick')
    assert target.alive() and target.wait_for_ticks(2)


def test_memtop_text_marks_the_process(start_target):
    target = start_target(PYTHON_311, SEED_STRING, "5")
    run = run_gdb("py-memtop --stack 2", pid=target.pid)
    assert_no_traceback(run)
    assert "process %d: RSS" % target.pid in run.stdout
    assert "seed_string.py:" in run.stdout and "in keep_growing" in run.stdout
    assert target.wait_for_ticks(1)


def test_memtop_on_a_core_file(start_target, tmp_path):
    target = start_target(PYTHON_311, SEED_STRING, "5")
    core = str(gcore(target.pid, tmp_path))
    run = run_gdb("py-memtop --json", "py-heap", core=(PYTHON_311, core))
    doc = run.document()
    assert doc["live"] is False and doc["rss"] is None
    main = next(t for t in doc["threads"] if t["tid"] == target.pid)
    assert main["source"] == "libpython"
    assert main["frames"][0]["file"].endswith("seed_string.py")
    # Nothing can run in a core: py-heap reads it (issue 16; tests/test_heap_memory.py).
    assert "(memory backend: read from a core file" in run.stdout
    assert_no_traceback(run)


@pytest.mark.parametrize("python", ALL_INTERPRETERS)
def test_memtop_shows_each_threads_python_name(start_target, python):
    """Issue 12: threading names next to the right tids, read from memory with the
    helper, or by the payload without debug info (Debian's 3.11)."""
    target = start_target(python, NAMED_THREADS)
    workers = {int(tid): name for tid, name in (line.split(" ", 2)[1:] for line in target.lines if line.startswith("thread "))}
    assert len(workers) == 3 and {"ingest", "flusher"} <= set(workers.values())
    run = run_gdb("py-memtop --json --stack 2", "py-memtop --stack 2", pid=target.pid)
    assert_no_traceback(run)
    doc = run.first_document()
    schemas.validator("memtop").validate(doc)
    assert doc["frames_source"] == ("payload" if python == PYTHON_NODEBUG else "libpython")
    names = {t["tid"]: t["python_name"] for t in doc["threads"]}
    assert names == {**workers, target.pid: "MainThread"}
    assert all(t["name"] for t in doc["threads"])  # the OS name stays in "name"
    plain = {tid: name for tid, name in names.items() if name.isalpha()}  # MainThread, ingest, flusher
    assert len(plain) == 3
    for tid, name in plain.items():
        assert re.search(r'^  thread \d+  tid %d "%s"  ' % (tid, name), run.stdout, re.M), run.stdout
    # Markup and control characters from the target: escaped in the text and in the report's HTML.
    assert '"<b>"x"</b>&\\x1b[2J"' in run.stdout and "\x1b" not in run.stdout
    page = html.threads_section(doc)
    assert "&lt;b&gt;&quot;x&quot;&lt;/b&gt;&amp;\\x1b[2J" in page and "<b>" not in page and "\x1b" not in page
    assert "&ldquo;ingest&rdquo;" in page and "&ldquo;MainThread&rdquo;" in page
    assert target.alive() and target.wait_for_ticks(2)


@pytest.mark.parametrize("loaded", ["after-attach", "before-attach"])
@pytest.mark.parametrize("python", ALL_INTERPRETERS)
def test_memtop_places_every_thread_of_a_pool(start_target, python, loaded):
    """40 threads waiting at one line: each shows it (frames described once per command are
    reused for the others, read from the thread states), and each its name, however str
    lays it out (issue 17 #11).  Loaded before the attach (-ix, as the README loads it), the
    program's symbols and the helper are read while the target runs (gdbside/attach_ahead.py)."""
    target = start_target(python, THREAD_POOL)
    if loaded == "before-attach":
        run = run_gdb("py-memtop --json --stack 8", pid=target.pid, gdbinit=None,
                      before=(*WATCH_INFERIOR_CALLS, "-ix", str(REPO / "gdbinit.example")))
        assert_no_inferior_call(run)
    else:
        run = run_gdb("py-memtop --json --stack 8", pid=target.pid)
    assert_no_traceback(run)
    assert_pool_placed(run.document()["threads"], target)
    assert target.alive() and target.wait_for_ticks(1)


@pytest.mark.parametrize("python", INTERPRETERS)
def test_memtop_says_where_the_rss_is(start_target, python):
    """Issue 14: a service leaking 120 MB through ctypes malloc; the RSS is split by kind of
    mapping, the parts add up to it, and the one big anonymous mapping is named."""
    target = start_target(python, NATIVE_LEAK)
    run = run_gdb("py-memtop --json", "py-memtop", pid=target.pid)
    assert_no_traceback(run)
    doc = run.first_document()
    acc = doc["accounting"]
    assert acc["rss"] == sum(acc[k] for k in ("file_backed", "shared_memory", "main_heap", "thread_stacks", "other_anonymous"))
    assert acc["rss"] == doc["rss"]
    assert acc["other_anonymous"] > 115 * 2**20 and acc["file_backed"] > 2**20, acc
    assert acc["threads_with_stacks"] == 1 and 0 < acc["thread_stacks"] < 2**20, acc
    big = acc["largest_anonymous"][0]
    assert big["resident"] > 110 * 2**20 and big["size"] >= big["resident"], acc
    assert re.search(r"^  RSS by kind: file-backed \S+ \S+, main heap \(brk\) \S+ \S+, thread stacks \S+ \S+ \(1 thread\), "
                     r"other anonymous 1[23]\d\.\d MiB$", run.stdout, re.M), run.stdout
    assert re.search(r"^  largest anonymous mappings .*: 1[12]\d\.\d MiB resident at 0x%x" % big["start"], run.stdout, re.M), run.stdout
    # In no allocator's arena, said in plain words, with what to use next; only where pymalloc's
    # arenas are known (debug info): without them, they would be counted as native memory.
    if python == PYTHON_NODEBUG:
        assert acc["outside_arenas"] is None and "in no allocator's arena" not in run.stdout, acc
    else:
        assert acc["outside_arenas"] > 110 * 2**20 and 0 < acc["arenas_resident"]["pymalloc"] < 16 * 2**20, acc
        assert re.search(r"^  most of the RSS \(1[12]\d\.\d MiB of 1[23]\d\.\d MiB\) is in no allocator's arena: native memory "
                         r".*\(memray run --native", run.stdout, re.M), run.stdout
    assert target.alive()


def test_memtop_first_reads_smaps_before_the_attach(start_target):
    """Loaded before the attach (-ix, as gdbinit.example and `report` load it) with py-memtop the
    first command, the plugin reads smaps and pagemap while the target still runs (read_ahead in
    host/accounting.py and host/residency.py: 14 and 8 ms of the stop at 1M records); the next
    py-memtop reads them again, after the attach.  Both split the RSS the same way."""
    target = start_target(PYTHON_311, NATIVE_LEAK)
    run = run_gdb("py-memtop --json", "py-memtop --json", pid=target.pid, gdbinit=None, before=("-ix", str(GDBINIT)))
    assert_no_traceback(run)
    ahead, after = (doc["accounting"] for doc in run.json_documents())
    assert ahead["read_before_attach"] and not after["read_before_attach"], (ahead, after)
    for acc in (ahead, after):
        assert acc["rss"] == sum(acc[k] for k in ("file_backed", "shared_memory", "main_heap", "thread_stacks", "other_anonymous"))
        assert acc["other_anonymous"] > 115 * 2**20 and acc["threads_with_stacks"] == 1, acc
    assert ahead["largest_anonymous"][0]["start"] == after["largest_anonymous"][0]["start"], (ahead, after)
    assert abs(ahead["other_anonymous"] - after["other_anonymous"]) < 2**20, (ahead, after)
    # pagemap too (host/residency.PresentAhead): the arenas' resident bytes as read after the attach
    for arenas in ("pymalloc", "malloc_thread_arenas"):
        assert ahead["arenas_resident"][arenas] is not None, ahead
        assert abs(ahead["arenas_resident"][arenas] - after["arenas_resident"][arenas]) <= 64 << 10, (ahead, after)
    assert ahead["arenas_resident"]["pymalloc"] > 0, ahead
    # Not with --watch: its document is made after the window, the target having run meanwhile.
    watched = run_gdb("py-memtop --json --watch 1", pid=target.pid, gdbinit=None, before=("-ix", str(GDBINIT)))
    assert watched.document()["accounting"]["read_before_attach"] is False, watched.stdout + watched.stderr
    assert target.alive()


# Run by gdb before the commands: says each name that gdb's own lookup searched every file for in vain.
VAIN_SEARCHES = """python
from gdb_memleak.gdbside import inferior as _inf
_search = _inf._gdb_address
def _said(name):
    found = _search(name)
    if found is None:
        print("searched in vain: %s" % name)
    return found
_inf._gdb_address = _said
end
"""


@pytest.mark.parametrize("python", ALL_INTERPRETERS)
def test_no_command_has_gdb_search_for_a_name_the_target_lacks(start_target, tmp_path, python):
    """gdb's search of every file's symbols for a name that is nowhere (a Python API name of other
    versions or builds: PyThreadState_GetUnchecked, _Py_PrintReferences; on 2.7 also _Py_RefTotal,
    _PyEval_EvalFrameDefault, _PyRuntime) took 4-52 ms a name, the target stopped: py-memtop on
    Debian's python3.11 stopped a heartbeat thread for 67-100 ms instead of 40, and a real server's
    requests waited 70 ms more instead of 27-34 (2026-12-07; benchmarks/servers.py).  Such names are
    looked up in the runtime's own table alone."""
    target = start_target(python, SEED_STRING, "1")
    script = tmp_path / "vain.gdb"
    script.write_text(VAIN_SEARCHES)
    run = run_gdb("py-memtop", "py-heap --top 1", "py-cycles --top 1", pid=target.pid, after=("-x", str(script)))
    assert_no_traceback(run)
    assert "Partition of a set" in run.stdout, run.stdout + run.stderr
    assert "searched in vain" not in run.stdout, run.stdout
    assert target.alive()


@pytest.mark.parametrize("python", INTERPRETERS)
def test_memtop_places_threads_of_a_target_without_threading(start_target, python):
    """A target that never imported threading has no native thread ids to give; the fallback
    (Debian's python3.11) said "(no Python frames)" for every thread of a process with two
    (seen on a numpy service: numpy starts an OpenBLAS thread). The ident is the thread's
    pthread_t, which gdb knows."""
    target = start_target(python, BARE_THREADS)
    run = run_gdb("py-memtop --json", pid=target.pid)
    assert_no_traceback(run)
    threads = run.document()["threads"]
    lines = {script_line(BARE_THREADS, "# the main thread waits here"), script_line(BARE_THREADS, "# the worker waits here")}
    placed = {t["frames"][0]["line"] for t in threads if t["frames"] and t["frames"][0]["file"].endswith("bare_threads.py")}
    assert len(threads) == 2 and placed == lines, threads
    main = next(t for t in threads if t["tid"] == target.pid)
    assert main["frames"][0]["line"] == script_line(BARE_THREADS, "# the main thread waits here"), main
    assert target.alive()


JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


@pytest.mark.skipif(not os.path.exists(JEMALLOC), reason="no %s (make setup installs libjemalloc2)" % JEMALLOC)
def test_memtop_under_another_c_allocator_does_not_call_its_memory_native(start_target):
    """With jemalloc preloaded, glibc's arenas hold almost nothing and the heap is jemalloc's: the
    rest of the anonymous memory was said to be native memory "in no allocator's arena"."""
    target = start_target(PYTHON_311, FRAGMENTED_HEAP, env={"LD_PRELOAD": JEMALLOC})
    run = run_gdb("py-memtop --json", "py-memtop", pid=target.pid)
    assert_no_traceback(run)
    acc = run.first_document()["accounting"]
    assert acc["other_allocator"] == "libjemalloc.so.2" and acc["malloc"] is None and acc["outside_arenas"] is None, acc
    assert acc["pymalloc"]["arenas"] > 30, acc  # pymalloc's are still read
    assert "in no allocator's arena" not in run.stdout
    assert "  the C allocator is libjemalloc.so.2, whose arenas are not read" in run.stdout, run.stdout
    assert target.alive() and target.wait_for_ticks(1)


def _allocator_state(tick: str) -> dict:
    """What the fragmented target's allocators say of themselves in a heartbeat: mallinfo2() and
    the arena lines of sys._debugmallocstats() (None on 2.7)."""
    return json.loads(tick[len("tick "):])


@pytest.mark.parametrize("python", ALL_INTERPRETERS)
def test_memtop_reads_what_the_allocators_hold(start_target, python):
    """Issue 14: glibc malloc's in-use and free bytes and pymalloc's arenas, read from memory with
    nothing called, are what the target's own mallinfo2() and sys._debugmallocstats() say; the
    torn heap gets its fragmentation lines."""
    target = start_target(python, FRAGMENTED_HEAP)
    before = _allocator_state(target.wait_for_ticks(1)[-1])
    run = run_gdb("py-memtop --json", "py-memtop", pid=target.pid)
    _assert_allocators_read(target, python, run, before)


@pytest.mark.parametrize("python", INTERPRETERS)
def test_memtop_loaded_before_the_attach_reads_the_allocators_alike(start_target, python):
    """Loaded first (-ix, as the README loads it), gdb-memleak looks for glibc's main_arena while the
    target still runs, in its memory (/proc/PID/mem), and the command only checks the place; the
    second command checks the place it kept.  The same figures as above."""
    target = start_target(python, FRAGMENTED_HEAP)
    before = _allocator_state(target.wait_for_ticks(1)[-1])
    run = run_gdb("py-memtop --json", "py-memtop", pid=target.pid, gdbinit=None,
                  before=(*WATCH_INFERIOR_CALLS, "-ix", str(REPO / "gdbinit.example")))
    assert_no_inferior_call(run)
    _assert_allocators_read(target, python, run, before)


def _assert_allocators_read(target, python: str, run, before: dict) -> None:
    assert_no_traceback(run)
    doc = run.first_document()
    schemas.validator("memtop").validate(doc)
    malloc, truth = doc["accounting"]["malloc"], before["mallinfo2"]

    def near(ours, theirs):  # one heartbeat's worth of allocations apart at most
        return abs(ours - theirs) <= 256 * 1024

    assert malloc["arenas"] == 2 and near(malloc["arena_bytes"], truth["arena"]), (malloc, truth)
    assert near(malloc["main_top"], truth["keepcost"]), (malloc, truth)
    assert truth["smblks"] > 2000 or python == PYTHON_27, truth  # 2.7's heartbeat consolidates it before mallinfo2()
    chunks = truth["ordblks"] - malloc["arenas"] + truth["smblks"]
    if malloc["complete"]:
        assert near(malloc["in_use"], truth["uordblks"]) and near(malloc["free"], truth["fordblks"]), (malloc, truth)
        # mallinfo2 counts each arena's top as a free chunk, and the fastbins' apart (smblks): the fastbin the
        # target fills before each heartbeat is read through glibc's pointer mangling (2.32+)
        assert abs(malloc["free_chunks"] - chunks) <= 50, (malloc, truth)
    else:
        # The walk of the free lists stops after 50 ms of the stop (host/glibc_arenas.py): on a slow or loaded
        # machine (a VM of 2026-12-04 under a test run) it ran out in some runs.  Then it gives bounds (the text
        # of the second command, read apart, marks them "<=" and ">=" when it ran out too: the regexes below).
        assert malloc["free"] <= truth["fordblks"] + 256 * 1024 and malloc["in_use"] >= truth["uordblks"] - 256 * 1024
        assert 0 < malloc["free_chunks"] <= chunks + 50, (malloc, truth)

    # the worker's arena (750 bytearrays of 24,000 B) is resident in other anonymous memory
    acc = doc["accounting"]
    assert acc["arenas_resident"]["malloc_thread_arenas"] > 10 * 2**20, acc
    pymalloc = doc["accounting"]["pymalloc"]
    if pymalloc is not None:
        assert 0 < acc["arenas_resident"]["pymalloc"] <= pymalloc["arena_bytes"] and acc["outside_arenas"] < 8 * 2**20, acc
        assert "in no allocator's arena" not in run.stdout
    if python == PYTHON_NODEBUG:
        assert pymalloc is None and "allocators: pymalloc" not in run.stdout  # no debug info: the table cannot be found
    elif before["pymalloc"] is None:  # 2.7 has no sys._debugmallocstats
        assert python == PYTHON_27 and pymalloc["arenas"] > 0 and pymalloc["in_use"] + pymalloc["free"] == pymalloc["arena_bytes"]
    else:
        stats = before["pymalloc"]
        assert (pymalloc["arenas"], pymalloc["arena_bytes"]) == (stats["arenas"], stats["arena_bytes"]), (pymalloc, stats)
        assert abs(pymalloc["free"] - stats["unused_pool_bytes"] - stats["alignment_bytes"]) <= 64 * 1024, (pymalloc, stats)
        assert re.search(r"^  fragmentation: pymalloc holds \d+\.\d MiB of empty pools", run.stdout, re.M), run.stdout
    walked = re.search(r"^  allocators: .*glibc malloc .* in use, [\d.]+ \w+ free between", run.stdout, re.M)  # no ">=": all of it
    if python != PYTHON_27 and walked:  # 2.7's heap of this target leaves less than the line's 8 MiB free
        assert re.search(r"^  fragmentation: glibc malloc holds 1\d\.\d MiB free in [\d,]+ chunks between chunks in use;"
                         r" .* malloc_trim\(0\)", run.stdout, re.M), run.stdout
    assert re.search(r"^  allocators: .*glibc malloc \d+\.\d MiB in 2 arenas \((<=)?\d+\.\d MiB in use, ", run.stdout, re.M), run.stdout
    page = html.memory_section(doc)  # the report's page says the same
    assert "What the allocators do with their part" in page and ("<p class=\"note\">Fragmentation: glibc malloc holds" in page) == (python != PYTHON_27)
    after = _allocator_state(target.wait_for_ticks(1)[-1])
    if doc["frames_source"] == "libpython":
        # read, never called: nothing of ours ran in the target, so its malloc is as it was
        # (give or take the few blocks of 100 B one heartbeat leaves in the fastbin or not)
        assert all(near(after["mallinfo2"][k], before["mallinfo2"][k]) for k in ("arena", "uordblks", "fordblks")), (before, after)
    assert target.alive() and target.wait_for_ticks(1)
