"""The one gdb launcher: gdb -batch -nx with the plugin loaded from gdbinit.example, then the commands.

``gdb_argv`` spells the command line and ``gdb_env`` the environment; ``run_gdb``
runs it to the end, ``start_gdb`` starts it so the test can act meanwhile, and
``run_gdb_on_a_terminal`` runs gdb (not batch) on a pseudo-terminal as a user
does.  ``$GDB_MEMLEAK_GDB`` chooses the gdb (default: gdb on PATH), e.g.
.roots/bin/gdb-18.  A tool cache the user prepared never changes what the tests
see: GDB_MEMLEAK_CACHE points nowhere unless `extra_env` sets it.
"""

from __future__ import annotations

import functools
import json
import os
import pty
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .heartbeat import thread_states
from .paths import CACHE_ENV, FORKY, GDBINIT, NO_CACHE


def gdb_binary() -> str:
    return os.environ.get("GDB_MEMLEAK_GDB") or "gdb"


def gdb_argv(
    *commands: str,
    pid: int | None = None,
    core: tuple[str, str] | None = None,
    gdbinit: Path | None = GDBINIT,
    before: tuple[str, ...] = (),
    after: tuple[str, ...] = (),
    batch: bool = True,
    gdb: str | None = None,
) -> list[str]:
    """gdb [-batch] -nx [before...] -x gdbinit [after...] [-p pid | program core] -ex COMMAND...

    `gdbinit` None: gdb alone, without the plugin.  `before`: options gdb must see
    before the plugin loads (-iex ...); `after`: after it (-x a script, a program)."""
    argv = [gdb or gdb_binary()] + (["-batch"] if batch else []) + ["-nx", *before]
    if gdbinit is not None:
        argv += ["-x", str(gdbinit)]
    argv += list(after)
    if pid is not None:
        argv += ["-p", str(pid)]
    if core is not None:
        argv += [core[0], core[1]]
    for command in commands:
        argv += ["-ex", command]
    return argv


def gdb_env(path: str | None = None, extra_env: dict | None = None) -> dict:
    """The test's environment, no bytecode written, no user tool cache; `path` replaces PATH."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env[CACHE_ENV] = NO_CACHE
    if path is not None:
        env["PATH"] = path
    env.update(extra_env or {})
    return env


@dataclass
class GdbRun:
    returncode: int
    stdout: str
    stderr: str

    def json_documents(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def first_document(self) -> dict:
        docs = self.json_documents()
        assert docs, "expected a JSON document, got none\nstdout:\n%s\nstderr:\n%s" % (self.stdout, self.stderr)
        return docs[0]

    def document(self) -> dict:
        docs = self.json_documents()
        assert len(docs) == 1, "expected one JSON document, got %d\nstdout:\n%s\nstderr:\n%s" % (len(docs), self.stdout, self.stderr)
        return docs[0]


def run_gdb(*commands: str, timeout: float = 300, path: str | None = None, extra_env: dict | None = None,
            **argv_options) -> GdbRun:
    """gdb run to its end (see gdb_argv for pid, core, gdbinit, before, after, gdb).

    With the plugin loaded, every run also checks that gdb made no call into the target."""
    watch = argv_options.get("gdbinit", GDBINIT) is not None
    if watch and WATCH_INFERIOR_CALLS[1] not in argv_options.get("before", ()):
        argv_options["before"] = WATCH_INFERIOR_CALLS + tuple(argv_options.get("before", ()))
    argv = gdb_argv(*commands, **argv_options)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=gdb_env(path, extra_env))
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        where = where_gdb_hangs(proc.pid, argv_options.get("pid"))
        os.kill(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        raise AssertionError("gdb still ran after %s s: %s\n--- where it was:\n%s\n--- stdout:\n%s\n--- stderr:\n%s"
                             % (timeout, " ; ".join(commands), where, stdout, stderr)) from None
    run = GdbRun(proc.returncode, stdout, stderr)
    if watch:
        assert_no_inferior_call(run)
    return run


def where_gdb_hangs(gdb_pid: int, target: int | None) -> str:
    """What a hung gdb and its target were doing: gdb's native and Python stacks (read by a second
    gdb attached to gdb, and py-spy when it is there) and each target thread's state and wait."""
    lines = []
    try:
        lines.append(subprocess.run(
            ["gdb", "-batch", "-nx", "-p", str(gdb_pid), "-ex", "thread apply all bt 30"],
            capture_output=True, text=True, timeout=60).stdout[-6000:])
    except (OSError, subprocess.SubprocessError) as e:
        lines.append("gdb on gdb: %s" % e)
    spy = Path(__file__).resolve().parents[2] / ".venv-bench" / "bin" / "py-spy"
    if spy.exists():
        try:
            done = subprocess.run([str(spy), "dump", "--pid", str(gdb_pid)], capture_output=True, text=True, timeout=60)
            lines.append(done.stdout[-4000:] + done.stderr[-1000:])
        except (OSError, subprocess.SubprocessError) as e:
            lines.append("py-spy: %s" % e)
    if target is not None:
        lines += ["target %s" % state for state in thread_states(target)]
    return "\n".join(lines)


class BackgroundGdb:
    """gdb in batch mode, started without waiting, so a test can act while a command runs."""

    def __init__(self, argv: list[str], env: dict) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)

    def finish(self, timeout: float) -> tuple[str, str]:
        """(stdout, stderr) once gdb ends; SIGKILLed by its pid after `timeout`."""
        try:
            return self.proc.communicate(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_gdb(*commands: str, path: str | None = None, extra_env: dict | None = None, **argv_options) -> BackgroundGdb:
    """gdb started, not waited for (see gdb_argv); the test ends it with finish()."""
    return BackgroundGdb(gdb_argv(*commands, **argv_options), gdb_env(path, extra_env))


def run_gdb_on_a_terminal(pid: int, *commands: str, timeout: float = 120) -> str:
    """gdb (not batch) on a pseudo-terminal, as a user runs it, attached to `pid`; its whole output."""
    argv = gdb_argv(*(commands + ("detach", "quit")), pid=pid, batch=False,
                    before=("-q", "-iex", "set pagination off", "-iex", "set confirm off", "-iex", "set width 0",
                            "-iex", "set auto-load python-scripts off"))
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=gdb_env(extra_env={"TERM": "xterm"}),
                            start_new_session=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: gdb closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        os.close(master)
    return out.decode("utf-8", "replace")


# Lets py-heap and py-cycles read a target's memory by themselves when no safe point comes (or it opted
# out), however long that stops it: the default (100 ms) refuses on every live target.
READ_UNASKED = "set py-memleak max-stop 600000"

# gdb options (`before=`) that print a line for every call gdb makes into the target (a `call`,
# or an expression with a function call in it, the kind that kills targets on CPUs with AMX).
_CALL_MARK = "gdb-memleak-test: gdb called a function in the target"
# (printed from two halves: the command line, which py-memtop shows, never holds the whole mark)
WATCH_INFERIOR_CALLS = ("-iex", "python import gdb; gdb.events.inferior_call.connect(lambda e: isinstance(e, "
                        "gdb.InferiorCallPreEvent) and print('%s' + '%s at 0x%%x' %% int(e.address)))"
                        % (_CALL_MARK[:20], _CALL_MARK[20:]))


def gcore(pid: int, tmp_path: Path) -> Path:
    """A core of the live process `pid`, made by gdb's gcore in `tmp_path` (the process goes on)."""
    subprocess.run(["gcore", "-o", str(tmp_path / "core"), str(pid)], check=True, capture_output=True, timeout=120)
    return tmp_path / ("core.%d" % pid)


def end_gdb_forks(session: int) -> list[int]:
    """End what is left in the session of a gdb killed there (started with start_new_session): forks of
    gdb that never exec, such as its ptrace check's child, stopped for good when gdb is killed in its
    first attach.  Their pids."""
    left = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError, ValueError):
            continue
        if entry.isdigit() and int(fields[3]) == session:  # (field 6, the session)
            left.append(int(entry))
            try:
                os.kill(int(entry), signal.SIGKILL)
            except ProcessLookupError:
                pass
    return left


def assert_no_inferior_call(run) -> None:
    """gdb run with before=WATCH_INFERIOR_CALLS made no call into the target."""
    assert _CALL_MARK not in run.stdout, run.stdout


def assert_no_traceback(run) -> None:
    assert "Traceback" not in run.stdout + run.stderr, run.stdout + run.stderr
    assert "Python Exception" not in run.stderr, run.stderr


def gdb_reads_the_tree_s_debug_info() -> bool:
    """gdb 18 of the forky tree looks for debug info in the tree's /usr/lib/debug (relative to
    its own binary): the release builds' then reads, in and out of the root."""
    return _debug_dir_is_the_tree_s(gdb_binary())


@functools.cache
def _debug_dir_is_the_tree_s(gdb: str) -> bool:
    shown = run_gdb("show debug-file-directory", gdbinit=None, gdb=gdb, timeout=60).stdout
    return str(FORKY / "usr" / "lib" / "debug") in shown


def run_source_script(tmp_path: Path, payload: str, args: dict, timeout: float = 20) -> Path:
    """A gdb script that runs `payload` through the real injector and prints its result or error."""
    path = tmp_path / "run_source.gdb"
    path.write_text(
        "python\n"
        "import json\n"
        "from gdb_memleak.errors import MemleakError\n"
        "from gdb_memleak.gdbside.invocation import Invocation\n"
        "from gdb_memleak.inject import session as injector\n"
        "try:\n"
        "    r = injector.run_source(Invocation('test-payload', %r), %r, %r)\n"
        "    print('RESULT', json.dumps(r.result))\n"
        "except (gdb.GdbError, MemleakError) as e:\n"
        "    print('ERROR', e)\n"
        "end\n" % (timeout, payload, args)
    )
    return path
