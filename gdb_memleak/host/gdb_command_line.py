"""gdb's own command line (/proc/self/cmdline), read by the plugin inside gdb: the pid it attaches to,
whether it names a program, and its `-ex` commands.  Pure: no gdb."""

from __future__ import annotations

import os
import re
from typing import Optional


def gdb_arguments() -> list[str]:
    try:
        with open("/proc/self/cmdline", "rb") as f:
            return f.read().decode("utf-8", "replace").split("\0")[:-1]  # (each argument ends in a NUL)
    except OSError:
        return []


def commands(options: tuple[str, ...] = ("ex", "eval-command")) -> list[str]:
    """The commands gdb's command line gives with `options` (-ex and --eval-command by default), in order."""
    args = gdb_arguments()
    found = []
    for i, arg in enumerate(args):
        name, equals, value = arg.lstrip("-").partition("=")
        if arg.startswith("-") and name in options:
            if equals:
                found.append(value)
            elif i + 1 < len(args):
                found.append(args[i + 1])
    return found


def first_command() -> str:
    """The first command gdb's command line gives with -ex (or --eval-command), "" if none."""
    given = commands()
    return given[0].strip() if given else ""


# gdb's options (gdb/main.c, 13-18), by whether they take a value; getopt_long_only: one dash or two.
_WITH_VALUE = frozenset((
    "annotate", "se", "symbols", "s", "exec", "e", "core", "c", "pid", "p", "command", "x", "eval-command", "ex",
    "init-command", "ix", "init-eval-command", "iex", "early-init-command", "eix", "early-init-eval-command",
    "eiex", "ui", "interpreter", "i", "directory", "d", "data-directory", "D", "cd", "tty", "baud", "b", "l"))
_WITHOUT_VALUE = frozenset((
    "tui", "dbx", "readnow", "readnever", "r", "quiet", "q", "silent", "nh", "nx", "n", "batch", "batch-silent",
    "fullname", "f", "help", "h", "version", "v", "return-child-result", "configuration", "nw", "w", "write",
    "windows", "nowindows", "statistics", "args"))


_PID = re.compile(r"[1-9][0-9]*")  # (gdb reads a pid with strtoul(.., 0): "012" is 10, "0x1f" 31; not guessed at)


_LOADER_VALUES = ("--library-path", "--inhibit-rpath", "--audit", "--preload", "--argv0", "--glibc-hwcaps-prepend",
                  "--glibc-hwcaps-mask")


def _past_the_loader(args: list[str]) -> list[str]:
    """gdb's own arguments, its name first: gdb started through the dynamic loader (`ld-linux-x86-64.so.2
    --library-path DIR /path/gdb ...`, as a gdb unpacked from another distribution's packages is, and the
    tests' gdb 16 and 18) has the loader's name and options before them."""
    if not args or not os.path.basename(args[0]).startswith(("ld-linux", "ld.so", "ld-musl")):
        return args
    i = 1
    while i < len(args) and args[i].startswith("--"):
        i += 2 if args[i] in _LOADER_VALUES else 1
    return args[i:]


def _parsed(args: Optional[list[str]]) -> Optional[tuple[dict[str, str], list[str]]]:
    """gdb's options with a value (the last of each; -pid as -p, -core as -c) and its other arguments,
    as gdb's getopt_long_only reads them; None on an option not known here (an abbreviation, say),
    or --args (the rest is the program's command line)."""
    args = _past_the_loader(gdb_arguments() if args is None else args)[1:]
    in_order = "POSIXLY_CORRECT" in os.environ  # getopt then stops at the first other argument
    given: dict[str, str] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if in_order and positional:  # (then even "--" is an argument: a core file's name to gdb)
            positional += args[i:]
            break
        if arg == "--":
            positional += args[i + 1:]
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            i += 1
            continue
        name, equals, value = arg.lstrip("-").partition("=")
        if name in _WITH_VALUE:
            if not equals:
                if i + 1 >= len(args):
                    return None
                value = args[i + 1]
                i += 1
            given[{"pid": "p", "core": "c", "exec": "e", "symbols": "s"}.get(name, name)] = value
        elif name not in _WITHOUT_VALUE or name == "args":
            return None
        i += 1
    return given, positional


def pid_to_attach(args: Optional[list[str]] = None) -> Optional[int]:
    """The PID gdb's command line attaches to: `-p PID` (--pid PID, --pid=PID), or `gdb PROGRAM PID`,
    whose second argument gdb tries as a pid first when it starts with a digit (no -p or -c given).
    Loaded from ~/.gdbinit or -ix, gdb-memleak can prepare while the target still runs.  None
    rather than a wrong guess.  `args`: gdb's arguments, its own name first (by default, this process's)."""
    parsed = _parsed(args)
    if parsed is None:
        return None
    given, positional = parsed
    if "p" in given and "c" in given:
        return None  # gdb refuses both
    value = given["p"] if "p" in given else (positional[1] if "c" not in given and len(positional) >= 2 else None)
    if value is None or not _PID.fullmatch(value) or not value.isascii():
        return None
    return int(value)


def names_a_program(args: Optional[list[str]] = None) -> bool:
    """gdb's command line names a program file (`gdb PROGRAM ...`, -e, -se, -s): gdb loads it after
    ~/.gdbinit and -ix, and a `file` of ours before would make gdb ask whether to load the new one.
    True when it cannot tell."""
    parsed = _parsed(args)
    if parsed is None:
        return True
    given, positional = parsed
    return bool(positional) or any(k in given for k in ("e", "se", "s"))
