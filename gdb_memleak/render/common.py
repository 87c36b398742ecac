"""Helpers the text and the HTML renderers share: making target text inert, and sizes.

Everything that comes from the target (reprs, file names, type names, thread
names) passes through :func:`escape` before it is shown: in gdb's output a
crafted repr could otherwise move the cursor, change colours or retitle the
terminal, and in the report it would be a control character in the page.
Nothing here imports gdb: the report runs in the shell too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Optional


def escape(text: Any) -> str:
    """Make target-controlled text safe to print: control characters become \\xNN."""
    return _escape_controls(str(text), keep="\t", backslash="\\")


# Printable ASCII and tabs, the common case, need no work: py-memtop on 300 threads spent
# 86 ms of its 0.43 s (the target stopped) looking up every character (measured 2026-12-01).
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e\t]*")


def _escape_controls(text: str, keep: str, backslash: str) -> str:
    """Control characters (other than `keep`) as BACKSLASH + xNN / uNNNN / UNNNNNNNN."""
    if "\t" in keep and _PRINTABLE_ASCII.fullmatch(text):
        return text
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


def display_width(text: str) -> int:
    """Columns `text` takes on a terminal: East Asian wide and full-width characters two, combining
    marks and format characters none (a table of CJK names was out of line: a user's trial)."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf")
               else 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def escape_dot(dot: str) -> str:
    """Neutralise control characters in graphviz source built from target names.

    Statements are separated by real newlines and labels use backslash-n, so any
    other control character (ESC, BEL, ...) can only come from a target's type
    name or repr.  Each becomes a visible backslash-xNN inside its label: two
    backslashes in the dot source, which graphviz shows as one.
    """
    return _escape_controls(dot, keep="\n\t", backslash="\\\\")


def human_size(n: float) -> str:
    """1536 -> '1.5 KiB'; sizes as a person reads them."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024
    return "%.1f TiB" % n


def size_or_dash(n: Optional[float]) -> str:
    """A size, or '-' where /proc had no figure (a core file, a field the kernel lacks)."""
    return human_size(n) if n is not None else "-"


def signed_size(n: Optional[float], unknown: str = "?") -> str:
    """+1.5 KiB / -512 B: growth, whichever way it went."""
    if n is None:
        return unknown
    return ("-" if n < 0 else "+") + human_size(abs(n))


def percent(part: float, whole: float) -> int:
    """Whole percent of `whole` (an empty total counts as 1, so no division by zero)."""
    return int(100 * part // (whole or 1))


def retained_text(o: Mapping[str, Any]) -> str:
    """What an object of py-heap --largest retains: ">= 3.1 MiB" when the walk stopped early."""
    if o.get("retained") is None:
        return "?"
    return ("" if o["retained_complete"] else ">= ") + human_size(o["retained"])


NO_PATH = "(no path from a root found)"
LET_GO = "(let go of while py-heap ran)"


def no_path_text(o: Mapping[str, Any]) -> str:
    """What stands for an object's missing path: the target dropped it meanwhile, or none was found."""
    return LET_GO if o.get("unowned") else NO_PATH


def path_text(o: Mapping[str, Any]) -> str:
    return o.get("path") or no_path_text(o)


def holding_text(o: Mapping[str, Any]) -> str:
    """"2,361 dict": the kind most of what an object refers to and retains is."""
    items = o.get("items")
    return "{:,} {}".format(items["count"], items["kind"]) if items else ""


# Free memory inside an allocator worth a line of its own, when it is also a quarter of its arenas.
FRAGMENTED = 8 * 1024 * 1024


def fragmentation_notes(pymalloc: Optional[Mapping[str, Any]], malloc: Optional[Mapping[str, Any]]) -> list[str]:
    """A sentence per allocator that holds much memory free inside its arenas, with what to do about it."""
    notes = []
    if malloc and malloc["free_inside"] >= FRAGMENTED and malloc["free_inside"] * 4 >= malloc["arena_bytes"]:
        notes.append("glibc malloc holds %s%s free in %s chunks between chunks in use; it stays in the process until "
                     "the chunks around it are freed. Usual remedies: malloc_trim(0) gives back the free pages "
                     "inside; MALLOC_ARENA_MAX=2 limits the threads' arenas; jemalloc or tcmalloc (LD_PRELOAD) "
                     "fragment less" % ("" if malloc["complete"] else ">=", human_size(malloc["free_inside"]),
                                        "{:,}".format(malloc["free_chunks"])))
    if pymalloc and pymalloc["free"] >= FRAGMENTED and pymalloc["free"] * 4 >= pymalloc["arena_bytes"]:
        notes.append("pymalloc holds %s of empty pools in arenas that are not empty; an arena goes back to the "
                     "system only when all its objects are freed (long-lived objects made among short-lived ones "
                     "pin them)" % human_size(pymalloc["free"]))
    return notes


def other_anonymous_split(acc: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The other anonymous memory by who holds it: [(what, resident bytes)]; empty unless both
    allocators' arenas are known (without pymalloc's, the rest would count them as native)."""
    resident = acc.get("arenas_resident") or {}
    if acc.get("outside_arenas") is None:
        return []
    parts = [(name, resident[key]) for name, key in (("in pymalloc's arenas", "pymalloc"),
                                                      ("in malloc's threads' arenas", "malloc_thread_arenas"))
             if resident.get(key) is not None]
    parts.append(("outside them (malloc's blocks of 128 KiB and up, native memory)", acc["outside_arenas"]))
    return parts


# Native memory worth a sentence: this much, and over half of the RSS.
NATIVE_NOTE_MIN = 32 * 1024 * 1024


def native_memory_note(acc: Mapping[str, Any]) -> str:
    """A plain sentence when most of the RSS is in no allocator's arena, with what to use next."""
    outside, rss = acc.get("outside_arenas"), acc.get("rss") or 0
    if outside is None or outside < NATIVE_NOTE_MIN or outside * 2 <= rss:
        return ""
    return ("most of the RSS (%s of %s) is in no allocator's arena: native memory that C extensions, ctypes or "
            "libraries mapped or malloc'd in big blocks. py-heap counts the part Python objects own (numpy arrays' "
            "buffers among them); for the rest, a native allocation profiler (memray run --native, heaptrack) "
            "shows which calls made it" % (human_size(outside), human_size(rss)))
