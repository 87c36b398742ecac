"""Real targets, real gdb: the fixtures every test uses.

A target is a real Python process started from examples/ or tests/targets/; it
prints "ready" when its heap is set up, then a heartbeat line ("tick ...")
every half second, which a reader thread collects so the pipe never fills.
gdb runs in batch mode with the plugin loaded from gdbinit.example, as a user
would load it.  Every process a test starts, it ends by its pid.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
TARGETS = Path(__file__).resolve().parent / "targets"
GDBINIT = REPO / "gdbinit.example"
CACHE_ENV = "GDB_MEMLEAK_CACHE"

PYENV_311 = "/root/.pyenv/versions/3.11.7/bin/python3.11"
DEBIAN_PYTHON = "/usr/bin/python3.11"

# The two interpreters issue 2 names: one with debug info and its libpython
# helper, one without (locations then come from inside the target).
INTERPRETERS = [
    pytest.param(PYENV_311, id="pyenv-3.11", marks=pytest.mark.skipif(not os.path.exists(PYENV_311), reason="no pyenv 3.11.7")),
    pytest.param(DEBIAN_PYTHON, id="debian-3.11-nodebug", marks=pytest.mark.skipif(not os.path.exists(DEBIAN_PYTHON), reason="no Debian python3.11")),
]


PYENV_ROOT = "/root/.pyenv/versions"


def _pyenv_python(minor: str) -> tuple[str, str]:
    """(path of the newest pyenv CPython `minor`.x binary, or a would-be path; skip reason)."""
    import glob

    found = sorted(glob.glob("%s/%s.*/bin/python%s" % (PYENV_ROOT, minor, minor)), key=lambda p: [int(x) for x in re.findall(r"\d+", p.split("/")[-3])])
    if found:
        return found[-1], ""
    return "%s/%s.x/bin/python%s" % (PYENV_ROOT, minor, minor), "no pyenv CPython %s (looked for %s/%s.*/bin/python%s)" % (minor, PYENV_ROOT, minor, minor)


# Every CPython a user may be debugging (issue 7): pyenv builds with debug info and
# their libpython helper, 2.7 and 3.8 to 3.13, and Debian's 3.11 without debug symbols.
ALL_VERSIONS = ("2.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13")
ALL_INTERPRETERS = [
    pytest.param(path, id="pyenv-" + minor, marks=pytest.mark.skipif(bool(why), reason=why or "present"))
    for minor, (path, why) in ((m, _pyenv_python(m)) for m in ALL_VERSIONS)
] + [
    pytest.param(DEBIAN_PYTHON, id="debian-3.11-nodebug", marks=pytest.mark.skipif(not os.path.exists(DEBIAN_PYTHON), reason="no Debian %s" % DEBIAN_PYTHON)),
]


class Target:
    """A running Python process with a ready handshake and a heartbeat."""

    def __init__(self, python: str, script: Path, *args: str, ready_timeout: float = 60, env: dict | None = None):
        """`env`: variables added to the test's own environment."""
        self.start([python, str(script), *args], cwd=str(script.parent), env=dict(os.environ, **env) if env else None,
                   ready_timeout=ready_timeout)

    def start(self, argv: list[str], cwd: str, env: dict | None = None, ready_timeout: float = 60) -> None:
        """Start `argv` and wait for its "ready" line (or end it and fail)."""
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=env,
        )
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self.stderr: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr, False), daemon=True).start()
        if not self._ready.wait(ready_timeout):
            self.stop()
            raise RuntimeError("target %s never became ready: %s" % (argv, "".join(self.stderr)[-2000:]))

    def _read(self, stream, sink: list, signals_ready: bool) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))
            if signals_ready and line.strip() == "ready":
                self._ready.set()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ticks(self) -> list[str]:
        return [line for line in self.lines if line.startswith("tick ")]

    def wait_for_ticks(self, more: int, timeout: float = 20) -> list[str]:
        """Wait until `more` new heartbeat lines arrive: the target is still working."""
        start = len(self.ticks())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.ticks()) < start + more:
            if not self.alive():
                break
            time.sleep(0.05)
        return self.ticks()[start:]

    def rss(self) -> int:
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


@pytest.fixture
def start_target():
    started: list[Target] = []

    def start(python: str, script: Path, *args: str, **options) -> Target:
        target = Target(python, script, *args, **options)
        started.append(target)
        return target

    yield start
    for target in started:
        target.stop()


@dataclass
class GdbRun:
    returncode: int
    stdout: str
    stderr: str

    def json_documents(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def document(self) -> dict:
        docs = self.json_documents()
        assert len(docs) == 1, "expected one JSON document, got %d\nstdout:\n%s\nstderr:\n%s" % (len(docs), self.stdout, self.stderr)
        return docs[0]


def gdb_binary() -> str:
    return os.environ.get("GDB_MEMLEAK_GDB") or "gdb"


def run_gdb(
    *commands: str,
    pid: int | None = None,
    core: tuple[str, str] | None = None,
    gdbinit: Path = GDBINIT,
    path: str | None = None,
    timeout: float = 300,
    extra_env: dict | None = None,
) -> GdbRun:
    """gdb -batch -nx with the plugin loaded from `gdbinit` (gdbinit.example by default), then `commands`.

    $GDB_MEMLEAK_GDB chooses the gdb (default: gdb on PATH), e.g. .roots/bin/gdb-18."""
    argv = [gdb_binary(), "-batch", "-nx", "-x", str(gdbinit)]
    if pid is not None:
        argv += ["-p", str(pid)]
    if core is not None:
        argv += [core[0], core[1]]
    for command in commands:
        argv += ["-ex", command]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    # A tool cache the user prepared must not change what the tests see (extra_env may set one).
    env[CACHE_ENV] = "/nonexistent/gdb-memleak-test-cache"
    if path is not None:
        env["PATH"] = path
    env.update(extra_env or {})
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, env=env)
    return GdbRun(proc.returncode, proc.stdout, proc.stderr)


def assert_no_traceback(run: GdbRun) -> None:
    assert "Traceback" not in run.stdout + run.stderr, run.stdout + run.stderr
    assert "Python Exception" not in run.stderr, run.stderr


def script_line(script: Path, text: str) -> int:
    """The 1-based line of `script` that contains `text`."""
    for number, line in enumerate(script.read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError("%r not in %s" % (text, script))


def gc_fields(tick: str) -> str:
    """The gc settings part of a heartbeat line."""
    return tick[tick.index("gc="):]


# Issue 6: the gdb-memleak console script (.venv/bin/gdb-memleak after `make setup`).
def gdb_memleak_argv() -> list[str]:
    script = Path(sys.executable).parent / "gdb-memleak"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gdb_memleak"]


def run_gdb_memleak(*args: str, timeout: float = 600, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env[CACHE_ENV] = "/nonexistent/gdb-memleak-test-cache"
    if os.environ.get("GDB_MEMLEAK_GDB"):
        env["GDB"] = os.environ["GDB_MEMLEAK_GDB"]
    env.update(extra_env or {})
    return subprocess.run(gdb_memleak_argv() + list(args), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=str(REPO))


# The Debian forky tree make setup builds (issue 12), and the script its targets run.
FORKY = REPO / ".roots" / "forky"
CONTAINER_SCRIPT = TARGETS / "container_heap.py"


@pytest.fixture
def script_in_root():
    """container_heap.py in a fresh directory of the root's /tmp: its path as the target sees it."""
    import shutil
    import tempfile

    if not FORKY.exists():
        pytest.skip("no %s (make setup builds it)" % FORKY)
    made = tempfile.mkdtemp(prefix="gdb-memleak-test-", dir=str(FORKY / "tmp"))
    try:
        shutil.copy(CONTAINER_SCRIPT, made)
        yield "/%s/%s" % (os.path.relpath(made, FORKY), CONTAINER_SCRIPT.name)
    finally:
        shutil.rmtree(made)
