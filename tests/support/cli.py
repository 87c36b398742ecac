"""The gdb-memleak command line from the shell: report (which runs gdb itself) and prepare."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from .paths import CACHE_ENV, NO_CACHE, REPO


def gdb_memleak_argv() -> list[str]:
    """The gdb-memleak console script (.venv/bin/gdb-memleak after `make setup`), else python -m gdb_memleak."""
    script = Path(sys.executable).parent / "gdb-memleak"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gdb_memleak"]


def gdb_memleak_env(extra_env: dict | None = None) -> dict:
    """The test's environment, no user tool cache, the checkout's gdb_memleak, and $GDB_MEMLEAK_GDB as the CLI's $GDB."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env[CACHE_ENV] = NO_CACHE
    # The console script imports gdb_memleak through the venv's editable install, which is the
    # checkout the venv was made in: from another worktree (whose .venv links to it) the CLI tests
    # would run that checkout's code.  The checkout under test comes first on the path.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if os.environ.get("GDB_MEMLEAK_GDB"):
        env["GDB"] = os.environ["GDB_MEMLEAK_GDB"]
    env.update(extra_env or {})
    return env


def run_gdb_memleak(*args: str, timeout: float = 600, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(gdb_memleak_argv() + list(args), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, env=gdb_memleak_env(extra_env), cwd=str(REPO))


def run_prepare(python: str, env: dict) -> subprocess.CompletedProcess:
    """python -m gdb_memleak prepare --python PYTHON, with `env` as its whole environment."""
    return subprocess.run([sys.executable, "-m", "gdb_memleak", "prepare", "--python", python],
                          cwd=str(REPO), capture_output=True, text=True, timeout=900, env=env)


def pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False
