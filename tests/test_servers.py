"""Issue 13's real-server harm test: gunicorn (a sync worker; a gevent worker, whose main thread
waits in libev's epoll_wait) and uvicorn (asyncio: the payload runs on the event loop's own
thread) from PyPI, serving tests/targets/web_apps.py on 127.0.0.1 under a bounded load
(support/load.py), while gdb runs each command on the process that serves.

Asserted: no request fails, the server goes on serving, and the command did its work. Printed
(pytest -s): how much the slowest request under way was delayed. What each command adds to the
latency, against a plain gdb attach, is measured by benchmarks/servers.py
(docs/benchmarks-servers.md), not here."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from support.gdb import assert_no_traceback
from support.load import added_latency, run_under_load
from support.paths import TARGETS, VENV

APP = TARGETS / "web_apps.py"
VENV_PYTHON = VENV / "bin" / "python"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn with one worker (sync, or gevent's), or uvicorn, serving web_apps.py; `worker` is the pid that serves."""

    body = b"ok\n"

    def __init__(self, kind: str, directory: Path):
        self.port = _free_port()
        self.log = directory / ("%s.log" % kind)
        if kind.startswith("gunicorn"):
            worker = ["--worker-class", "gevent"] if kind == "gunicorn-gevent" else []
            argv = [str(VENV_PYTHON), "-m", "gunicorn", "--workers", "1", *worker, "--bind", "127.0.0.1:%d" % self.port,
                    "web_apps:wsgi"]
        else:
            argv = [str(VENV_PYTHON), "-m", "uvicorn", "--port", str(self.port), "--log-level", "warning", "web_apps:asgi"]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(argv, cwd=str(APP.parent), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.worker = self._wait_until_serving(kind)
        except BaseException:
            self.stop()
            raise

    def _wait_until_serving(self, kind: str, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
            except OSError:
                time.sleep(0.1)
                continue
            if kind == "uvicorn":
                return self.proc.pid
            children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
            if children:
                return int(children[0])
            time.sleep(0.1)
        raise RuntimeError("%s never served: %s" % (kind, self.log_tail()))

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d/" % self.port

    def log_tail(self) -> str:
        return self.log.read_text()[-2000:]

    def stop(self) -> None:
        # SIGTERM: gunicorn's master stops its worker and exits; uvicorn exits. The session's
        # group is whatever is left, the master its leader.
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)


@pytest.fixture
def start_server(tmp_path):
    if not VENV_PYTHON.exists():
        pytest.skip("no %s (make setup makes it)" % VENV_PYTHON)
    started: list[Server] = []

    def start(kind: str) -> Server:
        started.append(Server(kind, tmp_path))
        return started[-1]

    yield start
    for server in started:
        server.stop()


# What each command prints when it has done its work.
DONE = {
    "py-memtop": "threads (Python frames",
    "py-heap --top 5": "Partition of a set of",
    "py-heap --largest 3": "Objects that keep the most memory alive",
    "py-cycles": "reference cycles",
}


@pytest.mark.parametrize("command", list(DONE))
@pytest.mark.parametrize("kind", ["gunicorn", "gunicorn-gevent", "uvicorn"])
def test_commands_on_a_real_server_under_load_drop_no_request(start_server, kind, command):
    server = start_server(kind)
    run, load, seconds = run_under_load(server, command + " --timeout 30")
    assert_no_traceback(run)
    assert run.returncode == 0 and DONE[command] in run.stdout, run.stdout + run.stderr
    assert load.failures() == [], load.failures()
    delay = added_latency(load, *load.gdb_window)
    print("%s, %s: the slowest request under way was %.0f ms later than the median" % (kind, command, delay * 1e3))
    assert seconds < 30
