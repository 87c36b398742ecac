"""Settings shared by the commands: the timeout and where the in-target tools live."""

from __future__ import annotations

import glob
import os
import re
import sys
from dataclasses import dataclass, field

DEFAULT_TIMEOUT = 30


@dataclass
class Settings:
    timeout: int = DEFAULT_TIMEOUT
    # (major, minor) -> directories holding guppy3/objgraph built for that Python.
    tool_dirs: dict[tuple[int, int], list[str]] = field(default_factory=dict)

    def add_venv(self, venv: str) -> None:
        """Use a virtual environment's site-packages for targets of its Python version."""
        for site in sorted(glob.glob(os.path.join(venv, "lib", "python*", "site-packages"))):
            # python3.13t (free-threaded) and other ABI-flagged builds are not the
            # default ABI of that version: their extension modules would not load.
            match = re.search(r"python(\d)\.(\d+)([a-z]*)[/\\]site-packages$", site)
            if match and not match.group(3):
                version = (int(match.group(1)), int(match.group(2)))
                dirs = self.tool_dirs.setdefault(version, [])
                if site not in dirs:
                    dirs.append(site)
                # gdb's own Python can use the same directory when it is the same version
                # (for the graphviz package that renders --graph).
                if version == sys.version_info[:2] and site not in sys.path:
                    sys.path.append(site)

    def tool_paths(self, version: tuple[int, int]) -> list[str]:
        """Directories to put on the target's sys.path: only ones built for its version."""
        return list(self.tool_dirs.get(version, []))


SETTINGS = Settings()
