"""Real targets, real gdb: the fixtures every test uses.

The helpers live in tests/support/ (its docstring says what is where, and which
environment variables choose the interpreters and the gdb).  Test modules import
from there; the names below the fixtures are re-exported only for tests written
against the older conftest.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from support.paths import BULLSEYE, FORKY
from support.targets import CONTAINER_HEAP, Processes

UNIT_DIR = Path(__file__).resolve().parent / "unit"


def pytest_configure(config):
    config.addinivalue_line("markers", "unit: needs no gdb and no target process; `make unit` runs these (under 30 s)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if UNIT_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session", autouse=True)
def gdb_cache_in_the_test_directory(tmp_path_factory):
    """gdb-memleak turns on gdb's index cache when loaded before an attach (gdbside/index_cache.py):
    its entries go under the session's temporary directory, not the user's ~/.cache/gdb."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if saved is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = saved


@pytest.fixture
def processes():
    """Processes (support.targets): what the test starts through it is ended by pid when it ends."""
    started = Processes()
    yield started
    started.stop_all()


@pytest.fixture
def start_target(processes):
    """start_target(python, script, *args, env=..., ready_timeout=...) -> a Target, ended with the test."""
    return processes.target


def _container_heap_in(root: Path):
    """container_heap.py in a fresh directory of `root`'s /tmp: its path as the target sees it."""
    if not (root / "tmp").is_dir():
        pytest.skip("no %s (make setup builds it)" % root)
    made = tempfile.mkdtemp(prefix="gdb-memleak-test-", dir=str(root / "tmp"))
    try:
        shutil.copy(CONTAINER_HEAP, made)
        yield "/%s/%s" % (os.path.relpath(made, root), CONTAINER_HEAP.name)
    finally:
        shutil.rmtree(made)


@pytest.fixture
def script_in_root():
    """container_heap.py in the forky root (see _container_heap_in)."""
    yield from _container_heap_in(FORKY)


@pytest.fixture
def script_in_bullseye():
    """container_heap.py in the bullseye root (see _container_heap_in)."""
    yield from _container_heap_in(BULLSEYE)


# Re-exported for tests written against the older conftest (new ones import from support).
from support.cli import gdb_memleak_argv, run_gdb_memleak  # noqa: E402
from support.gdb import GdbRun, assert_no_traceback, gdb_binary, run_gdb  # noqa: E402
from support.heartbeat import gc_fields  # noqa: E402
from support.interpreters import ALL_INTERPRETERS, INTERPRETERS  # noqa: E402
from support.interpreters import PYTHON_311 as PYENV_311  # noqa: E402
from support.interpreters import PYTHON_NODEBUG as DEBIAN_PYTHON  # noqa: E402
from support.paths import CACHE_ENV, EXAMPLES, GDBINIT, REPO, TARGETS  # noqa: E402
from support.targets import CONTAINER_HEAP as CONTAINER_SCRIPT  # noqa: E402
from support.targets import Target, script_line  # noqa: E402

__all__ = ["ALL_INTERPRETERS", "CACHE_ENV", "CONTAINER_SCRIPT", "DEBIAN_PYTHON", "EXAMPLES", "FORKY", "GDBINIT",
           "GdbRun", "INTERPRETERS", "PYENV_311", "REPO", "TARGETS", "Target", "assert_no_traceback", "gc_fields",
           "gdb_binary", "gdb_memleak_argv", "run_gdb", "run_gdb_memleak", "script_line"]
