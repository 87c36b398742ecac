"""Finding and loading CPython's own gdb helper (libpython, ``python3.X-gdb.py``) for the target.

The helper is CPython's Tools/gdb/libpython.py, installed beside the interpreter.
We load it into gdb so that frames.py can walk frames with its classes exactly as
its ``py-bt`` command does: the knowledge of each version's frame layout stays in
the file shipped with that version.  Reads files and gdb's state; runs nothing in
the target.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from typing import Any

import gdb

import __main__  # gdb runs sourced scripts here: libpython's classes live in it

from ..host import images as host_images
from . import inferior

ENV_OVERRIDE = "GDB_MEMLEAK_LIBPYTHON"
NO_DEBUG_INFO = "no debug info for the interpreter: libpython cannot read frames"

# libpython3.11.so.1.0, libpython3.13t.so, libpython2.7.so.1.0 ...
_LIBPYTHON_SO = re.compile(r"^libpython\d+\.\d+[a-z]*\.so")
# The same, split into version and ABI flags (3.7m, 3.13t, 3.11d).
_LIBPYTHON_PARTS = re.compile(r"^libpython(\d+\.\d+)([a-z]*)\.so")
# A libpython helper's name, as listed by `info auto-load python-scripts`.
_HELPER_NAME = re.compile(r"python\d[^/]*-gdb\.py$")

# The helper *we* sourced last, and the Frame class it defined: if
# __main__.Frame is no longer that class, something else (gdb auto-load)
# replaced it since.
_sourced_helper: str | None = None
_sourced_frame_class: object = None


class FramesUnavailable(Exception):
    """Python frames cannot be read; the message is a one-line reason."""


def find_libpython_helper(binaries: list[str] | None = None) -> str | None:
    """Path of the python3.X-gdb.py (or libpythonX.Y.so...-gdb.py) matching
    the current inferior's interpreter (or the interpreter `binaries`), or None."""
    override = _override()
    if override is not None:
        # An explicit choice wins, and a wrong one must not be silently replaced.
        return override if os.path.isfile(override) else None
    for path in _candidates(binaries):
        if os.path.isfile(path):
            return os.path.abspath(path)
    return None


def load_libpython_helper(path: str) -> None:
    """Load the helper into gdb even if auto-load safe-path declined it.

    Done once per path: skipped when that helper's classes are already in
    gdb's __main__ (sourced by us, or auto-loaded by gdb).  Raises gdb.error
    if the script fails."""
    global _sourced_helper, _sourced_frame_class
    real = os.path.realpath(path)
    if _helper_in_main(real):
        return
    # `source` takes the rest of the line as the file name: no quoting needed,
    # and an absolute path cannot be mistaken for an option.
    gdb.execute("source " + os.path.abspath(path), to_string=True)
    _sourced_helper = real
    _sourced_frame_class = getattr(__main__, "Frame", None)


def _override() -> str | None:
    try:
        value = gdb.convenience_variable(ENV_OVERRIDE)
        if value is not None:
            return value.string()
    except (gdb.error, AttributeError):
        pass  # not a string, or an old gdb
    return os.environ.get(ENV_OVERRIDE) or None


def _helper_in_main(real: str) -> bool:
    if not hasattr(__main__, "Frame"):
        return False
    if _sourced_helper is not None and __main__.Frame is _sourced_frame_class:
        # Each helper rebinds __main__'s classes: only the last one counts.
        return _sourced_helper == real
    # Auto-loaded by gdb.  With several auto-loaded, the latest wins: re-source.
    loaded = _auto_loaded_helpers()
    return loaded == [real]


def _auto_loaded_helpers() -> list[str]:
    """Helper scripts gdb auto-loaded (the rows that say "Yes")."""
    try:
        out = gdb.execute("info auto-load python-scripts", to_string=True)
    except gdb.error:
        return []
    found = []
    for row in out.splitlines():
        parts = row.split(None, 1)
        if len(parts) == 2 and parts[0] == "Yes" and _HELPER_NAME.search(parts[1].strip()):
            found.append(os.path.realpath(parts[1].strip()))
    return found


def _interpreter_binaries() -> list[str]:
    """The executable and every loaded libpython, each as given and resolved."""
    paths: list[str] = []
    progspace = gdb.current_progspace()
    exe = progspace.filename if progspace is not None else None
    if not exe:
        pid = gdb.selected_inferior().pid
        if pid > 0:
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                exe = None
    if exe:
        paths.append(exe)
    paths += _running_libpythons()
    out: list[str] = []
    for path in paths + [os.path.realpath(p) for p in paths]:
        if path not in out:
            out.append(path)
    return out


def _running_libpythons() -> list[str]:
    """The loaded libpythons, less the copies of the runtime the interpreter does not run on.

    A second libpython loaded but idle (ctypes) has a helper too, and it reads
    nothing of the running one: Debian's python3.11 with pyenv's libpython loaded
    got "(no Python frames)" from pyenv's helper (test_two_runtimes_gdb_would_resolve_the_idle_copy)."""
    names = [o.filename for o in gdb.objfiles() if o.filename and _LIBPYTHON_SO.match(os.path.basename(o.filename))]
    copies, active, _why = inferior.running_runtime()
    if len(copies) <= 1:
        return names
    # Several copies: only the one on the threads' stacks, none if that cannot be told.
    return [n for n in names if active is not None and os.path.realpath(n) == os.path.realpath(active)]


def _candidates(binaries: list[str] | None = None) -> Iterator[str]:
    if binaries is None:
        binaries = _interpreter_binaries()
    # 1. Beside the binary (pyenv, source builds): <exe>-gdb.py, <so>-gdb.py.
    for binary in binaries:
        yield binary + "-gdb.py"
    # 1b. A program embedding a mapped libpython (uWSGI, mod_wsgi) has an
    #     executable of its own name: the helper is that install's
    #     <prefix>/bin/python3.X-gdb.py, beside <prefix>/lib/libpython3.X.so.
    for binary in binaries:
        yield from _install_helpers(binary)
    debug_dirs = _param_dirs("debug-file-directory")
    data_dir = str(gdb.parameter("data-directory") or "/usr/share/gdb")
    # 2. gdb's auto-load dirs (Debian python3.X-dbg):
    #    /usr/share/gdb/auto-load/<realpath>-gdb.py.
    auto_dirs = []
    for entry in str(gdb.parameter("auto-load scripts-directory") or "").split(":"):
        if entry == "$debugdir":
            auto_dirs += debug_dirs
        elif entry:
            auto_dirs.append(entry.replace("$datadir", data_dir))
    reals = [b for b in binaries if b == os.path.realpath(b)]
    for directory in auto_dirs:
        for real in reals:
            yield directory.rstrip("/") + real + "-gdb.py"
    # 3. debug-file-directory, Fedora style:
    #    /usr/lib/debug/usr/lib64/libpython3.X.so.1.0-<ver>.debug-gdb.py.
    for directory in debug_dirs:
        for real in reals:
            base = directory.rstrip("/") + real
            yield base + ".debug-gdb.py"
            yield from sorted(glob.glob(glob.escape(base) + "-*.debug-gdb.py"))
    # 4. The same places inside the target's own root (a chroot, a container).
    yield from _root_candidates(binaries)
    # Not "any helper gdb auto-loaded": it may belong to another inferior, and
    # a helper of another version misreads frames.


def _root_candidates(binaries: list[str]) -> Iterator[str]:
    """Debian's helper paths under /proc/PID/root for a target whose root is not gdb's.

    gdb names its files /proc/PID/root/..., target:/... or by their host path
    (a chroot's tree), so each is taken back to the path the target sees."""
    pid = gdb.selected_inferior().pid
    root = f"/proc/{pid}/root"
    try:
        if pid <= 0 or os.path.samefile(root, "/"):
            return
        tree = os.path.realpath(root)
    except OSError:
        return
    try:
        binaries = binaries + [os.readlink(f"/proc/{pid}/exe")]
    except OSError:
        pass
    inside = []
    for path in binaries:
        for prefix in (root, "target:", tree if tree != "/" else None):
            if prefix and path.startswith(prefix + "/"):
                path = path[len(prefix):]
        if path.startswith("/") and not path.startswith("/proc/") and path not in inside:
            inside.append(path)
    for path in inside:
        yield f"{root}/usr/share/gdb/auto-load{path}-gdb.py"
        yield f"{root}/usr/lib/debug{path}-gdb.py"


def _install_helpers(library: str) -> list[str]:
    """<prefix>/bin/pythonX.Y<flags>-gdb.py for <prefix>/lib*/libpythonX.Y<flags>.so*, else []."""
    match = _LIBPYTHON_PARTS.match(os.path.basename(library))
    if match is None:
        return []
    version, flags = match.groups()
    prefix = os.path.dirname(os.path.dirname(library))
    names = [flags]
    if "m" in flags:
        # 3.7 and older: libpython3.7m.so, but pyenv names the helper python3.7-gdb.py
        # ("m" is pymalloc, which does not change the frame layout).
        names.append(flags.replace("m", ""))
    return [os.path.join(prefix, "bin", "python%s%s-gdb.py" % (version, f)) for f in names]


def _param_dirs(name: str) -> list[str]:
    value = gdb.parameter(name)
    return [d for d in str(value or "").split(":") if d]


def preload_for_process(pid: int, exe: str) -> None:
    """Source the helper of process `pid`'s interpreter (program `exe`, in gdb's own root)
    before gdb attaches to it, while the target still runs (attach_ahead.py).

    Sourcing compiles and runs 2,000 lines: 85 ms of which 45 ms compiling (3.10, a loaded
    2-core machine, 2026-12-02), which a stopped target would otherwise wait for in its first
    command.  After the attach, require_libpython finds the helper loaded if it is the right
    one, and sources the right one if not; whatever fails here is left to it."""
    mapped = sorted({m.path for m in host_images.read_maps(pid) if _LIBPYTHON_SO.match(os.path.basename(m.path))})
    binaries = [exe] + mapped
    binaries += [os.path.realpath(b) for b in binaries if os.path.realpath(b) not in binaries]
    found = find_libpython_helper(binaries)
    if found is None:
        return
    try:
        load_libpython_helper(found)
    except Exception:  # gdb.error, or whatever the script raised: require_libpython says it later
        pass


def loaded_helper_namespace() -> Any:
    """The namespace of the helper we sourced (gdb's __main__), or None if none was."""
    return __main__ if _sourced_helper is not None and hasattr(__main__, "Frame") else None


def require_libpython() -> Any:
    """Load the matching helper and return the namespace holding its classes."""
    helper = find_libpython_helper()
    if helper is None:
        override = _override()
        if override is not None:
            raise FramesUnavailable(f"{ENV_OVERRIDE}={override} is not a file")
        binaries = _interpreter_binaries()
        if not binaries:
            raise FramesUnavailable(
                "no libpython helper found: gdb knows no executable for this inferior"
                " (for a core file, load the interpreter binary too)"
            )
        mapped = [b for b in binaries[1:] if _LIBPYTHON_SO.match(os.path.basename(b))]
        maps = f" nor for the {mapped[0]} it maps" if mapped else ""
        raise FramesUnavailable(f"no libpython helper found for {binaries[0]}{maps}")
    try:
        load_libpython_helper(helper)
    except Exception as exc:  # gdb.error wrapping whatever the script raised
        reason = f"cannot load libpython helper {helper}: {one_line(exc)}"
        raise FramesUnavailable(reason) from None
    if not hasattr(__main__, "Frame"):
        raise FramesUnavailable(f"{helper} did not define libpython's Frame class")
    return __main__


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
