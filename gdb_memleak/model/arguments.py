"""argparse types and bounds shared by the gdb commands (commands/) and the shell CLI (cli/): an option
says its bounds the same way wherever it is typed.  Pure: no gdb."""

from __future__ import annotations

import argparse
from typing import Callable

MAX_TIMEOUT = 86400  # a day: --timeout, `set py-memleak timeout` and `gdb-memleak report --timeout` alike


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`, each option's bounds said as it is read."""

    def number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("expected a whole number, got %r" % text) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError("expected a number from %d to %d, got %d" % (low, high, value))
        return value

    return number


def seconds_up_to(limit: float) -> Callable[[str], float]:
    """An argparse type: seconds above 0 and at most `limit` (nan and inf are out too)."""

    def seconds(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError("expected seconds, got %r" % text) from None
        if not 0 < value <= limit:
            raise argparse.ArgumentTypeError("expected seconds above 0 and at most %g, got %s" % (limit, text))
        return value

    return seconds
