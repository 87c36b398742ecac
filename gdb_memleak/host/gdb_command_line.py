"""gdb's own command line (/proc/self/cmdline), read by the plugin as it loads, inside gdb: the pid it
attaches to, and the first `-ex` command.  Pure: no gdb."""

from __future__ import annotations

from typing import Optional


def gdb_arguments() -> list[str]:
    try:
        with open("/proc/self/cmdline", "rb") as f:
            return f.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return []


def first_command() -> str:
    """The first command gdb's command line gives with -ex (or --eval-command), "" if none."""
    args = gdb_arguments()
    for i, arg in enumerate(args[:-1]):
        if arg in ("-ex", "--ex", "-eval-command", "--eval-command"):
            return args[i + 1].strip()
        if arg.startswith(("--eval-command=", "-eval-command=")):
            return arg.split("=", 1)[1].strip()
    return ""


# gdb's options (gdb/main.c, 13-18), by whether they take a value; getopt_long_only: one dash or two.
_WITH_VALUE = frozenset((
    "annotate", "se", "symbols", "s", "exec", "e", "core", "c", "pid", "p", "command", "x", "eval-command", "ex",
    "init-command", "ix", "init-eval-command", "iex", "early-init-command", "eix", "early-init-eval-command",
    "eiex", "ui", "interpreter", "i", "directory", "d", "data-directory", "D", "cd", "tty", "baud", "b", "l"))
_WITHOUT_VALUE = frozenset((
    "tui", "dbx", "readnow", "readnever", "r", "quiet", "q", "silent", "nh", "nx", "n", "batch", "batch-silent",
    "fullname", "f", "help", "h", "version", "v", "return-child-result", "configuration", "nw", "w", "write",
    "windows", "nowindows", "statistics", "args"))


def pid_to_attach(args: Optional[list[str]] = None) -> Optional[int]:
    """The PID gdb's command line attaches to when gdb has not attached yet: `-p PID` (--pid PID,
    --pid=PID), or `gdb PROGRAM PID`, whose second argument gdb tries as a pid first when it starts
    with a digit (and no -p or -c is given).  Loaded from ~/.gdbinit or -ix, gdb-memleak can prepare
    while the target still runs.  None on an option it does not know (an abbreviation, say), rather
    than a wrong guess.  `args`: gdb's arguments, its own name first (by default, this process's)."""
    args = [arg for arg in (gdb_arguments() if args is None else args)[1:] if arg]
    given: dict[str, str] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            positional += args[i + 1:]
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            i += 1
            continue
        name, equals, value = arg.lstrip("-").partition("=")
        if name in ("args",):
            return None  # the rest is the program's command line: `gdb --args app -p 8000`
        if name in _WITH_VALUE:
            if not equals:
                if i + 1 >= len(args):
                    return None
                value = args[i + 1]
                i += 1
            given[{"pid": "p", "core": "c"}.get(name, name)] = value  # (gdb keeps the last)
        elif name not in _WITHOUT_VALUE:
            return None
        i += 1
    if "p" in given:
        value = given["p"]
    elif "c" not in given and len(positional) >= 2 and positional[1][:1].isdigit():
        value = positional[1]
    else:
        return None
    return int(value) if value.isdigit() else None
