"""The checkout's directories and files the tests use, and ``need``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
TESTS = REPO / "tests"
EXAMPLES = REPO / "examples"
TARGETS = TESTS / "targets"
GDBINIT = REPO / "gdbinit.example"
PAYLOADS = REPO / "gdb_memleak" / "payloads"

# The venv `make setup` makes (gdbinit.example loads guppy3 and objgraph from it).
VENV = REPO / ".venv"
VENV_SITE = str(VENV / "lib" / "python3.11" / "site-packages")

# What `make setup` builds (issue 12): the Debian forky tree, its interpreters run
# as host processes, and gdb 16 and 18 (.roots/bin/gdb-16, gdb-18).
ROOTS = REPO / ".roots"
FORKY = ROOTS / "forky"
BULLSEYE = ROOTS / "bullseye"  # Debian 11: python3.9 on glibc 2.31
HOSTRUN = ROOTS / "hostrun" / "usr" / "bin"

# Libraries of the host.
DEBIAN_LIB = "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"
HOST_LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"

# The tool cache a user prepared must not change what the tests see.
CACHE_ENV = "GDB_MEMLEAK_CACHE"
NO_CACHE = "/nonexistent/gdb-memleak-test-cache"


def need(*paths: str) -> None:
    """Skip the test unless every one of `paths` exists."""
    for path in paths:
        if not os.path.exists(path):
            pytest.skip("%s is not installed" % path)
