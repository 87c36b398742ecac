"""A gdb command whose arguments are declared with argparse, and the one error boundary.

`help py-heap` shows the argparse usage, with the settings of the moment; bad
arguments become one-line gdb errors.  `invoke` is the only place errors become
output: a MemleakError (errors.py) becomes "command: reason" in one escaped line;
an unexpected exception says "internal error" in one line, never a traceback.
With `set py-memleak verbose on`, the gdb-side traceback and the target's (for a
payload that raised) are printed first, on stderr.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import traceback
from typing import Any

import gdb

from ..errors import EndedMidCall, MemleakError, PayloadFailed
from ..gdbside import style
from ..gdbside.hangup import terminations_interrupt
from ..gdbside.invocation import Invocation, current, note, running
from ..gdbside.settings import SETTINGS
from ..model import documents
from ..model.arguments import MAX_TIMEOUT, seconds_up_to, whole_number
from ..render import text as render


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


positive_int = whole_number(1, 1_000_000)


timeout_seconds = seconds_up_to(MAX_TIMEOUT)


MARK_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def mark_name(text: str) -> str:
    """A mark's name, checked as the option is read: an empty one ("") would read as no option at all."""
    if not MARK_NAME.fullmatch(text):  # (match's $ lets a final newline through)
        raise argparse.ArgumentTypeError("a mark name is 1 to 64 letters, digits or _.:-, got %r" % text)
    return text


# py-cycles' marks share the store under this prefix; --marks lists them so, and --drop-mark takes them so.
CYCLES_PREFIX = "cycles/"


def dropped_mark_name(text: str) -> str:
    """--drop-mark's NAME: a mark's name, or one of py-cycles' as --marks lists it (cycles/NAME)."""
    mark_name(text[len(CYCLES_PREFIX):] if text.startswith(CYCLES_PREFIX) else text)
    return text


def type_name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a type name, got %r" % text)
    return text


class MemleakCommand(gdb.Command):
    """Base class: subclasses set `name`, build `parser` and implement `run`."""

    name = ""
    # gdb's ANSI codes by role for this invocation (gdbside.style), passed to the text renderers
    styles: dict[str, str] = {}

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

    def complete(self, text: str, word: str) -> Any:
        """Tab completion of the option strings, or of :meth:`positional_words`.  Runs nothing in the target."""
        token = text.split()[-1] if text and not text[-1].isspace() else ""
        if word is None or not token.endswith(word):
            word = token
        words = text.split() if token == "" else text.split()[:-1]
        previous = self.parser._option_string_actions.get(words[-1]) if words else None
        if previous is not None and previous.nargs != 0:  # the option's value
            if previous.choices:
                candidates = sorted(previous.choices)
            elif previous.metavar == "FILE":  # (gdb.COMPLETE_FILENAME from here completes nothing in gdb 13)
                candidates = sorted(p + "/" if os.path.isdir(p) else p for p in glob.glob(glob.escape(token) + "*"))
            else:
                return gdb.COMPLETE_NONE
        elif token.startswith("-"):
            candidates = sorted(o for action in self.parser._actions for o in action.option_strings if o.startswith("--"))
        else:
            candidates = self.positional_words()
        cut = len(token) - len(word)  # gdb replaces only `word`, which may be the tail of the token (after a '.')
        matches = [c[cut:] for c in candidates if c.startswith(token)]
        return matches or gdb.COMPLETE_NONE

    def positional_words(self) -> list[str]:
        return []

    def invoke(self, argument: str, from_tty: bool) -> None:
        self.dont_repeat()
        self.styles = style.codes()
        try:
            args = self.parser.parse_args(gdb.string_to_argv(argument))
        except ArgumentError as e:
            raise gdb.GdbError("%s: %s (see 'help %s')" % (self.name, e, self.name)) from e
        except HelpShown:
            return
        timeout = getattr(args, "timeout", None)
        invocation = Invocation(self.name, timeout if timeout is not None else SETTINGS.timeout, bool(getattr(args, "force", False)))
        try:
            with running(invocation), terminations_interrupt():
                self.run(invocation, args)
        except MemleakError as e:
            self._explain(e)
            raise gdb.GdbError(render.error_line("%s: %s" % (self.name, e))) from e
        except gdb.GdbError as e:  # gdb's own, one line: a target traceback would read as a crash of gdb's
            self._explain(e)
            raise gdb.GdbError(render.error_line(e)) from e
        except KeyboardInterrupt as e:
            # (gdb told to end mid-call, and its own interrupt arriving as that unwinds: that says more)
            unwound = e.__context__ if isinstance(e.__context__, EndedMidCall) else "interrupted"
            raise gdb.GdbError(render.error_line("%s: %s" % (self.name, unwound))) from None
        except Exception as e:  # a bug of ours: say so in one line, keep gdb usable
            self._explain(e)
            raise gdb.GdbError(render.error_line("%s: internal error: %s: %s" % (self.name, type(e).__name__, e))) from e

    @staticmethod
    def _explain(error: BaseException) -> None:
        """With `set py-memleak verbose on`: the gdb side's traceback, and the target's for a payload that raised."""
        if not SETTINGS.verbose:
            return
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        if isinstance(error, PayloadFailed) and error.target_traceback:
            text += "In the target:\n%s\n" % error.target_traceback
        for line in text.splitlines():
            gdb.write(render.escape(line) + "\n", gdb.STDERR)

    def run(self, invocation: Invocation, args: argparse.Namespace) -> None:
        raise NotImplementedError

    @staticmethod
    def out(text: str = "") -> None:
        gdb.write(text + "\n", gdb.STDOUT)

    @staticmethod
    def note(text: str) -> None:
        """Progress and warnings: stderr, so --json keeps stdout to one document (invocation.note)."""
        note(text)

    @staticmethod
    def emit_json(kind: str, doc: dict) -> None:
        """One document of `kind` (model/documents.py) on one line, with the notes made while making it."""
        now = current()
        gdb.write(render.json_line(documents.envelope(kind, doc, now.notes if now else [])) + "\n", gdb.STDOUT)
