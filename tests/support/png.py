"""Is it a PNG picture: the 8-byte signature, and optionally more than a blank's size."""

from __future__ import annotations

from pathlib import Path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def is_png(data: bytes | Path, larger_than: int = 0) -> bool:
    """`data` (or the file at that path) starts with PNG's signature and is longer than `larger_than` bytes."""
    if isinstance(data, Path):
        data = data.read_bytes()
    return data.startswith(PNG_MAGIC) and len(data) > larger_than
