"""Target processes: started with a ready handshake, watched by their heartbeat, ended by their pid.

A target is a real Python process started from examples/ or tests/targets/; it
prints "ready" when its heap is set up, then a heartbeat line ("tick ...")
every half second (heartbeat.py).  Every process a test starts, it ends by its
pid: ``Processes`` keeps them, and the ``processes`` fixture ends them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from . import heartbeat
from .paths import EXAMPLES, FORKY, ROOTS, TARGETS

# The scripts the targets run.
SEED_STRING = EXAMPLES / "seed_string.py"  # the seed's case 2: one huge str held by a module global
SEED_CYCLES = EXAMPLES / "seed_cycles.py"  # the seed's case 1: ObjectA <-> ObjectB cycles, gc off
SEED_CASES = TARGETS / "seed_cases.py"  # both cases, Python 2.7 and 3.x
SERVICE = TARGETS / "service.py"  # a service checking its own data in every heartbeat
LONG_C_CALL = TARGETS / "long_c_call.py"  # the GIL held in one long C call
ENV_HEARTBEAT = TARGETS / "env_heartbeat.py"
GROWING_CACHE = TARGETS / "growing_cache.py"
HOSTILE = TARGETS / "hostile_objects.py"
DLOPEN_LATER = TARGETS / "dlopen_later.py"  # 400,000 records; SIGUSR1: a dlopen (a first C extension's import)
UNTRACKED_CACHE = TARGETS / "untracked_cache.py"  # a module-level dict of strs gc does not track (10 MB)
NO_LINE_NUMBERS = TARGETS / "no_line_numbers.py"  # the only thread loops in code without line numbers (3.11+)
IDLE = TARGETS / "idle.py"  # some data, then a sleep: nothing changes
REBOUND_GLOBAL = TARGETS / "rebound_global.py"  # a global list of 20,000 tuples made anew every 10 ms
PATH_SHAPES = TARGETS / "path_shapes.py"  # paths through a C module's own state, and none at all
SUBCLASS_CONTAINERS = TARGETS / "subclass_containers.py"  # big objects in list, tuple and dict subclasses with methods of their own
DANGLING_ITERATOR = TARGETS / "dangling_iterator.py"  # a thread iterating threading._dangling nonstop; ticks: its errors
CPROFILED = TARGETS / "cprofiled.py"  # cProfile on in the main thread; ticks: still in place, work() calls, payload calls seen
FINALIZER_CHURN = TARGETS / "finalizer_churn.py"  # a thread dropping objects with __del__ and weakref callbacks; argv: plain|lock
CATCHES_STOP_SIGNALS = TARGETS / "catches_stop_signals.py"  # handlers for both SIGURG and SIGWINCH
KEY_FINALIZER_RACE = TARGETS / "key_finalizer_race.py"  # the census against a key its dict drops meanwhile (payload on its own)
WIDE_RING = TARGETS / "wide_ring.py"  # one ring of 100 objects, each holding 10 lists of 10 lists of 10 strs
TIMER_SIGNALS = TARGETS / "timer_signals.py"  # short waits under a 10 ms interval timer with a handler
YOUNG_CYCLES = TARGETS / "young_cycles.py"  # cyclic garbage with finalizers made by a worker under a threshold of 50; counts where each ran
GC_OFF_CLOSURES = TARGETS / "gc_off_closures.py"  # gc off, Node pairs and self-referring closures; ticks show sys.modules
DATA_GARBAGE = TARGETS / "data_garbage.py"  # gc off: cycles with data hanging off them, a class only its instances keep; prints the collector's count
BUSY_WITH_RT_HANDLER = TARGETS / "busy_with_rt_handler.py"  # one long C call, and a handler for SIGRTMIN
NAMED_THREADS = TARGETS / "named_threads.py"
AUDIT_REFUSES = TARGETS / "audit_refuses.py"  # an audit hook that raises on the events named
EXECS_WHEN_TRACED = TARGETS / "execs_when_traced.py"  # execs a new program 1 s after a tracer attaches
ODD_BUILTINS = TARGETS / "odd_builtins.py"  # sys.path a tuple, or len and isinstance replaced
NATIVE_LEAK = TARGETS / "native_leak.py"  # 120 MB from malloc through ctypes beside a small Python heap
LOCAL_HOLDER = TARGETS / "local_holder.py"  # a 3 MB bytearray only a running function's local holds
RETURNING_FRAME = TARGETS / "returning_frame.py"  # a function that returns just after the census listed its frame
AUDIT_LOG = TARGETS / "audit_log.py"  # issue 14's Flask case: a module-level list of 2,361 request dicts
KEPT_ERRORS = TARGETS / "kept_errors.py"  # exceptions kept in a list keep their frames' locals
BIG_CONTAINERS = TARGETS / "big_containers.py"  # big objects deep in module-level containers of 25,000 items
WIDE_TUPLE = TARGETS / "wide_tuple.py"  # tuples of 20,000 and 30,000 items, wider than the census reads in one go
BYTES_BLOBS = TARGETS / "bytes_blobs.py"  # 5,000 bytes objects of about 1 KB: the largest kind
UNICODE_MODULE = TARGETS / "unicode_module.py"  # imports a module of a class named Ünï, written in argv[1]
PYTHON_ONLY = TARGETS / "python_only.py"  # one thread running Python nonstop: no thread waits anywhere
C_CALL_AND_SLEEP = TARGETS / "c_call_and_sleep.py"  # one thread: a long C call holding the GIL, a short sleep, again
FOREIGN_SLEEP = TARGETS / "foreign_sleep.py"  # the main thread in ctypes libc.sleep, which an EINTR would cut short
JSON_CACHE = TARGETS / "json_cache.py"  # parsed requests kept: json allocates, handle() called it
TRACES_ITSELF = TARGETS / "traces_itself.py"  # tracemalloc started by the target itself
LEAKED_TASKS = TARGETS / "leaked_tasks.py"  # asyncio: 300 handlers wait forever, 150 sleep an hour
THREAD_POOL = TARGETS / "thread_pool.py"  # 40 threads waiting at one line, one elsewhere
LATE_THREADING = TARGETS / "late_threading.py"  # 3.13+: threading first imported by a _thread thread
BARE_THREADS = TARGETS / "bare_threads.py"  # a worker from _thread, and no threading module
NUMPY_VIEWS = TARGETS / "numpy_views.py"  # 8 views of 2 rows keep 8 batches of 8 MB alive
FRAGMENTED_HEAP = TARGETS / "fragmented_heap.py"  # glibc and pymalloc arenas mostly free; ticks carry mallinfo2()
CONTAINER_HEAP = TARGETS / "container_heap.py"  # run by forky's 3.14 and 3.15, in and out of the root
STAND_IN_INT3 = TARGETS / "stand_in_int3.py"  # a byte 0xCC at an address it prints: keeper.sh on its own

# A service of about 65 MB (100k records), the size of a small production process.
SERVICE_65MB = {"SERVICE_RECORDS": "100000"}
# forky's python3.14 as a target in the root sees it.
FORKY_PYTHON = "/usr/bin/python3.14"


# A program that embeds CPython through its shared library alone, as uWSGI does.
EMBED_C = r"""
extern void Py_Initialize(void);
extern int PyRun_SimpleString(const char *);
int main(int argc, char **argv) { Py_Initialize(); return PyRun_SimpleString(argv[1]); }
"""
TRIXIE_LIB = ROOTS / "trixie-gdb" / "usr" / "lib" / "x86_64-linux-gnu"


def script_line(script: Path, text: str) -> int:
    """The 1-based line of `script` that contains `text`."""
    for number, line in enumerate(Path(script).read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError("%r not in %s" % (text, script))


# The lines of container_heap.py's heartbeat loop: where py-memtop may find the main thread.
CONTAINER_LOOP_LINES = {script_line(CONTAINER_HEAP, text) for text in ("time.sleep(0.5)", "ticks += 1", 'print("tick')}


def assert_pool_placed(threads: list[dict], target: Target) -> None:
    """py-memtop's threads of thread_pool.py: the 40 of the pool, the odd one out, the main
    thread and the extras (names in each of str's layouts, one over 200 characters) each
    named and placed at their line."""
    extras = next(json.loads(line.split(" ", 1)[1]) for line in target.lines if line.startswith("extras "))
    script = str(THREAD_POOL)
    waiting = script_line(THREAD_POOL, "never.wait()")
    sleeping = script_line(THREAD_POOL, "time.sleep(0.05)")

    def app_frame(t):
        return next(((f["line"], f["function"]) for f in t["frames"] if f["file"] == script), None)

    pool = [t for t in threads if (t["python_name"] or "").startswith("pool-")]
    assert len(pool) == 40, threads
    assert all(app_frame(t) == (waiting, "idle") for t in pool), [app_frame(t) for t in pool]
    assert [app_frame(t) for t in threads if t["python_name"] == "other"] == [(sleeping, "other")]
    shown = {t["python_name"]: app_frame(t) for t in threads if (t["python_name"] or "pool-").split("-")[0] not in ("pool", "other", "MainThread")}
    assert shown == {(n if len(n) <= 200 else n[:200] + "..."): (waiting, "idle") for n in extras}, shown
    assert [app_frame(t)[1] for t in threads if t["python_name"] == "MainThread"] == ["<module>"]


def assert_service_kinds(doc: dict) -> None:
    """The service's 20000 records are dicts holding strs: both kinds are near the top of py-heap's rows."""
    kinds = [row["kind"] for row in doc["rows"]]
    assert "str" in kinds and any(k.startswith("dict") for k in kinds), kinds


def end_by_pid(proc: subprocess.Popen) -> None:
    """SIGKILL `proc` by its pid if it still runs, and reap it."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


class Target:
    """A running Python process with a ready handshake and a heartbeat."""

    def __init__(self, python: str, script: Path, *args: str, ready_timeout: float = 60, env: dict | None = None):
        """`env`: variables added to the test's own environment."""
        self.start([python, str(script), *args], cwd=str(Path(script).parent),
                   env=dict(os.environ, **env) if env else None, ready_timeout=ready_timeout)

    @classmethod
    def from_argv(cls, argv: list, cwd: str | None = None, env: dict | None = None, ready_timeout: float = 60) -> Target:
        """A target started with a command line of its own (a prefix, interpreter flags), in `cwd`
        (default tests/targets), with `env` as its whole environment (default the test's)."""
        target = cls.__new__(cls)
        target.start([str(a) for a in argv], cwd=cwd or str(TARGETS), env=env, ready_timeout=ready_timeout)
        return target

    def start(self, argv: list[str], cwd: str, env: dict | None = None, ready_timeout: float = 60) -> None:
        """Start `argv` and wait for its "ready" line (or end it and fail)."""
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=cwd, env=env)
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self.stderr: list[str] = []
        ready = threading.Event()
        threading.Thread(target=heartbeat.read_lines, args=(self.proc.stdout, self.lines, ready), daemon=True).start()
        threading.Thread(target=heartbeat.read_lines, args=(self.proc.stderr, self.stderr), daemon=True).start()
        if not ready.wait(ready_timeout):
            self.stop()
            raise RuntimeError("target %s never became ready: %s" % (argv, "".join(self.stderr)[-2000:]))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ticks(self) -> list[str]:
        return heartbeat.ticks(self.lines)

    def wait_for_ticks(self, more: int, timeout: float = 20) -> list[str]:
        """Wait until `more` new heartbeat lines arrive: the target is still working."""
        return heartbeat.wait_for_ticks(self, more, timeout)

    def rss(self) -> int:
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        end_by_pid(self.proc)


def _children(pid: int) -> list[int]:
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _parent(pid: int) -> int:
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except OSError:
        return 0


class RootTarget(Target):
    """A script run by an interpreter of a root (forky's, bullseye's); `python_pid` is the host pid to attach to."""

    def __init__(self, argv: list[str], namespaced: bool) -> None:
        self.python_pid = 0
        self.start(argv, cwd="/")
        # unshare --fork runs the interpreter as its child (pid 1 inside the new namespace).
        self.python_pid = _children(self.pid)[0] if namespaced else self.pid

    def stop(self) -> None:
        # pid 1 of a PID namespace ignores SIGTERM from outside; SIGKILL, and only if it is still ours.
        if self.python_pid and self.python_pid != self.pid and _parent(self.python_pid) == self.pid:
            os.kill(self.python_pid, signal.SIGKILL)
        super().stop()


ROOT_HOWS = ("chroot", "namespaces", "pivot_root")


def root_argv(python: str, script: str, how: str, root: Path = FORKY, args: tuple[str, ...] = ()) -> list[str]:
    """The command that runs `script` with `python` (both as the root sees them) and `args` in `root`:
    chrooted, chrooted in its own PID and mount namespaces, or as Docker runs it (pivot_root)."""
    command = ["chroot", str(root), python, script, *args]
    if how == "namespaces":
        # Own PID and mount namespaces, a /proc of its own in the root (mounted in the
        # private mount namespace only: gone with it, never seen here).
        return ["unshare", "--pid", "--mount", "--fork", "--kill-child", "--mount-proc=%s/proc" % root] + command
    if how == "pivot_root":
        # The root becomes the mount namespace's own /, the old one is let go.
        old = os.path.join(os.path.dirname(script), "old")
        os.mkdir(str(root) + old)
        shell = (f"mount --bind {root} {root} && mount -t proc proc {root}/proc && cd {root} && pivot_root . .{old} "
                 f"&& umount -l {old} && exec {python} {script} {' '.join(args)}")
        return ["unshare", "--pid", "--mount", "--fork", "--kill-child", "sh", "-c", shell]
    assert how == "chroot", how
    return command


class Processes:
    """Everything a test started, each ended by its pid when the test ends (``stop_all``)."""

    def __init__(self) -> None:
        self.started: list = []

    def add(self, thing):
        """Keep `thing` (a Target, or anything with stop()) to end it with the others."""
        self.started.append(thing)
        return thing

    def target(self, python: str, script: Path, *args: str, **options) -> Target:
        """`script` run by `python` with `args` (options: env, ready_timeout; see Target)."""
        return self.add(Target(python, script, *args, **options))

    def argv(self, argv: list, env: dict | None = None, cwd: str | None = None) -> Target:
        """A target with a command line of its own (see Target.from_argv)."""
        return self.add(Target.from_argv(argv, cwd=cwd, env=env))

    def embedded_trixie_313(self, script: Path, tmp_path: Path) -> Target:
        """`script` run by Debian trixie's libpython3.13 (3.13.5, no debug info, from the gdb 16
        tree) embedded in a program compiled here, as uWSGI embeds it (no headers needed), through
        the tree's loader.  Skips without the tree or gcc."""
        tree = TRIXIE_LIB
        if not (tree / "libpython3.13.so.1.0").exists() or shutil.which("gcc") is None:
            pytest.skip("no %s (make setup makes it) or no gcc" % (tree / "libpython3.13.so.1.0"))
        (tmp_path / "embed.c").write_text(EMBED_C)
        program = tmp_path / "embed"
        subprocess.run(["gcc", "-O1", "-o", str(program), str(tmp_path / "embed.c"), str(tree / "libpython3.13.so.1.0"),
                        "-Wl,--allow-shlib-undefined"], check=True)
        code = "import runpy; runpy.run_path(%r, run_name='__main__')" % str(script)
        return self.argv([tree / "ld-linux-x86-64.so.2", "--library-path", tree, program, code],
                         env=dict(os.environ, PYTHONHOME=str(tree.parent.parent)))

    def in_root(self, python: str, script: str, how: str, root: Path = FORKY, args: tuple[str, ...] = ()) -> RootTarget:
        """`script` run by `root`'s `python` (both as the root sees them), `how` one of ROOT_HOWS."""
        return self.add(RootTarget(root_argv(python, script, how, root, args), namespaced=how != "chroot"))

    def plain(self, argv: list[str]) -> subprocess.Popen:
        """A process that is not a target (no handshake, output dropped)."""
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.add(_Plain(proc))
        return proc

    def stop_all(self) -> None:
        failed = None
        for thing in self.started:
            try:
                thing.stop()
            except Exception as e:  # end the others all the same
                failed = failed or e
        if failed is not None:
            raise failed


class _Plain:
    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    def stop(self) -> None:
        end_by_pid(self.proc)
