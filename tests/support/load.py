"""A bounded HTTP load on 127.0.0.1 while gdb runs commands on a server's worker (the first law
under real servers: uWSGI, gunicorn, uvicorn): every request recorded, failures counted."""

from __future__ import annotations

import statistics
import threading
import time
import urllib.request
from typing import Any

from .gdb import run_gdb


class Load:
    """Client threads sending GET `server.url` until stopped, at most `limit` requests or
    `seconds` in all; every request is recorded as (start, end, error or None). A request
    whose body is not `server.body` counts as failed."""

    def __init__(self, server: Any, clients: int = 2, limit: int = 5000, seconds: float = 120):
        self.server = server
        self.limit = limit
        self.deadline = time.monotonic() + seconds
        self.records: list[tuple[float, float, str | None]] = []
        self.gdb_window = (0.0, 0.0)  # when gdb ran (run_under_load)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]
        for thread in self._threads:
            thread.start()

    def _client(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self.deadline:
            with self._lock:
                if len(self.records) >= self.limit:
                    return
            start = time.monotonic()
            try:
                with urllib.request.urlopen(self.server.url, timeout=30) as response:
                    error = None if response.read() == self.server.body else "unexpected body"
            except OSError as e:
                error = repr(e)
            with self._lock:
                self.records.append((start, time.monotonic(), error))

    def successes_after(self, moment: float) -> int:
        with self._lock:
            return sum(1 for start, _end, error in self.records if start > moment and error is None)

    def wait_for_successes_after(self, moment: float, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.successes_after(moment) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def in_flight_during(self, start: float, end: float) -> int:
        with self._lock:
            return sum(1 for begun, ended, _error in self.records if begun < end and ended > start)

    def failures(self) -> list[str]:
        with self._lock:
            return [error for _start, _end, error in self.records if error is not None]

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def run_under_load(server: Any, *commands: str, **options):
    """gdb running `commands` on `server.worker` while the load runs; (run, load, seconds gdb took).
    `server` has url, body, worker and log_tail()."""
    load = Load(server)
    try:
        load.wait_for_successes_after(0, 20)
        started = time.monotonic()
        run = run_gdb(*commands, pid=server.worker, timeout=120, **options)
        ended = time.monotonic()
        load.gdb_window = (started, ended)
        load.wait_for_successes_after(ended, 20)  # still serving afterwards
    finally:
        load.stop()
    print("%s: %.2f s in gdb, %d requests, %d under way meanwhile, %d failed"
          % (" ; ".join(commands), ended - started, len(load.records), load.in_flight_during(started, ended), len(load.failures())))
    assert load.in_flight_during(started, ended) > 0, "no request was under way while gdb ran"
    assert load.successes_after(ended) >= 20, "the worker stopped serving: %s" % server.log_tail()
    return run, load, ended - started


def added_latency(load: Load, start: float, end: float) -> float:
    """The slowest request under way while gdb ran, less the median of those before: seconds."""
    with load._lock:
        before = [e - b for b, e, error in load.records if e < start and error is None]
        during = [e - b for b, e, error in load.records if b < end and e > start and error is None]
    return max(during, default=0.0) - (statistics.median(before) if before else 0.0)
