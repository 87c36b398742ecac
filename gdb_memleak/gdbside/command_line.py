"""gdb's own command line (/proc/self/cmdline), read by the plugin as it loads: the pid of `-p`,
and the first `-ex` command."""

from __future__ import annotations

from typing import Optional

import gdb


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


def pid_to_attach() -> Optional[int]:
    """The PID of `gdb -p PID` (--pid PID, --pid=PID) when gdb has not attached yet: loaded
    from ~/.gdbinit or -ix, gdb-memleak can prepare while the target still runs."""
    if gdb.selected_inferior().pid:
        return None
    args = gdb_arguments()
    for i, arg in enumerate(args):
        if arg in ("--args", "-args"):
            return None  # the rest is the program's command line: `gdb --args app -p 8000`
        value = None
        if arg in ("-p", "-pid", "--pid") and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(("--pid=", "-pid=")):
            value = arg.split("=", 1)[1]
        if value is not None:
            return int(value) if value.isdigit() else None
    return None
