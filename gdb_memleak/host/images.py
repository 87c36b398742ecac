"""Which files a process really maps, from /proc and the ELF files themselves.

No gdb here: images.py (inside gdb) uses these helpers to prove that the file gdb
read for the executable or a library is the one the target runs, and the tests
call them directly.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Optional

DELETED = " (deleted)"
PT_NOTE = 4
NT_GNU_BUILD_ID = 3
# A note segment is a few hundred bytes; more than this is not a real one.
MAX_NOTES = 1 << 16

Identity = tuple  # (st_dev, st_ino)


@dataclass(frozen=True)
class Mapping:
    """One file-backed line of /proc/PID/maps."""

    start: int
    end: int
    identity: Identity
    path: str  # as the kernel shows it to us, " (deleted)" included

    @property
    def deleted(self) -> bool:
        return self.path.endswith(DELETED)


@dataclass(frozen=True)
class TargetFile:
    """A file the target runs: its identity, and where this process can open it."""

    name: str  # the target's name for it, for messages
    identity: Optional[Identity]
    exact: str  # a /proc path that is the file itself (map_files, exe)
    by_path: tuple = ()  # other paths, used only while they have `identity`


def parse_maps(text: str) -> list[Mapping]:
    """The file-backed mappings in the text of a /proc/PID/maps file."""
    found = []
    for line in text.splitlines():
        fields = line.split(None, 5)
        if len(fields) < 6 or fields[4] == "0":
            continue  # anonymous, heap, stack, vdso
        start, _, end = fields[0].partition("-")
        major, _, minor = fields[3].partition(":")
        found.append(Mapping(int(start, 16), int(end, 16), (os.makedev(int(major, 16), int(minor, 16)), int(fields[4])),
                             fields[5]))
    return found


def read_maps(pid: int) -> list[Mapping]:
    try:
        with open("/proc/%d/maps" % pid) as f:
            return parse_maps(f.read())
    except OSError:
        return []


def mapping_at(mappings: Iterable[Mapping], address: int) -> Optional[Mapping]:
    return next((m for m in mappings if m.start <= address < m.end), None)


def mapping_named(mappings: Iterable[Mapping], path: str) -> Optional[Mapping]:
    """The first mapping of a file with the basename of `path` (roots differ: /lib or /usr/lib)."""
    name = os.path.basename(path)
    return next((m for m in mappings if os.path.basename(m.path[: -len(DELETED)] if m.deleted else m.path) == name), None)


def file_identity(path: str) -> Optional[Identity]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def mapped_file(pid: int, mapping: Mapping) -> TargetFile:
    """The file behind `mapping`: map_files needs CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE),
    so the path the kernel shows, plain or under the target's root, is the fallback."""
    path = mapping.path[: -len(DELETED)] if mapping.deleted else mapping.path
    by_path = () if mapping.deleted else (path, "/proc/%d/root%s" % (pid, path))
    return TargetFile(mapping.path, mapping.identity, "/proc/%d/map_files/%x-%x" % (pid, mapping.start, mapping.end), by_path)


def host_path(pid: int, name: str) -> str:
    """A path gdb reports for process `pid`'s files, as this process can open it: target: paths
    (gdb's, through the target's mount namespace) under /proc/PID/root, else the mapped file itself."""
    if not name.startswith("target:"):
        return name
    path = name[len("target:"):]
    under_root = "/proc/%d/root%s" % (pid, path)
    return under_root if os.path.exists(under_root) else openable(pid, path) or under_root


def openable(pid: int, path: str) -> Optional[str]:
    """Where this process can open the file process `pid` maps under the name `path` (map_files, or
    a path to the same file); None if it maps none or none can be opened.  A target chrooted in
    mount namespaces of its own names its files by their paths there, under no root of ours: its
    eval loop was never read (2026-12-07, bullseye's 3.9 in test_containers.py)."""
    mapping = next((m for m in read_maps(pid) if m.path == path), None)
    if mapping is None:
        return None
    found = mapped_file(pid, mapping)
    return next((c for c in (found.exact, *found.by_path) if file_identity(c) == mapping.identity and os.access(c, os.R_OK)),
                None)


def executable(pid: int) -> TargetFile:
    try:
        name = os.readlink("/proc/%d/exe" % pid)
    except OSError:
        name = "/proc/%d/exe" % pid
    return TargetFile(name, file_identity("/proc/%d/exe" % pid), "/proc/%d/exe" % pid)


def _notes(data: bytes, little: bool, align: int) -> Iterable[tuple[int, bytes, bytes]]:
    """(type, name, desc) of each ELF note in `data`."""
    order = "<" if little else ">"
    offset = 0
    while offset + 12 <= len(data):
        namesz, descsz, kind = struct.unpack_from(order + "III", data, offset)
        name_at = offset + 12
        desc_at = name_at + (namesz + align - 1) // align * align
        end = desc_at + (descsz + align - 1) // align * align
        if end > len(data) or end <= offset:
            return
        yield kind, data[name_at:name_at + namesz], data[desc_at:desc_at + descsz]
        offset = end


def gnu_build_id(path: str) -> Optional[str]:
    """The GNU build-id of an ELF file, in hex as gdb prints it; None if it has none or cannot be read.

    Read from the program headers' note segments, so it works on stripped files,
    and only the headers and notes are read (a few kB), never the whole file."""
    try:
        with open(path, "rb") as f:
            ident = f.read(64)
            if len(ident) < 52 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] not in (1, 2):
                return None
            wide, little = ident[4] == 2, ident[5] == 1
            order = "<" if little else ">"
            if wide:
                phoff, = struct.unpack_from(order + "Q", ident, 32)
                phentsize, phnum = struct.unpack_from(order + "HH", ident, 54)
            else:
                phoff, = struct.unpack_from(order + "I", ident, 28)
                phentsize, phnum = struct.unpack_from(order + "HH", ident, 42)
            f.seek(phoff)
            headers = f.read(phentsize * phnum)
            for i in range(phnum):
                at = i * phentsize
                if wide:
                    kind, _, offset, _, _, size, _, align = struct.unpack_from(order + "IIQQQQQQ", headers, at)
                else:
                    kind, offset, _, _, size, _, _, align = struct.unpack_from(order + "IIIIIIII", headers, at)
                if kind != PT_NOTE or size > MAX_NOTES:
                    continue
                f.seek(offset)
                for note, name, desc in _notes(f.read(size), little, 8 if align == 8 else 4):
                    if note == NT_GNU_BUILD_ID and name == b"GNU\0" and desc:
                        return desc.hex()
    except (OSError, struct.error):
        return None
    return None


def target_build_id(target: TargetFile) -> Optional[str]:
    """The build-id of the file the target runs: from its exact /proc path, else from a
    path that still leads to the same (device, inode)."""
    found = gnu_build_id(target.exact)
    if found is not None or target.identity is None:
        return found
    for path in target.by_path:
        if file_identity(path) == target.identity:
            return gnu_build_id(path)
    return None


def mismatch(gdb_path: Optional[str], gdb_build_id: Optional[str], target: TargetFile) -> Optional[str]:
    """None if gdb's file is the target's, else why not (a phrase for a one-line message).

    `gdb_path`: where this process can open the file gdb read (None when gdb read it
    from the target's mount namespace); `gdb_build_id`: gdb's own reading of it."""
    if not target.exact:
        return "the target maps nothing where gdb puts its code"
    if gdb_path is not None and target.identity is not None and file_identity(gdb_path) == target.identity:
        return None  # the very same file: the normal case, and no file is read
    theirs = target_build_id(target)
    ours = gdb_build_id or (gnu_build_id(gdb_path) if gdb_path else None)
    if theirs is None:
        return "cannot read the target's file to compare"
    if ours is None:
        return "not the same file, and it has no build-id to compare"
    if ours != theirs:
        return "build-id %s, the target's %s" % (ours, theirs)
    return None


def same_root(pid: int) -> bool:
    """Whether the target sees the same / as this process (not chrooted, not in a container).

    Unknown counts as the same: then nothing would be changed for it."""
    theirs, ours = file_identity("/proc/%d/root" % pid), file_identity("/")
    return theirs is None or theirs == ours


def same_mount_namespace(pid: int) -> bool:
    try:
        return os.readlink("/proc/%d/ns/mnt" % pid) == os.readlink("/proc/self/ns/mnt")
    except OSError:
        return True
