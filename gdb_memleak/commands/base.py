"""A gdb command whose arguments are declared with argparse.

`help py-heap` shows the argparse usage; bad arguments become one-line gdb
errors; an unexpected exception becomes a gdb error too, never a traceback.
Every error is one escaped line (render.error_line): a payload's exception in
the target is reported by its last line and where it was raised.
"""

from __future__ import annotations

import argparse
from typing import Any

import gdb

from .. import render
from ..settings import SETTINGS


class ArgumentError(Exception):
    pass


class HelpShown(Exception):
    pass


class GdbArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print and sys.exit()
        raise ArgumentError(message)

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        if message:
            raise ArgumentError(message.strip())
        raise HelpShown()

    def print_help(self, file: Any = None) -> None:
        gdb.write(self.format_help())


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number, got %r" % text)
    if value < 1 or value > 1_000_000:
        raise argparse.ArgumentTypeError("expected a number from 1 to 1000000, got %d" % value)
    return value


def timeout_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected seconds, got %r" % text)
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError("expected seconds between 0 and 86400, got %s" % text)
    return value


class MemleakCommand(gdb.Command):
    """Base class: subclasses set `name`, build `parser` and implement `run`."""

    name = ""

    def __init__(self) -> None:
        self.parser = self.build_parser()
        self.__doc__ = self.parser.format_help()
        super().__init__(self.name, gdb.COMMAND_DATA)

    def build_parser(self) -> GdbArgumentParser:
        raise NotImplementedError

    def new_parser(self, description: str) -> GdbArgumentParser:
        parser = GdbArgumentParser(prog=self.name, description=description)
        parser.add_argument("--json", action="store_true", help="print one JSON document on one line, nothing else")
        return parser

    @staticmethod
    def add_timeout(parser: GdbArgumentParser) -> None:
        parser.add_argument(
            "--timeout",
            type=timeout_seconds,
            default=None,
            metavar="SECONDS",
            help="how long the target may run to reach a safe point (default: 'set py-memleak timeout', %d)"
            % SETTINGS.timeout,
        )

    def invoke(self, argument: str, from_tty: bool) -> None:
        self.dont_repeat()
        try:
            args = self.parser.parse_args(gdb.string_to_argv(argument))
        except ArgumentError as e:
            raise gdb.GdbError("%s: %s (see 'help %s')" % (self.name, e, self.name))
        except HelpShown:
            return
        if getattr(args, "timeout", 0) is None:
            args.timeout = SETTINGS.timeout
        try:
            self.run(args)
        except gdb.GdbError as e:  # one line: a target traceback would read as a crash of gdb's
            raise gdb.GdbError(render.error_line(e))
        except KeyboardInterrupt:
            raise gdb.GdbError("%s: interrupted" % self.name)
        except Exception as e:  # a bug of ours: say so in one line, keep gdb usable
            raise gdb.GdbError(render.error_line("%s: internal error: %s: %s" % (self.name, type(e).__name__, e)))

    def run(self, args: argparse.Namespace) -> None:
        raise NotImplementedError

    @staticmethod
    def out(text: str = "") -> None:
        gdb.write(text + "\n", gdb.STDOUT)

    @staticmethod
    def note(text: str) -> None:
        """Progress and warnings: stderr, so --json keeps stdout to one document."""
        gdb.write(render.escape(text) + "\n", gdb.STDERR)

    def emit_json(self, doc: dict) -> None:
        gdb.write(render.json_line(doc) + "\n", gdb.STDOUT)
