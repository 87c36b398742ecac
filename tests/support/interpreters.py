"""The target interpreters: from the environment or PATH, else pyenv's (see the package docstring)."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .paths import HOSTRUN

LIST_ENV = "GDB_MEMLEAK_PYTHONS"
NODEBUG_ENV = "GDB_MEMLEAK_PYTHON_NODEBUG"
NODEBUG_DEFAULT = "/usr/bin/python3.11"


def version_env(version: str) -> str:
    """'3.11' -> 'GDB_MEMLEAK_PYTHON_3_11'."""
    return "GDB_MEMLEAK_PYTHON_" + version.replace(".", "_")


def pyenv_versions() -> str:
    return os.path.join(os.environ.get("PYENV_ROOT") or "/root/.pyenv", "versions")


def resolve(value: str) -> str:
    """A path as given, or a command name looked up on PATH (the name itself if it is not there)."""
    if os.sep in value:
        return value
    return shutil.which(value) or value


def named_version(path: str) -> str:
    """The X.Y an interpreter's name ends with ('/usr/bin/python3.12' -> '3.12'), or ''."""
    match = re.search(r"python(\d+\.\d+)$", os.path.basename(path))
    return match.group(1) if match else ""


def _pyenv(version: str) -> str:
    """The newest pyenv CPython `version`.x binary, or the pattern looked for."""
    pattern = "%s/%s.*/bin/python%s" % (pyenv_versions(), version, version)
    found = sorted(glob.glob(pattern), key=lambda p: [int(x) for x in re.findall(r"\d+", p.split("/")[-3])])
    return found[-1] if found else pattern.replace("*", "x")


def find(version: str) -> tuple[str, str]:
    """(path of the CPython `version` interpreter with debug info, "") or (a would-be path, why it is missing)."""
    variable = version_env(version)
    if os.environ.get(variable):
        path, where = resolve(os.environ[variable]), "$%s" % variable
    else:
        listed = [resolve(p) for p in os.environ.get(LIST_ENV, "").split(os.pathsep) if p]
        listed = [p for p in listed if named_version(p) == version]
        if listed:
            path, where = listed[0], "$%s" % LIST_ENV
        else:
            path, where = _pyenv(version), "pyenv's; set %s or %s to use another" % (variable, LIST_ENV)
    if os.path.exists(path):
        return path, ""
    return path, "no CPython %s at %s (%s)" % (version, path, where)


def find_nodebug() -> tuple[str, str]:
    """(path of the CPython 3.11 without debug info, "") or (a would-be path, why it is missing)."""
    path = resolve(os.environ.get(NODEBUG_ENV) or NODEBUG_DEFAULT)
    if os.path.exists(path):
        return path, ""
    return path, "no CPython 3.11 without debug info at %s (set %s)" % (path, NODEBUG_ENV)


def libpython(python: str) -> str:
    """The libpython of a pyenv-style interpreter: <prefix>/lib/libpythonX.Y.so.1.0 beside its bin/."""
    version = named_version(python)
    return os.path.join(os.path.dirname(os.path.dirname(python)), "lib", "libpython%s.so.1.0" % version)


PYTHON_27, PYTHON_27_MISSING = find("2.7")
PYTHON_311, PYTHON_311_MISSING = find("3.11")
PYTHON_312, PYTHON_312_MISSING = find("3.12")
PYTHON_313, PYTHON_313_MISSING = find("3.13")
# Debian's python3.11 by default: no debug symbols, no libpython helper, its runtime in the executable.
PYTHON_NODEBUG, PYTHON_NODEBUG_MISSING = find_nodebug()


def host_build(name: str) -> tuple[str, str]:
    """(path, "") of one of Debian forky's interpreters made runnable on the host by `make setup`
    (.roots/hostrun/usr/bin: python3.14, python3.14d ...), or (path, why it is missing)."""
    path = str(HOSTRUN / name)
    return path, "" if os.path.exists(path) else "no %s (make setup makes it)" % path


# Debian forky's debug builds: their debug info is in the binary, which gdb 13 reads.
PYTHON_314D, PYTHON_314D_MISSING = host_build("python3.14d")
PYTHON_315D, PYTHON_315D_MISSING = host_build("python3.15d")


def param(path: str, missing: str, id: str):
    """A pytest parameter for an interpreter, skipped (saying why) where it is missing."""
    return pytest.param(path, id=id, marks=pytest.mark.skipif(bool(missing), reason=missing or "present"))


# The two interpreters issue 2 names: one with debug info and its libpython
# helper, one without (locations then come from inside the target).
INTERPRETERS = [
    param(PYTHON_311, PYTHON_311_MISSING, "pyenv-3.11"),
    param(PYTHON_NODEBUG, PYTHON_NODEBUG_MISSING, "debian-3.11-nodebug"),
]

# Every CPython a user may be debugging (issue 7): with debug info and their
# libpython helper, 2.7 and 3.6 to 3.13, and one 3.11 without debug symbols.
ALL_VERSIONS = ("2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13")
ALL_INTERPRETERS = [param(*find(version), id="pyenv-" + version) for version in ALL_VERSIONS] + [
    param(PYTHON_NODEBUG, PYTHON_NODEBUG_MISSING, "debian-3.11-nodebug"),
]

# The interpreters the memory backend reads (py-heap and py-cycles --read-only, issue 16).
MEMORY_VERSIONS = [param(*find(version), id="pyenv-" + version) for version in ("3.8", "3.9", "3.10")] + [
    param(PYTHON_311, PYTHON_311_MISSING, "pyenv-3.11"),
    param(PYTHON_312, PYTHON_312_MISSING, "pyenv-3.12"),
    param(PYTHON_313, PYTHON_313_MISSING, "pyenv-3.13"),
    param(PYTHON_314D, PYTHON_314D_MISSING, "host-3.14d"),
    param(PYTHON_315D, PYTHON_315D_MISSING, "host-3.15d"),
]


def stripped_copy(python: str, into: Path) -> tuple[str, dict]:
    """A pyenv `python` as a distro build without its debug package: its executable, libpython and
    extension modules copied into `into` without their debug info.  (The copy, the variables it runs
    with, added to the test's.)  Skips without `strip` or a shared libpython."""
    python = shutil.which(python) or python  # (a name given on PATH)
    prefix, version = Path(python).resolve().parent.parent, named_version(python)
    library = prefix / "lib" / ("libpython%s%s.so.1.0" % (version, "m" if version in ("3.6", "3.7") else ""))
    if shutil.which("strip") is None or not library.exists():
        pytest.skip("no strip, or no %s" % library)
    (into / "bin").mkdir()
    (into / "lib-dynload").mkdir()
    copies = [(Path(python), into / "bin" / Path(python).name), (library, into / library.name)]
    copies += [(m, into / "lib-dynload" / m.name) for m in (prefix / "lib" / ("python" + version) / "lib-dynload").glob("*.so")]
    for source, copy in copies:
        subprocess.run(["strip", "-o", str(copy), str(source)], check=True)
    # lib-dynload's copies ahead of the prefix's own on sys.path; libpython's through LD_LIBRARY_PATH,
    # which comes before pyenv's RUNPATH
    return str(copies[0][1]), {"PYTHONHOME": str(prefix), "PYTHONPATH": str(into / "lib-dynload"),
                               "LD_LIBRARY_PATH": str(into)}
