"""Before any call into the target: the files gdb read for it are the ones it runs.

A target chrooted or in a container may run another distribution's libc.  gdb 13
attached from the host read the host's /usr/lib/x86_64-linux-gnu/libc.so.6 for a
Python 3.14 in a Debian forky root (libc 2.43; the host has 2.36), warned that its
".dynamic section ... is not at the expected address", and the first call
(__errno_location) then jumped into other code: the target died with SIGSEGV.
So every injecting command first proves, for the images it calls into or breaks
in, that gdb's file is the target's: the same (device, inode) or the same GNU
build-id.  When the target's root is not ours, gdb is told to read the target's
files through /proc/PID/root, as `-iex "set sysroot /proc/PID/root"` would have
done; if that does not make them match, the command refuses in one line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional

import gdb

from ..errors import Refused, TargetUnavailable
from ..host import images as procfs
from .invocation import note

# The images our calls and breakpoints land in: the executable (always checked), the
# dynamic linker (gdb's shared-library breakpoint), libc (malloc_trim, madvise,
# __errno_location), libpthread on glibc < 2.34, and a libpython (the Py* API).
# Others are not checked: a library upgraded on disk while the target runs (its
# mapping then reads "(deleted)") must not stop a diagnosis that never calls it.
_CALLED = re.compile(r"^(?:ld-linux[\w.-]*|ld|libc|libpthread|libpython\d[\w.]*?|(?:ld|libc|libpthread)-[\d.]+)\.so(?:\.[\d.]+)?$")
_SOLIB_LINE = re.compile(r"^(0x[0-9a-fA-F]+)\s+0x[0-9a-fA-F]+\s+.*?\bYes(?: \(\*\))?\s+(\S.*)$")

# Keys (inferior, pid, objfiles) already proven; cleared whenever gdb's files change.
_proven: set = set()
_connected = False


@dataclass(frozen=True)
class Image:
    """A file gdb read for the target, and the file the target really runs there."""

    gdb_name: str
    gdb_build_id: Optional[str]
    target: procfs.TargetFile
    executable: bool = False


@dataclass(frozen=True)
class Mismatch:
    image: Image
    why: str


def _forget(*_event) -> None:
    _proven.clear()


def _connect_events() -> None:
    global _connected
    if _connected:
        return
    for name in ("new_objfile", "clear_objfiles", "exited"):
        registry = getattr(gdb.events, name, None)
        if registry is not None:
            registry.connect(_forget)
    _connected = True


def _key(inferior: gdb.Inferior) -> tuple:
    return inferior.num, inferior.pid, tuple(o.filename for o in gdb.objfiles())


def _local_path(pid: int, gdb_name: str) -> Optional[str]:
    """Where this process opens the file gdb read: a `target:` name is in the target's
    mount namespace, the same files as ours only when that namespace is ours."""
    if not gdb_name.startswith("target:"):
        return gdb_name
    return gdb_name[len("target:"):] if procfs.same_mount_namespace(pid) else None


def _build_ids() -> dict[str, Optional[str]]:
    """gdb's own reading of each file's build-id (not of separate debug files)."""
    return {o.filename: o.build_id for o in gdb.objfiles() if getattr(o, "owner", None) is None and o.filename}


def _solibs() -> list[tuple[int, str]]:
    """(an address gdb places the library's text at, gdb's name for it) for libraries whose symbols gdb read."""
    text = gdb.execute("info sharedlibrary", to_string=True)
    found = []
    for line in text.splitlines():
        match = _SOLIB_LINE.match(line.strip())
        if match:
            found.append((int(match.group(1), 16), match.group(2).strip()))
    return found


def _images(pid: int) -> list[Image]:
    build_ids = _build_ids()
    images = []
    exe = program_file()
    if exe:
        images.append(Image(exe, build_ids.get(exe), procfs.executable(pid), executable=True))
    mappings = procfs.read_maps(pid)
    for address, name in _solibs():
        if not _CALLED.match(os.path.basename(name)):
            continue
        mapping = procfs.mapping_at(mappings, address)
        if mapping is None:  # gdb's idea of the library does not even land in a mapping
            named = procfs.mapping_named(mappings, name)
            target = procfs.TargetFile(named.path if named else "nothing at %#x" % address, None, "")
        else:
            target = procfs.mapped_file(pid, mapping)
        images.append(Image(name, build_ids.get(name), target))
    return images


def mismatches(pid: int) -> list[Mismatch]:
    """The images gdb read a file for that is not the one the target runs there."""
    found = []
    for image in _images(pid):
        why = procfs.mismatch(_local_path(pid, image.gdb_name), image.gdb_build_id, image.target)
        if why is not None:
            found.append(Mismatch(image, why))
    return found


def invocation(pid: int) -> str:
    return f'gdb -iex "set sysroot /proc/{pid}/root" -iex "file /proc/{pid}/exe" -p {pid}'


def program_file() -> Optional[str]:
    """The file gdb read as the target's program, if any."""
    progspace = gdb.current_progspace()
    return progspace.filename if progspace is not None else None


def _execute_quietly(command: str) -> None:
    """A gdb command that must not ask (`file` asks before replacing a running program's file)."""
    confirm = gdb.parameter("confirm")
    gdb.execute("set confirm off", to_string=True)
    try:
        gdb.execute(command, from_tty=False, to_string=True)
    finally:
        gdb.execute("set confirm %s" % ("on" if confirm else "off"), to_string=True)


def _read_program(pid: int) -> None:
    """`file /proc/PID/exe`; a target gone meanwhile is said as such, not as gdb's error about the file."""
    note("gdb has not read the target's executable; reading /proc/%d/exe" % pid)
    try:
        _execute_quietly("file /proc/%d/exe" % pid)
    except gdb.error as e:
        if not os.path.exists("/proc/%d/exe" % pid):
            raise TargetUnavailable("the target exited before anything was run in it") from e
        raise


def _repair(pid: int, found: list[Mismatch]) -> None:
    """Read the target's own files, as the user could have asked before attaching.

    Measured with gdb 13.1 on a Debian forky root: `set sysroot` after attaching reloads
    every shared library from the new root and moves gdb's shared-library breakpoint to the
    target's ld.so (the whole check took 8-10 ms); `file /proc/PID/exe` replaces the
    executable's symbols.  Only what differs is reloaded: an executable with debug info in
    the root makes the injector's later symbol lookups cost about 5 s (python3.14-dbg)."""
    names = ", ".join(os.path.basename(m.image.gdb_name) for m in found)
    if not procfs.same_root(pid):
        note("the target runs in another root (/proc/%d/root) and gdb read other files for %s; "
             "reading the target's own (set sysroot /proc/%d/root)" % (pid, names, pid))
        _execute_quietly("set sysroot /proc/%d/root" % pid)
    if any(m.image.executable for m in found) or not program_file():
        _read_program(pid)


def _refusal(pid: int, found: list[Mismatch]) -> str:
    first = found[0]
    if first.image.target.name.endswith(procfs.DELETED):
        advice = "its copy was deleted or replaced since it started: restart it to inspect it"
    elif not procfs.same_root(pid):
        advice = "attach with: %s" % invocation(pid)
    else:
        advice = "the file at that path changed since the target loaded it"
    return "gdb read %s for the target, which runs %s (%s); nothing was run in the target; %s" % (
        first.image.gdb_name, first.image.target.name, first.why, advice)


def require_matched_images() -> None:
    """Raise a one-line gdb error unless every image our calls land in is the target's own file.

    When the target runs in another root, gdb is switched to that root first and the
    images are checked again.  Cached per (inferior, pid, objfiles)."""
    _connect_events()
    inferior = gdb.selected_inferior()
    pid = inferior.pid
    if _key(inferior) in _proven:
        return
    if not program_file():
        # gdb 16.3 attached to a target in its own PID and mount namespaces opened
        # target:/proc/PID/exe in the target's namespace, where PID is not its pid: no file.
        _read_program(pid)
    found = mismatches(pid)
    if found and (not procfs.same_root(pid) or any(m.image.executable for m in found)):
        _repair(pid, found)
        found = mismatches(pid)
    if found:
        raise Refused(_refusal(pid, found))
    _proven.add(_key(inferior))
