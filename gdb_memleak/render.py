"""Text rendering for gdb output: escaping untrusted text, sizes, tables.

Everything that comes from the target (reprs, file names, type names) passes
through :func:`escape` before it reaches the terminal, so a crafted repr cannot
move the cursor, change colours or retitle the terminal.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any, Iterable, Sequence


def escape(text: Any) -> str:
    """Make target-controlled text safe to print: control characters become \\xNN."""
    text = str(text)
    out = []
    for ch in text:
        if ch in "\t" or not unicodedata.category(ch).startswith("C"):
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append("\\x%02x" % ord(ch))
        elif ord(ch) < 0x10000:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append("\\U%08x" % ord(ch))
    return "".join(out)


def human_size(n: float) -> str:
    """1536 -> '1.5 KiB'; sizes as a person reads them."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024
    return "%.1f TiB" % n


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> str:
    """A plain text table; `align` holds one 'l' or 'r' per column (default: right)."""
    cells = [[escape(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    align = align.ljust(len(headers), "r")

    def fmt(row: Sequence[str]) -> str:
        parts = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)]
        return "  ".join(parts).rstrip()

    return "\n".join([fmt(list(headers))] + [fmt(r) for r in cells])


def json_line(doc: Any) -> str:
    """One JSON document on one line; ASCII only, so control characters arrive escaped."""
    return json.dumps(doc, ensure_ascii=True, sort_keys=False, separators=(",", ":"))


def escape_message(text: str) -> str:
    """Escape each line of a multi-line message (e.g. a target traceback)."""
    return "\n".join(escape(line) for line in text.split("\n"))
