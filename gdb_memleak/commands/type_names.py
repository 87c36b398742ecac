"""Type names seen in this gdb session, for py-cycles' TYPE completion.

Completion must not run anything in the target, so it offers the names from the
last py-heap / py-cycles result instead: each qualified name and its short form.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_names: set[str] = set()


def _add(names: Iterable[Any]) -> set[str]:
    found = set()
    for name in names:
        if isinstance(name, str) and name and not any(c.isspace() for c in name) and name.isprintable():
            found.add(name)
            found.add(name.rpartition(".")[2])
    return found


def remember_heap(doc: dict) -> None:
    global _names
    found = _add(row.get("kind") for row in doc.get("rows") or [])
    if found:
        _names = found | _add(o.get("type") for o in doc.get("largest") or [])


def remember_cycles(doc: dict) -> None:
    global _names
    found = _add(t for group in doc.get("cycles") or [] for t in group.get("types") or [])
    if found:
        _names = found


def names() -> list[str]:
    return sorted(_names)
