"""host.eval_loop: the verdict on a function's machine code, from a real gdb child on real files."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from support.interpreters import PYTHON_NODEBUG, PYTHON_NODEBUG_MISSING
from support.paths import FORKY, HOSTRUN

from gdb_memleak.host import eh_frame, elf, eval_loop

needs_gdb = pytest.mark.skipif(shutil.which("gdb") is None, reason="no gdb on PATH")

# A lock taken by a call, values kept in 256-bit registers, and neither.
PROGRAM = r"""
#include <pthread.h>
#include <immintrin.h>
pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
int counter;
__attribute__((noinline)) void takes_a_lock(void) { pthread_mutex_lock(&m); counter++; pthread_mutex_unlock(&m); }
__attribute__((noinline, target("avx2"))) void adds_wide(int *a, const int *b) {
    __m256i x = _mm256_loadu_si256((const __m256i *)a), y = _mm256_loadu_si256((const __m256i *)b);
    _mm256_storeu_si256((__m256i *)a, _mm256_add_epi32(x, y));
}
__attribute__((noinline)) int plain(int x) { return x * 3 + counter; }
/* the lock taken in the part GCC moves out of the function (cold_lock.cold, nameless once stripped) */
__attribute__((cold, noinline)) void report(int x) { counter += x; }
__attribute__((noinline)) int cold_lock(int x) {
    if (x == 12345) { report(x); pthread_mutex_lock(&m); counter++; pthread_mutex_unlock(&m); }
    return x * 7 + counter;
}
/* a cold part with no lock: cold_plain.cold, or nameless once stripped */
__attribute__((noinline)) int cold_plain(int x) {
    if (x == 54321) { report(x); counter += 2; }
    return x * 5 + counter;
}
/* 3.13+'s helpers that a critical section's caller runs: no lock in a build with the GIL */
__attribute__((noinline)) int pop_lock_held(int x) { return x + counter; }
__attribute__((noinline)) int calls_lock_held(int x) { return pop_lock_held(x) * 2; }
__attribute__((noinline)) int atomic_add(int x) { return __atomic_fetch_add(&counter, x, __ATOMIC_SEQ_CST); }
int main(int argc, char **argv) {
    int a[8] = {0}, b[8] = {1};
    takes_a_lock(); adds_wide(a, b);
    return plain(a[0]) + cold_lock(argc) + cold_plain(argc) + calls_lock_held(argc) + atomic_add(argc);
}
"""


def scanned(path: str, name: str, debug_dirs: str | None = None) -> eval_loop.EvalLoopCode | None:
    scan = eval_loop.Scan(path, name, debug_dirs)
    deadline = time.monotonic() + 60
    while not scan.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    return scan.result()


def readelf_symbol(path: str, name: str, size: bool = True) -> tuple[int, int]:
    """(address, size) of a function in the file's symbol tables; size False: (address, end)."""
    out = subprocess.run(["readelf", "--dyn-syms", "--syms", "-W", path], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        fields = line.split()  # Num: Value Size Type Bind Vis Ndx Name
        if len(fields) >= 8 and fields[3] == "FUNC" and fields[7].split("@")[0] == name:
            address, length = int(fields[1], 16), int(fields[2], 0)
            return (address, length) if size else (address, address + length)
    raise AssertionError("%s not in %s" % (name, path))


@needs_gdb
@pytest.mark.skipif(bool(PYTHON_NODEBUG_MISSING), reason=PYTHON_NODEBUG_MISSING or "-")
def test_debian_python_eval_loop_is_admitted_whole():
    """Debian's python3.11 (no debug info): its eval loop calls no lock primitive and uses no wide
    register; the range is the symbol's, and the bytes' digest is the file's."""
    code = scanned(PYTHON_NODEBUG, "_PyEval_EvalFrameDefault")
    assert code is not None
    assert code.interruptible, code.why
    start, size = readelf_symbol(PYTHON_NODEBUG, "_PyEval_EvalFrameDefault")
    assert (code.start, code.end - code.start) == (start, size)
    assert all(len(digest) == 64 for _, _, digest in code.parts)


@needs_gdb
@pytest.mark.skipif(bool(PYTHON_NODEBUG_MISSING), reason=PYTHON_NODEBUG_MISSING or "-")
def test_the_lock_function_itself_is_refused():
    code = scanned(PYTHON_NODEBUG, "PyThread_acquire_lock_timed")
    assert code is not None and not code.interruptible
    assert "sem_" in code.why and "clock_gettime" not in code.why, code.why


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> dict[str, str]:
    """The program built plain, with -fno-plt (calls through the GOT), and stripped (its functions
    exported, their cold parts left nameless).  Only read, never run: a CPU without AVX2 would
    not run adds_wide."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    where = tmp_path_factory.mktemp("programs")
    source = where / "prog.c"
    source.write_text(PROGRAM)
    built = {}
    for kind, flags in [("plain", []), ("no-plt", ["-fno-plt"]), ("stripped", ["-rdynamic"])]:
        out = where / kind
        subprocess.run(["gcc", "-O2", *flags, "-o", str(out), str(source), "-lpthread"], check=True)
        built[kind] = str(out)
    subprocess.run(["strip", built["stripped"]], check=True)
    return built


@needs_gdb
@pytest.mark.parametrize("kind", ["plain", "no-plt", "stripped"])
def test_a_lock_call_atomics_or_wide_registers_refuse_a_function(programs, kind):
    program = programs[kind]
    locked = scanned(program, "takes_a_lock")
    assert locked is not None and not locked.interruptible, locked
    # by its name, or (-fno-plt) as a call through a slot gdb cannot name
    assert ("pthread_mutex_lock" in locked.why) != ("cannot name" in locked.why), locked.why
    wide = scanned(program, "adds_wide")
    assert wide is not None and not wide.interruptible and "256" in wide.why, wide
    atomic = scanned(program, "atomic_add")
    assert atomic is not None and not atomic.interruptible and "atomic" in atomic.why, atomic
    plain = scanned(program, "plain")
    assert plain is not None and plain.interruptible, plain
    held = scanned(program, "calls_lock_held")
    assert held is not None and held.interruptible, held


@needs_gdb
@pytest.mark.parametrize("kind", ["plain", "stripped"])
def test_a_cold_part_is_admitted_only_where_it_is_known_to_be_the_function_s(programs, kind):
    """cold_plain's cold part is read whole and admitted where the symbol table names it
    (cold_plain.cold).  Stripped, it is jumped to only at its start, as a tail call would be: read
    from there and judged, not admitted."""
    code = scanned(programs[kind], "cold_plain")
    assert code is not None and code.interruptible, code
    assert len(code.parts) == 2 and code.spans[0] == (code.start, code.end), code
    if kind == "plain":
        assert code.spans[1] == readelf_symbol(programs[kind], "cold_plain.cold", size=False), code
    else:
        assert code.spans == ((code.start, code.end),), code


@needs_gdb
@pytest.mark.parametrize("kind", ["plain", "stripped"])
def test_a_lock_in_the_cold_part_refuses_the_function(programs, kind):
    """The lock is taken in code the function jumps to outside its own range: read in a second round."""
    code = scanned(programs[kind], "cold_lock")
    assert code is not None and not code.interruptible, code
    assert "pthread_mutex_lock" in code.why, code.why
    assert len(code.parts) >= 2 and not code.parts[0][0] <= code.parts[1][0] < code.parts[0][1]


@needs_gdb
@pytest.mark.parametrize("name", ["python3.14", "python3.15"])
def test_forky_static_release_eval_loop_is_admitted_with_its_cold_part(name):
    """Forky's static release builds keep 0.8-1.2 KB of the eval loop under its name and the
    opcodes' code in its .cold part.  The separate debug file's symbol table names it; without
    that file (the program is stripped), its unwind table's piece that the function jumps into
    the middle of is the same.  Read whole and admitted, both ways.  Their `*_lock_held` calls
    take no lock, and their jumps through the opcode table and calls through _PyRuntime's
    function pointers are no GOT slots."""
    path = HOSTRUN / name
    if not path.exists():
        pytest.skip("no %s (make setup makes it)" % path)
    named = scanned(str(path), "_PyEval_EvalFrameDefault", str(FORKY / "usr" / "lib" / "debug"))
    assert named is not None and named.interruptible, named and named.why
    assert len(named.spans) == 2 and named.spans[1][1] - named.spans[1][0] > 50_000, named.spans
    assert named.end - named.start < 2000, named.spans
    bare = scanned(str(path), "_PyEval_EvalFrameDefault")
    assert bare is not None and bare.interruptible and bare.spans == named.spans, bare


@needs_gdb
@pytest.mark.skipif(bool(PYTHON_NODEBUG_MISSING), reason=PYTHON_NODEBUG_MISSING or "-")
def test_no_gdb_on_path_or_no_such_function_gives_no_verdict(monkeypatch):
    assert scanned(PYTHON_NODEBUG, "no_such_function_anywhere") is None
    monkeypatch.setenv("PATH", "/nonexistent")
    scan = eval_loop.Scan(PYTHON_NODEBUG, "_PyEval_EvalFrameDefault")
    assert scan.done() and scan.result() is None


@needs_gdb
@pytest.mark.skipif(bool(PYTHON_NODEBUG_MISSING), reason=PYTHON_NODEBUG_MISSING or "-")
def test_debian_python_eval_loop_cold_part_is_read():
    """Debian's python3.11 eval loop jumps 314 times to its cold part, nameless in the stripped file:
    the unwind table's piece, read whole and admitted."""
    code = scanned(PYTHON_NODEBUG, "_PyEval_EvalFrameDefault")
    assert code is not None and len(code.parts) >= 2 and code.interruptible, code
    assert all(not code.start <= start < code.end for start, _, _ in code.parts[1:])
    ranges = eh_frame.function_ranges(PYTHON_NODEBUG)
    assert ranges is not None and code.spans[1] == ranges.containing(code.spans[1][0]), code.spans


def test_the_unwind_table_gives_each_function_s_pieces(programs):
    """Every function of the program, and each cold part, is one piece of the table, as its symbol says."""
    ranges = eh_frame.function_ranges(programs["plain"])
    assert ranges is not None
    for name in ("cold_plain", "cold_plain.cold", "cold_lock", "cold_lock.cold", "plain", "main"):
        start, end = readelf_symbol(programs["plain"], name, size=False)
        assert ranges.containing(start) == ranges.containing(end - 1) == (start, end), name
    assert eh_frame.function_ranges(__file__) is None


def test_a_damaged_unwind_table_gives_no_ranges_or_whole_ones(programs, tmp_path):
    """Bytes of the table changed at random: no exception, and what is read still matches its index."""
    import random

    data = bytearray(open(programs["plain"], "rb").read())
    found = elf.sections(programs["plain"])
    assert found is not None
    first = min(found[".eh_frame_hdr"][2], found[".eh_frame"][2])
    last = max(found[".eh_frame_hdr"][2] + found[".eh_frame_hdr"][3], found[".eh_frame"][2] + found[".eh_frame"][3])
    rng = random.Random(17)
    for trial in range(200):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(first, last)] = rng.randrange(256)
        path = tmp_path / "damaged"
        path.write_bytes(bytes(damaged))
        ranges = eh_frame.function_ranges(str(path))
        assert ranges is None or all(start <= end for start, end in ranges._ranges), trial


@needs_gdb
@pytest.mark.skipif(bool(PYTHON_NODEBUG_MISSING), reason=PYTHON_NODEBUG_MISSING or "-")
def test_a_listing_cut_short_gives_no_verdict():
    listing = subprocess.run(["gdb", "-batch", "-nx", "-readnever", "-ex", "disassemble /r PyObject_Free",
                              PYTHON_NODEBUG], capture_output=True, text=True, check=True).stdout
    assert eval_loop.read_listing(listing, eval_loop._Reading())
    cut = listing.splitlines(keepends=True)
    assert not eval_loop.read_listing("".join(cut[:-1]), eval_loop._Reading())  # no "End of assembler dump."
    assert not eval_loop.read_listing("".join(cut[:3] + cut[5:]), eval_loop._Reading())  # a hole in the code
