"""Which of a target's files gdb's index cache lacks (issue 13: symbols read without the target stopped).

gdb reads each shared library's debug info when it attaches, with the target stopped: on a
small pyenv 3.11 service, 0.23 s of attach against 0.13 s once gdb's index cache held the
files' indexes (benchmarks/pauses.py, 2026-12-02).  gdb names a cache entry by the file's
GNU build-id (DIRECTORY/BUILDID.gdb-index) and writes one only for a file with DWARF and no
index of its own, so those are the files that are worth indexing beforehand, while the
target still runs.  Nothing here imports gdb.
"""

from __future__ import annotations

import os
from typing import Optional

from . import elf, images

DEBUG_ROOT = "/usr/lib/debug/.build-id"  # separate debug files (Debian's -dbg and -dbgsym packages)
INDEXED = (".gdb_index", ".debug_names")  # gdb uses these and caches nothing for them


def cache_entry(directory: str, build_id: str) -> str:
    return os.path.join(directory, build_id + ".gdb-index")


def _has_dwarf(path: str, build_id: str) -> bool:
    names = elf.section_names(path)
    if names is None or any(n in names for n in INDEXED):
        return False
    if ".debug_info" in names:
        return True
    return os.path.exists(os.path.join(DEBUG_ROOT, build_id[:2], build_id[2:] + ".debug"))


def files_to_index(pid: int, directory: str) -> list[str]:
    """Paths (this process can open them) of the target's mapped ELF files that have DWARF,
    a build-id, and no entry in the index cache at `directory`: the executable first.
    Nothing for a target in another root (a container): gdb opens a file by its real path, so
    it would index the host's files of those names (seen 2026-12-02, Debian forky's 3.14)."""
    found: list[str] = []
    if not images.same_root(pid):
        return found
    seen: set = set()
    candidates = [images.executable(pid)]
    candidates += [images.mapped_file(pid, m) for m in images.read_maps(pid) if not m.deleted]
    for target in candidates:
        if target.identity in seen:
            continue
        seen.add(target.identity)
        path = _openable(target)
        build_id = images.target_build_id(target) if path is not None else None
        if path is None or build_id is None or os.path.exists(cache_entry(directory, build_id)):
            continue
        if _has_dwarf(path, build_id):
            found.append(path)
    return found


def _openable(target: images.TargetFile) -> Optional[str]:
    """A path gdb can be given for the file: no spaces or quotes (gdb's command line would split them)."""
    for path in (target.exact, *target.by_path):
        if any(c.isspace() or c in "'\"\\" for c in path):
            continue
        if os.access(path, os.R_OK) and (target.identity is None or images.file_identity(path) == target.identity):
            return path
    return None
