"""Text rendering for gdb output: escaping untrusted text, sizes, tables.

Everything that comes from the target (reprs, file names, type names) passes
through :func:`escape` before it reaches the terminal, so a crafted repr cannot
move the cursor, change colours or retitle the terminal.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Iterable, Sequence


def escape(text: Any) -> str:
    """Make target-controlled text safe to print: control characters become \\xNN."""
    return _escape_controls(str(text), keep="\t", backslash="\\")


def _escape_controls(text: str, keep: str, backslash: str) -> str:
    """Control characters (other than `keep`) as BACKSLASH + xNN / uNNNN / UNNNNNNNN."""
    out = []
    for ch in text:
        if ch in keep or not unicodedata.category(ch).startswith("C"):
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append("%sx%02x" % (backslash, ord(ch)))
        elif ord(ch) < 0x10000:
            out.append("%su%04x" % (backslash, ord(ch)))
        else:
            out.append("%sU%08x" % (backslash, ord(ch)))
    return "".join(out)


# ANSI start codes by role ("header", "filename", "function"), set by each gdb command
# from gdb's own styling (gdb_memleak.style); empty (plain text) in batch mode and outside gdb.
styles: dict = {}


def styled(text: str, role: str) -> str:
    """`text` (already escaped) in gdb's style for `role`, when styling is on."""
    code = styles.get(role)
    return "%s%s\x1b[0m" % (code, text) if code and text else text


def human_size(n: float) -> str:
    """1536 -> '1.5 KiB'; sizes as a person reads them."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024
    return "%.1f TiB" % n


MAX_CELL = 2000  # characters of one table cell; the payloads bound theirs well below this


def _cell(value: Any) -> str:
    text = escape(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> str:
    """A plain text table; `align` holds one 'l' or 'r' per column (default: right).
    Every cell is escaped (see :func:`escape`) and bounded."""
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    align = align.ljust(len(headers), "r")

    def fmt(row: Sequence[str]) -> str:
        parts = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)]
        return "  ".join(parts).rstrip()

    return "\n".join([styled(fmt(list(headers)), "header")] + [fmt(r) for r in cells])


def json_line(doc: Any) -> str:
    """One JSON document on one line; ASCII only, so control characters arrive escaped."""
    return json.dumps(doc, ensure_ascii=True, sort_keys=False, separators=(",", ":"))


def escape_message(text: str) -> str:
    """Escape each line of a multi-line message (e.g. a target traceback)."""
    return "\n".join(escape(line) for line in text.split("\n"))


def escape_dot(dot: str) -> str:
    """Neutralise control characters in graphviz source built from target names.

    Statements are separated by real newlines and labels use backslash-n, so any
    other control character (ESC, BEL, ...) can only come from a target's type
    name or repr.  Each becomes a visible backslash-xNN inside its label: two
    backslashes in the dot source, which graphviz shows as one.
    """
    return _escape_controls(dot, keep="\n\t", backslash="\\\\")


MAX_ERROR = 1000  # characters of a one-line gdb error
_TRACEBACK_FRAME = re.compile(r'^\s*File "?(.*?)"?, line (\d+), in (.*)$')


def error_line(message: Any) -> str:
    """A gdb error as one escaped, bounded line.

    The injector reports a payload's exception as a first line ending with the
    exception's last line, followed by the target's traceback.  Only the first
    line is kept; where the traceback says the exception was raised is added in
    brackets, so no traceback reaches gdb's output.
    """
    lines = str(message).split("\n")
    first = next((line for line in lines if line.strip()), "unknown error")
    where = None
    for line in lines[1:]:
        match = _TRACEBACK_FRAME.match(line)
        if match:
            where = match
    if where is not None:
        first += " (raised in %s, line %s of the payload)" % (where.group(3).strip()[:100], where.group(2))
    text = escape(first)
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."
