"""Every thread's Python stack and threading name, read through CPython's own gdb helper.

The helper is CPython's Tools/gdb/libpython.py, installed beside the
interpreter as ``python3.X-gdb.py``.  We load it into gdb and walk frames
with its classes exactly as its ``py-bt`` command does, so the knowledge of
each version's frame layout stays in the file shipped with that version.

Only memory is read: nothing here runs code in the inferior, so it is safe
on any stop (even inside the allocator) and on core files.
"""

from __future__ import annotations

import glob
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gdb

import __main__  # gdb runs sourced scripts here: libpython's classes live in it

from . import inferior

ENV_OVERRIDE = "GDB_MEMLEAK_LIBPYTHON"
UNKNOWN = "<unknown>"
_NO_DEBUG_INFO = "no debug info for the interpreter: libpython cannot read frames"

# libpython3.11.so.1.0, libpython3.13t.so, libpython2.7.so.1.0 ...
_LIBPYTHON_SO = re.compile(r"^libpython\d+\.\d+[a-z]*\.so")
# The same, split into version and ABI flags (3.7m, 3.13t, 3.11d).
_LIBPYTHON_PARTS = re.compile(r"^libpython(\d+\.\d+)([a-z]*)\.so")
# A libpython helper's name, as listed by `info auto-load python-scripts`.
_HELPER_NAME = re.compile(r"python\d[^/]*-gdb\.py$")
# Bounds against corrupt memory (cycles in frame links, runaway unwinds).
_MAX_C_FRAMES = 20000
_MAX_CHAIN = 20000

# The helper *we* sourced last, and the Frame class it defined: if
# __main__.Frame is no longer that class, something else (gdb auto-load)
# replaced it since.
_sourced_helper: str | None = None
_sourced_frame_class: object = None


@dataclass(frozen=True)
class PyFrame:
    file: str
    line: int  # -1 if unknown
    function: str


class FramesUnavailable(Exception):
    """Python frames cannot be read; the message is a one-line reason."""


# --- finding and loading the helper -----------------------------------------


def find_libpython_helper() -> str | None:
    """Path of the python3.X-gdb.py (or libpythonX.Y.so...-gdb.py) matching
    the current inferior's interpreter, or None."""
    override = _override()
    if override is not None:
        # An explicit choice wins, and a wrong one must not be silently replaced.
        return override if os.path.isfile(override) else None
    for path in _candidates():
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


def _candidates() -> Iterator[str]:
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


def _require_libpython() -> Any:
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
        reason = f"cannot load libpython helper {helper}: {_one_line(exc)}"
        raise FramesUnavailable(reason) from None
    if not hasattr(__main__, "Frame"):
        raise FramesUnavailable(f"{helper} did not define libpython's Frame class")
    return __main__


# --- walking the stacks ------------------------------------------------------


def python_stacks(max_frames: int) -> dict[int, list[PyFrame]]:
    """LWP/TID -> that thread's Python frames, innermost first, at most
    max_frames each (threads running no Python map to []).

    Raises FramesUnavailable when there is no helper or no debug info.
    Restores the selected thread and frame afterwards, whatever happens."""
    libpython = _require_libpython()
    try:
        gdb.lookup_type("PyObject")
    except gdb.error:
        # Without the interpreter's types libpython can decode nothing.
        raise FramesUnavailable(_NO_DEBUG_INFO) from None

    inferior = gdb.selected_inferior()
    saved_thread = gdb.selected_thread()
    try:
        saved_frame: gdb.Frame | None = gdb.selected_frame()
    except gdb.error:
        saved_frame = None

    stacks: dict[int, list[PyFrame]] = {}
    eval_frames = unreadable = 0
    try:
        for thread in sorted(inferior.threads(), key=lambda t: t.num):
            if not thread.is_valid():
                continue
            pid, lwp, _tid = thread.ptid
            key = lwp or pid  # lwp is 0 only for a process gdb sees no threads in
            if thread.is_running():  # non-stop mode: its registers are not readable
                stacks[key] = []
                continue
            try:
                thread.switch()
            except gdb.error:
                stacks[key] = []
                continue
            frames, evals, bad = _thread_stack(libpython, max_frames)
            stacks[key] = frames
            eval_frames += evals
            unreadable += bad
    finally:
        _restore(saved_thread, saved_frame)

    if eval_frames and unreadable == eval_frames:
        # Interpreter frames exist but not one could be decoded.
        raise FramesUnavailable(_NO_DEBUG_INFO)
    return stacks


def _thread_stack(libpython: Any, max_frames: int) -> tuple[list[PyFrame], int, int]:
    """The selected thread's Python frames, how many C eval frames were seen,
    and how many of those could not be read (each gives one UNKNOWN frame)."""
    frames: list[PyFrame] = []
    evals = bad = 0
    try:
        frame = libpython.Frame(gdb.newest_frame())
    except gdb.error:
        return frames, 0, 0  # no stack (thread not started, or exited)
    depth = 0
    while frame is not None and len(frames) < max_frames and depth < _MAX_C_FRAMES:
        if _is_eval_frame(frame):
            evals += 1
            found = _eval_frame_pyframes(libpython, frame, max_frames - len(frames))
            if found is None:
                bad += 1
                frames.append(PyFrame(UNKNOWN, -1, UNKNOWN))
            else:
                frames.extend(found)
        try:
            frame = frame.older()
        except Exception:
            break  # unwinder gave up: keep what we have
        depth += 1
    if evals and bad == evals:
        local = _thread_local_pyframes(libpython, max_frames)
        if local:
            return local, evals, 0
    return frames[:max_frames], evals, bad


def _thread_local_pyframes(libpython: Any, limit: int) -> list[PyFrame]:
    """The thread's Python frames from its thread state's current_frame, as py-bt
    reads them when the eval loop's `frame` is <optimized out> (Debian's 3.14 and
    3.15 release builds, measured 2026-12-01); [] where the helper cannot."""
    local = getattr(getattr(libpython, "PyFramePtr", None), "get_thread_local_frame", None)
    out: list[PyFrame] = []
    try:
        pyop = local() if local else None
        for _ in range(_MAX_CHAIN):  # shims add no frame: bound the links, not the frames
            if not pyop or len(out) >= limit:
                break
            if not pyop.is_shim():
                one = _describe(libpython, pyop)
                if one is None:
                    break
                out.append(one)
            pyop = pyop.previous()
    except Exception:
        pass  # unreadable thread state or link: keep the frames read so far
    return out


def _is_eval_frame(frame: Any) -> bool:
    # 2.7's helper names it is_evalframeex (PyEval_EvalFrameEx).
    check = getattr(frame, "is_evalframe", None) or frame.is_evalframeex
    try:
        return bool(check())
    except Exception:
        return False


def _eval_frame_pyframes(libpython: Any, frame: Any, limit: int) -> list[PyFrame] | None:
    """The Python frames run by one C eval frame, innermost first; None if unreadable."""
    try:
        pyop = frame.get_pyop()
    except Exception:
        return None  # e.g. "Cannot locate block for frame": no debug info
    if pyop is None:
        return None  # 3.11+: `frame` unreadable (gh-127147 on optimized 3.13)
    if not hasattr(pyop, "previous"):
        # <= 3.10 and 2.7: one PyFrameObject per C eval frame.
        one = _describe(libpython, pyop)
        return [one] if one else None
    # 3.11+: one C eval frame runs a chain of _PyInterpreterFrame linked by
    # previous(), ending (as in py-bt) at a 3.12+ shim frame (not shown) or
    # after a 3.11 entry frame (shown).
    out: list[PyFrame] = []
    for _ in range(_MAX_CHAIN):
        if len(out) >= limit:
            break
        try:
            if hasattr(pyop, "is_shim") and pyop.is_shim():
                break  # end of this C call's frames (may be first: none yet)
            one = _describe(libpython, pyop)
            if one is None:
                break
            out.append(one)
            if hasattr(pyop, "is_entry") and pyop.is_entry():
                break
            pyop = pyop.previous()
        except Exception:
            break  # a bad link: keep the frames read so far
    # Nothing read at all is unreadable, unless we stopped cleanly at a shim.
    if not out and not _is_shim(pyop):
        return None
    return out


def _is_shim(pyop: Any) -> bool:
    try:
        return hasattr(pyop, "is_shim") and bool(pyop.is_shim())
    except Exception:
        return False


def _describe(libpython: Any, pyop: Any) -> PyFrame | None:
    """file:line:function of one libpython frame object, or None if unreadable."""
    try:
        if pyop.is_optimized_out():
            return None
    except Exception:
        return None
    file = _field_text(libpython, lambda: pyop.co_filename.proxyval(set()))
    function = _field_text(libpython, lambda: pyop.co_name.proxyval(set()))
    if file == UNKNOWN and function == UNKNOWN:
        return None
    try:
        line = int(pyop.current_line_num())
    except Exception:
        line = -1  # None (no line table) or an unreadable one
    return PyFrame(file, line, function)


def _field_text(libpython: Any, read: Callable[[], object]) -> str:
    # libpython's proxyval() reads at most 1000 characters of a string.
    try:
        value = read()
    except Exception:
        return UNKNOWN
    if not isinstance(value, str):
        return UNKNOWN  # a corrupt object decoded as something else
    if not hasattr(libpython.Frame, "is_evalframe"):
        # 2.7's helper decodes byte strings as latin-1 under gdb's Python 3;
        # they are usually UTF-8.
        try:
            value = value.encode("latin-1").decode("utf-8", "replace")
        except UnicodeEncodeError:
            pass  # a unicode object: already right
    return value


# --- thread names --------------------------------------------------------------

# sys.modules of the main interpreter: 3.12+, 3.7-3.11, then 2.7 and 3.6.
_MODULES_EXPRS = (
    "_PyRuntime.interpreters.main->imports.modules",
    "_PyRuntime.interpreters.main->modules",
    "interp_head->modules",
)
# Thread.__init__ stores the name as self._name (self.__name on 2.7).
_NAME_ATTRS = ("_name", "_Thread__name")
_MAX_NAME = 200
_MAX_THREADS = 100000


def python_thread_names() -> dict[int, str]:
    """LWP/TID -> the thread's `threading` name, read from memory only
    (sys.modules['threading']._active, whose keys are pthread_self() values).

    Threads threading does not know, and names that are not plain strings,
    are left out; {} if threading is not imported or cannot be read (no
    debug info, say).  Raises FramesUnavailable when there is no helper."""
    libpython = _require_libpython()
    by_handle: dict[int, int] = {}
    for thread in gdb.selected_inferior().threads():
        try:
            handle = thread.handle()
        except (gdb.error, RuntimeError, AttributeError):
            continue  # no libthread_db (some core files): _native_id may still match
        by_handle[int.from_bytes(handle, sys.byteorder)] = thread.ptid[1] or thread.ptid[0]
    names: dict[int, str] = {}
    try:
        threading = _dict_get(libpython, _sys_modules(libpython), ("threading",))
        active = _dict_get(libpython, _instance_dict(libpython, threading), ("_active",))
        if not isinstance(active, libpython.PyDictObjectPtr):
            return {}
        for count, (ident, thread) in enumerate(active.iteritems()):
            if count >= _MAX_THREADS:
                break  # corrupt memory
            attrs = _instance_dict(libpython, thread)
            name = _text(libpython, _dict_get(libpython, attrs, _NAME_ATTRS))
            ident_value = _int(libpython, ident)
            tid = (by_handle.get(ident_value) if ident_value is not None else None) or _int(libpython, _dict_get(libpython, attrs, ("_native_id",)))
            if name is not None and tid:
                names[tid] = name
    except Exception:  # corrupt or unreadable memory: keep the names read so far
        pass
    return names


def _sys_modules(libpython: Any) -> Any:
    for expr in _MODULES_EXPRS:
        try:
            return libpython.PyObjectPtr.from_pyobject_ptr(gdb.parse_and_eval(expr))
        except gdb.error:
            continue
    return None


def _instance_dict(libpython: Any, pyop: Any) -> Any:
    """What the object's __dict__ holds, as the helper reads it: inline values
    (3.11+, no dict made yet) or the dict; None if it has neither."""
    if pyop is None or pyop.is_null():
        return None
    heap = libpython.HeapTypeObjectPtr(pyop._gdbval)  # its reader works for any type (a module too)
    values = getattr(heap, "get_keys_values", lambda: None)()
    return values if values else heap.get_attr_dict()


def _dict_get(libpython: Any, pairs: Any, keys: tuple[str, ...]) -> Any:
    """The value of the first of `keys` found among a dict's string keys, or None."""
    if pairs is None or not hasattr(pairs, "iteritems"):
        return None
    for key, value in pairs.iteritems():
        if _text(libpython, key) in keys:
            return value
    return None


def _text(libpython: Any, pyop: Any) -> str | None:
    """An exact str (or 2.7 str/unicode), at most _MAX_NAME characters; else None."""
    kinds = tuple(getattr(libpython, k) for k in ("PyUnicodeObjectPtr", "PyStringObjectPtr") if hasattr(libpython, k))
    if pyop is None or type(pyop) not in kinds:  # a str subclass comes as HeapTypeObjectPtr
        return None
    value = pyop.proxyval(set())
    if not isinstance(value, str):
        return None
    return value if len(value) <= _MAX_NAME else value[:_MAX_NAME] + "..."


def _int(libpython: Any, pyop: Any) -> int | None:
    kinds = tuple(getattr(libpython, k) for k in ("PyLongObjectPtr", "PyIntObjectPtr") if hasattr(libpython, k))
    if pyop is None or type(pyop) not in kinds:
        return None
    value = pyop.proxyval(set())
    return value if isinstance(value, int) else None


def _restore(thread: gdb.InferiorThread | None, frame: gdb.Frame | None) -> None:
    try:
        if thread is not None and thread.is_valid():
            thread.switch()
        if frame is not None and frame.is_valid():
            frame.select()
    except gdb.error:
        pass  # the thread or frame vanished: nothing better to select


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
