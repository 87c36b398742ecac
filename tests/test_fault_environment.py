"""Fault matrix, conditions 5, 6, 7 and 10: odd inferiors, odd environments, bad arguments.

For each: the right answer or a one-line gdb error, never a Python traceback
or a hang, and the target alive and still making progress afterwards.
"""

from __future__ import annotations

import os
import shutil

import pytest
from support.gdb import assert_no_traceback, gcore, run_gdb
from support.heartbeat import latest_tick
from support.interpreters import PYTHON_311, PYTHON_312, PYTHON_313, PYTHON_NODEBUG, libpython
from support.paths import DEBIAN_LIB, EXAMPLES, VENV_SITE, need
from support.targets import ENV_HEARTBEAT, SEED_CYCLES, SEED_STRING

PYENV_LIB = libpython(PYTHON_311)
PYPY = shutil.which("pypy3")


@pytest.fixture
def start_env_target(processes):
    """A target with a custom argv (prefix, interpreter flags) and environment: start(argv, env=None, cwd=None)."""
    return processes.argv


@pytest.fixture
def plain_process(processes):
    """A process that is not Python at all, ended by its pid."""
    return processes.plain


# --- 5. the inferior is not what the commands expect --------------------------------------------


def test_not_python_is_a_clear_error(plain_process):
    sleeper = plain_process(["/bin/sleep", "600"])
    run = run_gdb("py-memtop", "py-heap", "py-cycles", pid=sleeper.pid)
    assert_no_traceback(run)
    for command in ("py-memtop", "py-heap", "py-cycles"):
        assert "%s: /usr/bin/sleep is not a CPython process" % command in run.stderr or (
            "%s: /bin/sleep is not a CPython process" % command in run.stderr
        ), run.stderr
    assert sleeper.poll() is None  # still sleeping


@pytest.mark.skipif(PYPY is None, reason="pypy3 is not installed (make setup installs it with apt)")
def test_pypy_is_not_cpython(start_env_target, tmp_path):
    target = start_env_target([PYPY, ENV_HEARTBEAT])
    run = run_gdb("py-memtop", "py-heap", "py-cycles", pid=target.pid)
    assert_no_traceback(run)
    for command in ("py-memtop", "py-heap", "py-cycles"):
        assert "%s: " % command in run.stderr, run.stderr
    assert run.stderr.count("is not a CPython process") == 3, run.stderr
    assert target.wait_for_ticks(2)


def test_no_inferior_and_not_started_inferior():
    need(PYTHON_311)
    none = run_gdb("py-heap", "py-cycles", "py-memtop")
    assert_no_traceback(none)
    for command in ("py-heap", "py-cycles", "py-memtop"):
        assert "%s: no process: attach to one" % command in none.stderr
    loaded = run_gdb("py-heap", "py-cycles", "py-memtop", after=(PYTHON_311,))
    assert_no_traceback(loaded)
    for command in ("py-heap", "py-cycles", "py-memtop"):
        assert "%s: no process: %s is loaded but not running" % (command, PYTHON_311) in loaded.stderr, loaded.stderr


def test_core_file_of_an_interpreter_without_debug_info_is_one_line_and_writes_no_graph(start_target, tmp_path):
    """py-cycles reads a core from memory (tests/test_cycles_memory.py); where it cannot (Debian's python3.11
    has no debug info), one line says so, and --graph leaves no file behind."""
    need(PYTHON_NODEBUG)
    target = start_target(PYTHON_NODEBUG, SEED_CYCLES, "100")
    core = str(gcore(target.pid, tmp_path))
    run = run_gdb("py-cycles", "py-cycles --graph %s" % (tmp_path / "g.dot"), core=(PYTHON_NODEBUG, core))
    assert_no_traceback(run)
    errors = [line for line in run.stderr.splitlines() if line.startswith("py-cycles:") and "a core file" not in line]
    assert len(errors) == 2 and all("needs the interpreter's debug info" in e for e in errors), run.stderr
    assert not (tmp_path / "g.dot").exists()
    assert target.wait_for_ticks(1)


@pytest.mark.parametrize("python", [PYTHON_311, PYTHON_NODEBUG], ids=["pyenv-3.11", "debian-3.11-nodebug"])
def test_running_target_all_stop_is_refused_and_unharmed(start_target, python):
    need(python)
    target = start_target(python, SEED_STRING, "1")
    before = latest_tick(target)
    # No `interrupt` at the end: in batch mode gdb can detach before it has taken the
    # stop, and the SIGINT then reaches the target (KeyboardInterrupt, with or without
    # gdb-memleak loaded). gdb's exit detaches from the running target cleanly.
    run = run_gdb("continue &", "py-heap", "py-cycles", "py-memtop", pid=target.pid, timeout=120)
    assert_no_traceback(run)
    for command in ("py-heap", "py-cycles", "py-memtop"):
        assert "%s: the target is running; interrupt it first" % command in run.stderr, run.stderr
    after = target.wait_for_ticks(2)
    assert target.alive() and after, (target.proc.returncode, target.stderr[-10:], run.stderr[-3000:])
    assert int(after[-1].split()[2]) > int(before.split()[2])  # still growing its string


def test_non_stop_mode_is_refused_and_unharmed(start_target):
    need(PYTHON_NODEBUG)
    # Debian's python3.11 has no libpython helper: py-memtop would have to inject too.
    target = start_target(PYTHON_NODEBUG, SEED_STRING, "1")
    run = run_gdb("py-heap", "py-cycles", "py-memtop", before=("-iex", "set non-stop on"), pid=target.pid)
    assert_no_traceback(run)
    for command in ("py-heap", "py-cycles"):
        assert "%s: non-stop mode is not supported" % command in run.stderr, run.stderr
    # py-memtop still shows the memory, and says in one line why the locations are missing.
    assert "the fallback in the target failed: non-stop mode is not supported" in run.stderr, run.stderr
    assert "process %d: RSS" % target.pid in run.stdout
    assert target.alive() and target.wait_for_ticks(2)


def test_two_runtimes_running_one_has_debug_info(start_env_target):
    """pyenv's python3.11 (its own libpython, with debug info) with Debian's libpython loaded too."""
    need(PYTHON_311, DEBIAN_LIB)
    target = start_env_target([PYTHON_311, ENV_HEARTBEAT, DEBIAN_LIB])
    assert DEBIAN_LIB in open("/proc/%d/maps" % target.pid).read()
    run = run_gdb("py-heap --json", "py-memtop --json", pid=target.pid)
    assert_no_traceback(run)
    heap, memtop = run.json_documents()
    assert heap["backend"] == "census" and heap["total_count"] > 1000
    assert any(r["kind"] == "str" for r in heap["rows"]) and heap["total_size"] > 1_000_000
    main = next(t for t in memtop["threads"] if t["tid"] == target.pid)
    assert main["frames"][0]["file"].endswith("env_heartbeat.py")
    assert latest_tick(target)


def test_two_runtimes_gdb_would_resolve_the_idle_copy(start_env_target):
    """Debian's python3.11 (runtime in the executable, no debug info) with pyenv's libpython loaded:
    gdb's own name lookup prefers the idle copy (it has debug info); the injector must use the running one."""
    need(PYTHON_NODEBUG, PYENV_LIB)
    target = start_env_target([PYTHON_NODEBUG, ENV_HEARTBEAT, PYENV_LIB])
    run = run_gdb("py-heap --json --timeout 10", "py-memtop --json --timeout 10", pid=target.pid)
    assert_no_traceback(run)
    heap, memtop = run.json_documents()
    assert heap["backend"] == "census" and heap["total_count"] > 1000
    assert any(r["kind"] == "str" for r in heap["rows"])
    main = next(t for t in memtop["threads"] if t["tid"] == target.pid)
    assert memtop["frames_source"] == "payload"
    assert main["frames"][0]["file"].endswith("env_heartbeat.py")
    assert target.alive() and target.wait_for_ticks(2)


def test_program_not_named_python_gets_the_payload_as_source(start_env_target, tmp_path):
    """A program embedding CPython under another name is never run by gdb-memleak to
    precompile the payload: the source is sent and compiled in the target, statement by
    statement.  (A copy of Debian's static python3.11 named like a service stands in.)"""
    need(PYTHON_NODEBUG)
    service = tmp_path / "myservice"
    shutil.copy(PYTHON_NODEBUG, service)
    target = start_env_target([str(service), str(SEED_CYCLES), "20000"])
    assert os.path.basename(os.readlink("/proc/%d/exe" % target.pid)) == "myservice"
    for _ in range(2):  # and a second session: the source path leaves the target sound
        run = run_gdb("py-heap --json --top 3", "py-cycles --json", pid=target.pid)
        assert_no_traceback(run)
        heap, cycles = run.json_documents()
        assert {r["kind"] for r in heap["rows"][:2]} == {"__main__.ObjectA", "__main__.ObjectB"}
        assert cycles["cycles"][0]["path"] == "ObjectA.__attr -> ObjectB.__attr -> ObjectA"
    assert target.alive() and target.wait_for_ticks(2)


# --- 6. other mount namespace, other user -------------------------------------------------------


def test_private_tmp_and_hidden_tools_in_another_mount_namespace(start_env_target, tmp_path):
    need(PYTHON_311, shutil.which("unshare") or "/usr/bin/unshare")
    # Its own /tmp, and the venv's site-packages (guppy3, objgraph) hidden under an empty tmpfs.
    # Its collector is on (GC_RARE): with it off, objgraph would not even be looked for (safety row 8f).
    # The script is opened before the mounts and copied into the private /tmp: the
    # checkout itself may live under /tmp (CI clones), and would be hidden too.
    shell = (
        "exec 3< %s && mount -t tmpfs none %s && mount -t tmpfs none /tmp && cat <&3 > /tmp/seed_cycles.py "
        "&& GC_RARE=1 exec %s /tmp/seed_cycles.py 300" % (SEED_CYCLES, VENV_SITE, PYTHON_311)
    )
    target = start_env_target(["unshare", "-m", "--propagation", "private", "sh", "-c", shell])
    assert os.readlink("/proc/%d/ns/mnt" % target.pid) != os.readlink("/proc/self/ns/mnt")
    graph = tmp_path / "c.dot"
    run = run_gdb(
        "py-heap --json",
        "py-cycles --json ObjectA --graph %s" % graph,
        "py-memtop --json",
        "py-heap --backend guppy",
        pid=target.pid,
    )
    assert_no_traceback(run)
    heap, cycles, memtop = run.json_documents()
    assert heap["backend"] == "census" and heap["total_count"] > 1000
    assert any("ObjectA" in c["path"] for c in cycles["cycles"])
    assert graph.read_text().lstrip().startswith("digraph")  # drawn from the cycle: objgraph is out of sight
    assert "objgraph not importable in the target" in run.stderr
    main = next(t for t in memtop["threads"] if t["tid"] == target.pid)
    assert main["frames"] and main["frames"][0]["file"].endswith("seed_cycles.py"), memtop
    assert "py-heap: --backend guppy: guppy3 is not installed where the target can import it" in run.stderr
    assert target.alive() and target.wait_for_ticks(1)
    # The mounts were the target's own: the venv is still there for everyone else.
    assert os.path.isdir(os.path.join(VENV_SITE, "guppy"))


def test_target_runs_as_another_user(start_env_target):
    need(PYTHON_NODEBUG, "/usr/bin/setpriv")
    # examples/ is world-readable; /root (pyenv) is not, so the target is Debian's python.
    assert os.stat(SEED_STRING).st_mode & 0o004
    target = start_env_target(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", PYTHON_NODEBUG, SEED_STRING, "5"],
        cwd=str(EXAMPLES),
    )
    assert os.stat("/proc/%d" % target.pid).st_uid == 65534
    run = run_gdb("py-heap --json --largest 1", "py-cycles --json", "py-memtop --json", pid=target.pid)
    assert_no_traceback(run)
    heap, cycles, memtop = run.json_documents()
    assert heap["largest"][0]["path"] == "__main__._pure_string"
    assert isinstance(cycles["cycles"], list) and "uncollectable" in cycles
    main = next(t for t in memtop["threads"] if t["tid"] == target.pid)
    assert main["frames"][0]["file"].endswith("seed_string.py")
    assert target.alive() and target.wait_for_ticks(2)


# --- 7. no tools in the target's environment, or tools built for another Python -----------------


def test_isolated_target_without_tools_answers_with_census(start_env_target, tmp_path):
    need(PYTHON_312)
    # Cyclic garbage of its own (HEARTBEAT_CYCLES), so that py-cycles has a graph to draw.
    target = start_env_target([PYTHON_312, "-I", "-S", ENV_HEARTBEAT], env=dict(os.environ, HEARTBEAT_CYCLES="1"))
    graph = tmp_path / "g.dot"
    run = run_gdb(
        "py-heap --top 3",
        "py-heap --backend guppy",
        "py-cycles --json --graph %s" % graph,
        pid=target.pid,
    )
    assert_no_traceback(run)
    assert "census backend" in run.stdout and "Partition of a set of" in run.stdout
    assert "py-heap: --backend guppy: guppy3 is not installed where the target can import it" in run.stderr
    assert "nothing was imported into the target" in run.stderr
    assert run.document()["graph"] == str(graph)
    tick = latest_tick(target)
    assert "guppy=False objgraph=False" in tick


@pytest.mark.parametrize("python", [PYTHON_312, PYTHON_313], ids=["pyenv-3.12", "pyenv-3.13"])
def test_guppy_built_for_another_python_is_never_imported(start_env_target, python):
    need(python, os.path.join(VENV_SITE, "guppy"))
    env = dict(os.environ, PYTHONPATH=VENV_SITE)  # guppy3 for 3.11 on a newer Python's sys.path
    target = start_env_target([python, ENV_HEARTBEAT], env=env)
    run = run_gdb("py-heap --backend guppy", "py-heap --json", pid=target.pid)
    assert_no_traceback(run)
    assert "py-heap: --backend guppy: the guppy3 in %s/guppy was built for another Python" % VENV_SITE in run.stderr
    tag = "cpython-%s%s" % tuple(python.rsplit("python", 1)[1].split("."))
    assert "the target needs setsc.%s-x86_64-linux-gnu.so" % tag in run.stderr, run.stderr
    assert run.document()["backend"] == "census"
    tick = latest_tick(target)
    assert "guppy=False" in tick  # not even half-imported


# --- 10. bad arguments --------------------------------------------------------------------------


def test_bad_arguments_without_a_target():
    # test_heap.py covers py-heap --top -1, --backend nope, --frobnicate, --largest 5000.
    run = run_gdb(
        "py-cycles --top -1",
        "py-cycles --top 99999999999",
        "py-cycles --depth 0",
        "py-cycles --frobnicate",
        "py-memtop --stack 0",
        "py-memtop --frobnicate",
        "py-heap --timeout -1",
        "py-heap --timeout nan",
        "py-heap --timeout 0",
        "py-memtop --watch 0",
        "py-memtop --watch 601",
        "set py-memleak timeout 1e9",
        "show py-memleak timeout",
        "set py-memleak max-stop 600001",
        "show py-memleak max-stop",
        "py-heap --timeout soon",
        "py-heap --top 1e3",
        "py-heap --largest many",
        "py-heap --backend",
        "py-heap extra",
        "py-cycles --graph /proc/nope.png",
        "py-cycles --graph /sys/nope.svg",
        # Empty values ran a plain command, as if the option were not there.
        'py-heap --mark ""',
        'py-heap --since ""',
        'py-heap --drop-mark ""',
        'py-cycles --mark ""',
        'py-cycles --graph ""',
        'py-cycles ""',
        "py-cycles --graph /tmp/.svg",
    )
    assert_no_traceback(run)
    expected = [
        "py-cycles: argument --top: expected a number from 1 to 1000000, got -1 (see 'help py-cycles')",
        "py-cycles: argument --top: expected a number from 1 to 1000000, got 99999999999",
        "py-cycles: argument --depth: expected a number from 1 to 1000000, got 0",
        "py-cycles: unrecognized arguments: --frobnicate",
        "py-memtop: argument --stack: expected a number from 1 to 1000000, got 0",
        "py-memtop: unrecognized arguments: --frobnicate",
        "py-heap: argument --timeout: expected seconds above 0 and at most 86400, got -1",
        "py-heap: argument --timeout: expected seconds above 0 and at most 86400, got nan",
        "py-heap: argument --timeout: expected seconds above 0 and at most 86400, got 0",
        "py-memtop: argument --watch: expected seconds above 0 and at most 600, got 0",
        "py-memtop: argument --watch: expected seconds above 0 and at most 600, got 601",
        "py-memleak timeout is 1 to 86400 seconds (as --timeout)",
        "py-memleak max-stop is 0 to 600000 milliseconds",
        "py-heap: argument --timeout: expected seconds, got 'soon'",
        "py-heap: argument --top: expected a whole number, got '1e3'",
        "py-heap: argument --largest: expected a whole number, got 'many'",
        "py-heap: argument --backend: expected one argument",
        "py-heap: unrecognized arguments: extra",
        "py-cycles: cannot write /proc/nope.png: No such file or directory",
        "py-cycles: cannot write /sys/nope.svg: Permission denied",
        "py-heap: argument --mark: a mark name is 1 to 64 letters, digits or _.:-, got ''",
        "py-heap: argument --since: a mark name is 1 to 64 letters, digits or _.:-, got ''",
        "py-heap: argument --drop-mark: a mark name is 1 to 64 letters, digits or _.:-, got ''",
        "py-cycles: argument --mark: a mark name is 1 to 64 letters, digits or _.:-, got ''",
        "py-cycles: --graph FILE needs a file name, e.g. cycles.svg, got ''",
        "py-cycles: argument TYPE: expected a type name, got ''",
        "py-cycles: --graph FILE needs a file name, e.g. cycles.svg, got '/tmp/.svg'",
    ]
    lines = run.stderr.splitlines()
    for message in expected:
        assert sum(message in line for line in lines) == 1, (message, run.stderr)
    assert "waits up to 30 seconds" in run.stdout, run.stdout  # the refused 1e9 left the setting as it was
    assert "only when that would stop it at most 100 ms" in run.stdout, run.stdout


def test_bad_arguments_against_a_live_target(start_target, tmp_path):
    target = start_target(PYTHON_311, SEED_CYCLES, "200")
    before = latest_tick(target)
    a_dir = tmp_path / "graph.png"
    a_dir.mkdir()
    fifo = tmp_path / "fifo.svg"
    os.mkfifo(fifo)
    run = run_gdb(
        "py-cycles NoSuchType",
        "py-cycles --json int",
        "py-cycles --graph %s" % a_dir,
        "py-cycles --graph %s" % fifo,
        "py-cycles --graph %s/missing/x.png" % tmp_path,
        "py-cycles --top 1 ObjectA",
        pid=target.pid,
        timeout=120,
    )
    assert_no_traceback(run)
    assert "py-cycles: no type named NoSuchType in the target" in run.stderr
    assert "py-cycles: cannot write %s: it is a directory" % a_dir in run.stderr
    assert "py-cycles: cannot write %s: not a regular file" % fifo in run.stderr
    assert "py-cycles: cannot write %s/missing/x.png: directory" % tmp_path in run.stderr
    assert "ObjectA" in run.stdout  # and a good command right after still answers
    assert "no type named int" not in run.stderr  # a real type without cycles is no error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo.svg", "graph.png"]  # no probe files left
    after = target.wait_for_ticks(2)
    assert target.alive() and after and after[-1] != before
