"""Facts about the inferior: is it there, live or a core, which Python, which runtime.

Nothing here runs code in the target; it reads gdb's state, symbols and the binaries (host/procfs.py reads /proc).
"""

from __future__ import annotations

import os
import re
from typing import Optional

import gdb

from ..errors import Refused, TargetUnavailable
from ..host import elf
from ..host import images as host_images
from . import msymbols
from .images import program_file, require_matched_images

_VERSION_IN_NAME = re.compile(r"(?:lib)?python(\d)\.(\d+)")


def selected_inferior() -> gdb.Inferior:
    """The inferior to work on, or an error saying what to do first."""
    inferior = gdb.selected_inferior()
    if inferior is None or inferior.pid == 0 or not inferior.threads():
        progspace = gdb.current_progspace()
        if progspace is not None and progspace.filename:
            raise TargetUnavailable(
                "no process: %s is loaded but not running; attach to a running process "
                "(attach PID, or gdb -p PID) or load a core file" % progspace.filename
            )
        raise TargetUnavailable("no process: attach to one (attach PID, or gdb -p PID) or load a core file")
    return inferior


def is_core(inferior: gdb.Inferior) -> bool:
    connection = getattr(inferior, "connection", None)
    return connection is not None and connection.type == "core"


def require_stopped(inferior: gdb.Inferior) -> None:
    """Stopped by gdb, so that its registers and stacks can be read."""
    if any(t.is_running() for t in inferior.threads()):
        raise TargetUnavailable("the target is running; interrupt it first (Ctrl-C or 'interrupt')")


def require_live_stopped() -> gdb.Inferior:
    """A live process that gdb has stopped: what injecting needs."""
    inferior = selected_inferior()
    if is_core(inferior):
        raise TargetUnavailable("this needs a live process: a core file holds no interpreter to run in (py-memtop works on cores)")
    require_stopped(inferior)
    # Before anything is called or broken in: gdb must have read the target's own files
    # (a chrooted or containerised target may run another libc than the host's).
    require_matched_images()
    return inferior


# The function that marks a copy of the CPython runtime: every build exports it.
_RUNTIME_MARK = msymbols.RUNTIME_MARK
_NON_DEBUGGING = re.compile(r"^(0x[0-9a-fA-F]+)\s+(\S+)\s*$")

# The last choice of runtime, keyed by what it depends on.
_choice_cache: dict[tuple, tuple[list[str], Optional[str], str]] = {}


class AmbiguousRuntime(Refused):
    """Several copies of the CPython runtime, and none shown to be the running one."""


def _gdb_address(name: str) -> Optional[int]:
    """The address gdb itself gives `name` (debug info first, then the first minimal symbol)."""
    try:
        return int(gdb.parse_and_eval("(long)&%s" % name))
    except gdb.error:
        return None


def _owner_name(objfile: gdb.Objfile) -> str:
    owner = getattr(objfile, "owner", None)  # a separate debug file stands for its owner
    return (owner or objfile).filename or ""


def _exe_name() -> str:
    progspace = gdb.current_progspace()
    return (progspace.filename or "") if progspace is not None else ""


def _same_file(a: str, b: str) -> bool:
    def norm(p: str) -> str:
        p = p[len("target:"):] if p.startswith("target:") else p
        return os.path.realpath(p)

    return a == b or (bool(a) and bool(b) and norm(a) == norm(b))


def _readable_path(objfile_name: str) -> str:
    """A path this process can open for an objfile gdb reads through its target (target:/...)."""
    if objfile_name.startswith("target:"):
        inferior = gdb.selected_inferior()
        return "/proc/%d/root%s" % (inferior.pid, objfile_name[len("target:"):]) if inferior.pid else ""
    return objfile_name


def _runtime_copies_from_files() -> Optional[list[str]]:
    """runtime_copies() from each loaded file's dynamic symbol table; None if a file cannot be read."""
    found: list[str] = []
    for objfile in gdb.objfiles():
        name = objfile.filename or ""
        if getattr(objfile, "owner", None) is not None or not name.startswith(("/", "target:")):
            continue  # a separate debug file (its owner is listed too), or the vDSO
        exported = elf.exports_function(_readable_path(name), _RUNTIME_MARK)
        if exported is None:
            return None
        if exported and not any(_same_file(name, f) for f in found):
            found.append(name)
    return found


def runtime_copies() -> list[str]:
    """The objfiles that define CPython's runtime (Py_AddPendingCall): normally one."""
    from_files = _runtime_copies_from_files()
    if from_files:
        return from_files
    found: list[str] = []  # gdb's own search: also finds a runtime linked in without exporting it

    def add(name: str) -> None:
        if name and not any(_same_file(name, f) for f in found):
            found.append(name)

    for objfile in gdb.objfiles():  # copies with debug info
        try:
            symbol = objfile.lookup_global_symbol(_RUNTIME_MARK)
        except (gdb.error, RuntimeError):
            continue
        if symbol is not None and symbol.is_function:
            add(_owner_name(objfile))
    try:  # copies without: their minimal symbols
        text = gdb.execute("info functions ^%s$" % _RUNTIME_MARK, to_string=True)
    except gdb.error:
        text = ""
    non_debugging = False
    for line in text.splitlines():
        if line.startswith("Non-debugging symbols"):
            non_debugging = True
            continue
        match = _NON_DEBUGGING.match(line.strip()) if non_debugging else None
        if match and match.group(2) == _RUNTIME_MARK:
            add(gdb.solib_name(int(match.group(1), 16)) or _exe_name())
    return found


def _msymbols(objfile_name: str) -> dict[str, int]:
    """Global functions and data of one objfile (msymbols.py: read once, before the attach where it can be)."""
    return msymbols.table(objfile_name)


def _copies_on_stacks(copies: list[str], max_frames: int = 256) -> dict[str, int]:
    """How many frames of the stopped threads run code of each copy (reads registers and memory only)."""
    counts = {c: 0 for c in copies}
    exe = _exe_name()
    try:
        saved_thread = gdb.selected_thread()
        saved_frame = gdb.selected_frame()
    except gdb.error:
        saved_thread, saved_frame = None, None
    try:
        for thread in gdb.selected_inferior().threads():
            if not thread.is_valid() or thread.is_running():
                continue
            try:
                thread.switch()
                frame = gdb.newest_frame()
            except gdb.error:
                continue
            seen = 0
            while frame is not None and seen < max_frames:
                try:
                    where = gdb.solib_name(frame.pc()) or exe
                except gdb.error:
                    where = ""
                for copy in copies:
                    if _same_file(where, copy):
                        counts[copy] += 1
                try:
                    frame = frame.older()  # type: ignore[assignment]  # None ends the loop
                except gdb.error:
                    break
                seen += 1
    finally:
        try:
            if saved_thread is not None and saved_thread.is_valid():
                saved_thread.switch()
            if saved_frame is not None and saved_frame.is_valid():
                saved_frame.select()
        except gdb.error:
            pass
    return counts


def running_runtime() -> tuple[list[str], Optional[str], str]:
    """(all copies of the runtime, the one the interpreter runs on or None, why not).

    With one copy, that one.  With several (e.g. a second libpython loaded with
    ctypes), the one whose code is on the threads' stacks: only memory and
    registers are read, nothing runs in the target.
    """
    inferior = gdb.selected_inferior()
    objfiles = tuple(o.filename for o in gdb.objfiles())
    stopped = tuple(t.num for t in inferior.threads() if t.is_valid() and not t.is_running())
    key = (inferior.num, inferior.pid, objfiles, stopped)
    if key in _choice_cache:
        return _choice_cache[key]
    copies = runtime_copies()
    if len(copies) <= 1:
        result = (copies, copies[0] if copies else None, "")
    else:
        counts = _copies_on_stacks(copies)
        active = [c for c in copies if counts[c]]
        if len(active) == 1:
            result = (copies, active[0], "")
        elif not active:
            result = (copies, None, "none of them has code on a thread's stack")
        else:
            result = (copies, None, "the threads run code of %s" % " and ".join(active))
    _choice_cache.clear()
    _choice_cache[key] = result
    return result


def minimal_symbol_address(name: str, may_be_static: bool = False) -> Optional[int]:
    """Address of an exported function or variable, with or without debug info.

    When the process holds several copies of the CPython runtime, a Python API
    name resolves in the copy the running interpreter uses (None if that
    cannot be told); other names (libc's) resolve as gdb resolves them.
    A Python API name ("Py...", "_Py...") is exported by every build that has it (PyAPI_FUNC,
    PyAPI_DATA): not in the runtime's table, it is not there, and gdb is not asked.  gdb's search of
    every file's symbols for a name that is nowhere took 4-52 ms a name with the target stopped, two
    or three such names in every command (names of other versions: 2026-12-07).  `may_be_static`:
    a name a build may keep static (memlayout's), which only gdb's lookup of the debug info finds.
    """
    copies, active, _ = running_runtime()
    if len(copies) > 1:
        if active is not None and name in _msymbols(active):
            return _msymbols(active)[name]
        if active is None or name.startswith(("Py", "_Py")):
            return None
    # The minimal symbols first, one table per objfile: gdb's own lookup reads the debug
    # info, about 0.13 s a name against python3.14's 22 MB of DWARF while the target is
    # stopped (measured 2026-12-01); a table costs 26 ms once for libpython3.11's 18k symbols.
    runtimes = [active] if active else copies
    for objfile in runtimes + _libc_names():
        address = _msymbols(objfile).get(name)
        if address is not None:
            return address
    if not may_be_static and name.startswith(("Py", "_Py")) and any(_msymbols(objfile) for objfile in runtimes):
        return None
    return _gdb_address(name)


def _libc_names() -> list[str]:
    names = []
    for objfile in gdb.objfiles():
        base = os.path.basename(objfile.filename or "")
        if base.startswith(("libc.so", "libc-", "libpthread")) and objfile.filename:
            names.append(objfile.filename)
    return names


def runtime_may_have_debug_info() -> bool:
    """False only when gdb can have no debug info for the running runtime: its file carries no
    DWARF and gdb found no separate debug file for it.  Expressions naming its variables then
    fail after a search of every other file's debug info (Debian's python3.11 without -dbg:
    29 ms for one name, 2026-12-03), so they are not tried."""
    _, active, _ = running_runtime()
    if active is None:
        return True
    for objfile in gdb.objfiles():
        owner = getattr(objfile, "owner", None)
        if owner is not None and _same_file(owner.filename or "", active):
            return True
    return elf.has_debug_info(_host_path(active)) is not False


def runtime_file() -> Optional[str]:
    """The running runtime's file (the program, or a libpython) as this process can open it; None
    when which copy runs cannot be told."""
    _, active, _ = running_runtime()
    return None if active is None else _host_path(active)


def python_version() -> Optional[tuple[int, int]]:
    """The target's CPython version (major, minor), from its binaries' names or Py_Version."""
    copies, active, _ = running_runtime()
    if len(copies) > 1:
        if active is None:
            return None
        match = _VERSION_IN_NAME.match(os.path.basename(active))
        if match:
            return int(match.group(1)), int(match.group(2))
        address = _msymbols(active).get("Py_Version")
        if address is None:
            return None
        try:
            hexversion = int.from_bytes(bytes(gdb.selected_inferior().read_memory(address, 4)), "little")
        except gdb.error:
            return None
        return (hexversion >> 24) & 0xFF, (hexversion >> 16) & 0xFF
    for objfile in gdb.objfiles():
        name = os.path.basename(objfile.filename or "")
        match = _VERSION_IN_NAME.match(name)
        if match:
            return int(match.group(1)), int(match.group(2))
    try:  # 3.11+ exports the version as a number, e.g. 0x030b07f0
        hexversion = int(gdb.parse_and_eval("*(unsigned long *)&Py_Version"))
        return (hexversion >> 24) & 0xFF, (hexversion >> 16) & 0xFF
    except gdb.error:
        return None


# The extension suffix each CPython 3 build compiles in ("." SOABI ".so"), e.g.
# .cpython-312-x86_64-linux-gnu.so, .cpython-313t-..., .cpython-37dm-...
_SOABI_LITERAL = re.compile(rb"\.cpython-(\d+)([a-z]*)-([A-Za-z0-9_]+-[A-Za-z0-9_]+-[A-Za-z0-9_]+)\.so\x00")
_abi_cache: dict[tuple, Optional[str]] = {}


def clear_caches(everything: bool = True) -> None:
    """Forget what was read: on exit, everything; on a new objfile, what depends on the set of objfiles
    (the symbol table of each objfile is keyed by its name and stays true)."""
    _choice_cache.clear()
    _abi_cache.clear()
    if everything:
        msymbols.clear()


def _host_path(name: str) -> str:
    """A path gdb reports, as this process can open it (host/images.host_path)."""
    return host_images.host_path(gdb.selected_inferior().pid, name)


def extension_abi() -> Optional[str]:
    """The target interpreter's extension-module ABI, as settings.tools_dir names it.

    3.x: from the SOABI its runtime binary carries ('312-x86_64-linux-gnu');
    2.7: 'ucs4' or 'ucs2' from its exported unicode functions ('27-ucs4', '27d-ucs4'
    for a debug build).  Reads symbols and the binary file only; None if unsure.
    """
    copies, active, _ = running_runtime()
    version = python_version()
    if active is None or version is None:
        return None
    if version[0] == 2:
        debug = "d" if minimal_symbol_address("_Py_RefTotal") is not None else ""
        for width in ("UCS4", "UCS2"):
            if minimal_symbol_address("PyUnicode%s_FromString" % width) is not None:
                return "27%s-%s" % (debug, width.lower())
        return None
    path = _host_path(active)
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (path, st.st_mtime_ns, st.st_size, version)
    if key not in _abi_cache:
        found = None
        try:
            import mmap

            with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                for match in _SOABI_LITERAL.finditer(data):
                    if match.group(1).decode() == "%d%d" % version:
                        found = "%s%s-%s" % tuple(g.decode() for g in match.groups())
                        break
        except (OSError, ValueError):
            found = None
        _abi_cache[key] = found
    return _abi_cache[key]


def require_python() -> tuple[int, int]:
    copies, active, why = running_runtime()
    if not copies:
        exe = program_file() or "the inferior"
        raise TargetUnavailable("%s is not a CPython process (no Py_AddPendingCall symbol)" % exe)
    if len(copies) > 1:
        names = ", ".join(copies)
        if active is None:
            raise AmbiguousRuntime(
                "this process has %d copies of the CPython runtime (%s) and %s: cannot tell which one "
                "runs the interpreter; nothing was run in the target" % (len(copies), names, why)
            )
    version = python_version()
    if version is None:
        raise TargetUnavailable("cannot tell which CPython version the target runs")
    return version
