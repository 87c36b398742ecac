"""gdb's output styling for our text: ANSI codes only when gdb itself would style.

That is: `set style enabled on`, not batch mode, and stdout a terminal.  The
colours are gdb's own (`show style filename`, `show style function`), so a user's
`set style filename foreground red` applies to py-memtop's locations too.
"""

from __future__ import annotations

import os

_COLOURS = {"black": 30, "red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36, "white": 37}
_INTENSITY = {"bold": 1, "dim": 2}


def _batch() -> bool:
    try:
        with open("/proc/self/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return False
    return b"-batch" in args or b"--batch" in args


def enabled() -> bool:
    try:
        import gdb

        if not gdb.parameter("style enabled"):
            return False
    except Exception:  # no gdb, or a gdb without styling
        return False
    return not _batch() and os.isatty(1) and os.environ.get("TERM", "dumb") != "dumb"


def _code(name: str) -> str:
    import gdb

    codes = []
    try:
        colour = _COLOURS.get(str(gdb.parameter("style %s foreground" % name)))
        intensity = _INTENSITY.get(str(gdb.parameter("style %s intensity" % name)))
    except Exception:
        return ""
    if intensity:
        codes.append(intensity)
    if colour:
        codes.append(colour)
    return "\x1b[%sm" % ";".join(map(str, codes)) if codes else ""


def codes() -> dict[str, str]:
    """ANSI start codes by role ("header", "filename", "function"); empty when styling is off."""
    if not enabled():
        return {}
    found = {"header": "\x1b[1m", "filename": _code("filename"), "function": _code("function")}
    return {role: code for role, code in found.items() if code}
