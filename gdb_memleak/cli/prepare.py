"""`gdb-memleak prepare --python PYTHON`: install guppy3 and objgraph for the targets that run PYTHON."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from typing import Optional

from ..host.tools import TOOLS_MARKER, abi_from_suffix, tools_dir

# Runs in the interpreter given to `prepare` (Python 2.7 and 3.x): what it is.
_PROBE = r"""
import json, platform, sys
try:
    import _imp
    suffixes = list(_imp.extension_suffixes())
except ImportError:
    import imp
    suffixes = [s[0] for s in imp.get_suffixes() if s[2] == imp.C_EXTENSION]
sys.stdout.write(json.dumps({
    "implementation": platform.python_implementation(),
    "version": list(sys.version_info[:3]),
    "suffix": suffixes[0] if suffixes else "",
    "wide_unicode": sys.maxunicode > 0xFFFF,
    "debug": hasattr(sys, "gettotalrefcount"),
}))
"""

# (package, required): objgraph draws py-cycles' graph, guppy3 is py-heap's --backend guppy.
PACKAGES_3 = (("objgraph", True), ("guppy3", False))
# guppy3 is Python 3 only.  The original guppy (0.1.x) builds for 2.7, but py-heap's
# guppy backend is written for guppy3 and refuses 2.7 targets: objgraph only.
PACKAGES_2 = (("objgraph", True),)


_COMPILER_ERROR = re.compile(r"\.(?:c|h|cpp):\d+(?::\d+)?: (?:fatal )?error: ")


class PrepareError(Exception):
    """A one-line reason `prepare` cannot go on."""


def _probe(python: str) -> dict:
    if not os.path.exists(python):
        raise PrepareError("--python %s: no such file" % python)
    if os.path.isdir(python):
        raise PrepareError("--python %s: is a directory, not an interpreter" % python)
    if not os.access(python, os.X_OK):
        raise PrepareError("--python %s: not executable" % python)
    try:
        proc = subprocess.run(
            [python, "-c", _PROBE], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
        )
    except OSError as e:
        raise PrepareError("--python %s: cannot run it: %s" % (python, e.strerror or e)) from e
    except subprocess.TimeoutExpired:
        raise PrepareError("--python %s: did not answer within 60 s" % python) from None
    try:
        info = json.loads(proc.stdout)
        if not isinstance(info, dict):
            raise ValueError
    except ValueError:
        raise PrepareError("--python %s: not a Python interpreter (it did not run a Python probe)" % python) from None
    if info.get("implementation") != "CPython":
        raise PrepareError("--python %s: is %s; gdb-memleak works on CPython only" % (python, info.get("implementation")))
    return info


def _abi(info: dict) -> str:
    major, minor = info["version"][:2]
    if major == 2:
        return "27%s-%s" % ("d" if info.get("debug") else "", "ucs4" if info.get("wide_unicode") else "ucs2")
    abi = abi_from_suffix(info.get("suffix", ""))
    if abi is None:
        raise PrepareError("cannot tell the extension ABI of this interpreter (its suffix is %r)" % info.get("suffix"))
    return abi


def _pip_install(python: str, target: str, package: str) -> Optional[str]:
    """Install `package` into `target` with that interpreter's pip; None, or the failure's last line."""
    # --no-deps: objgraph up to 3.5.0 (the last for 2.7 and 3.6) requires the graphviz package, which
    # then came into the target with objgraph's own import (2.7: graphviz 0.16, left in sys.modules by
    # py-cycles --graph), and whose newest release 3.6's pip 18 takes without checking its Python
    # (prepare failed there).  Neither guppy3 nor objgraph needs another package in the target.
    argv = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
            "--no-warn-script-location", "--no-deps", "--target", target, package]
    env = dict(os.environ, PYTHONNOUSERSITE="1")
    env.pop("PYTHONPATH", None)
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900, env=env)
    except subprocess.TimeoutExpired:
        return "pip did not finish within 15 minutes"
    if proc.returncode == 0:
        return None
    lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    # A failed build's first compiler error says why (guppy3 3.1.7 on 3.15: a member of
    # PyInterpreterState it reads is gone); pip's own ERROR line only says that it failed.
    compiler = [line for line in lines if _COMPILER_ERROR.search(line)]
    errors = [line for line in lines if line.startswith("ERROR:") or "No module named pip" in line]
    return (compiler[:1] or errors[-1:] or lines[-1:] or ["pip exited with status %d" % proc.returncode])[0]


def _installed_versions(target: str) -> dict:
    found = {}
    for entry in sorted(os.listdir(target)):
        for ext in (".dist-info", ".egg-info"):
            if entry.endswith(ext):
                name, _, version = entry[: -len(ext)].partition("-")
                found[name.lower()] = version.split("-")[0]
    return found


def prepare(python: str, out=sys.stdout) -> int:
    info = _probe(python)
    version = tuple(info["version"][:2])
    abi = _abi(info)
    final = tools_dir(version, abi)
    staging = "%s.tmp-%d" % (final, os.getpid())
    os.makedirs(os.path.dirname(final), exist_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        failed = {}
        for package, required in PACKAGES_2 if version[0] == 2 else PACKAGES_3:
            why = _pip_install(python, staging, package)
            if why is not None:
                if "No module named pip" in why:
                    raise PrepareError("--python %s: has no pip (%s -m pip install failed: %s)" % (python, python, why))
                if required:
                    raise PrepareError("installing %s for %s failed: %s" % (package, python, why))
                failed[package] = why
        versions = _installed_versions(staging)
        marker = {
            "python": os.path.abspath(python),
            "version": ".".join(str(v) for v in info["version"]),
            "abi": abi,
            "packages": versions,
            "failed": failed,
        }
        with open(os.path.join(staging, TOOLS_MARKER), "w") as f:
            json.dump(marker, f, indent=1, sort_keys=True)
            f.write("\n")
        if os.path.isdir(final):
            shutil.rmtree(final)
        os.rename(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    installed = ", ".join("%s %s" % kv for kv in sorted(versions.items()) if kv[0] in ("objgraph", "guppy3"))
    out.write("gdb-memleak tools for CPython %s (%s) in %s: %s\n" % (marker["version"], abi, final, installed))
    for package, why in sorted(failed.items()):
        out.write("  %s not installed for CPython %s (py-heap's census answers without it): %s\n" % (package, marker["version"], why))
    return 0
