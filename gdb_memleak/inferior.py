"""Facts about the inferior: is it there, live or a core, which Python, what /proc says.

Nothing here runs code in the target; it reads gdb's state, symbols and /proc.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional

import gdb

_VERSION_IN_NAME = re.compile(r"(?:lib)?python(\d)\.(\d+)")


def selected_inferior() -> gdb.Inferior:
    """The inferior to work on, or a gdb error saying what to do first."""
    inferior = gdb.selected_inferior()
    if inferior is None or inferior.pid == 0 or not inferior.threads():
        raise gdb.GdbError("no process: attach to one (attach PID, or gdb -p PID) or load a core file")
    return inferior


def is_core(inferior: gdb.Inferior) -> bool:
    connection = getattr(inferior, "connection", None)
    return connection is not None and connection.type == "core"


def require_live_stopped(command: str) -> gdb.Inferior:
    """A live process that gdb has stopped: what injecting needs."""
    inferior = selected_inferior()
    if is_core(inferior):
        raise gdb.GdbError(
            "%s needs a live process: a core file holds no interpreter to run in (py-memtop works on cores)" % command
        )
    if any(t.is_running() for t in inferior.threads()):
        raise gdb.GdbError("%s: the target is running; interrupt it first (Ctrl-C or 'interrupt')" % command)
    return inferior


def minimal_symbol_address(name: str) -> Optional[int]:
    """Address of an exported function, with or without debug info."""
    try:
        return int(gdb.parse_and_eval("(long)&%s" % name))
    except gdb.error:
        return None


def python_version() -> Optional[tuple[int, int]]:
    """The target's CPython version (major, minor), from its binaries' names or Py_Version."""
    for objfile in gdb.objfiles():
        name = os.path.basename(objfile.filename or "")
        match = _VERSION_IN_NAME.match(name)
        if match:
            return int(match.group(1)), int(match.group(2))
    try:  # 3.11+ exports the version as a number, e.g. 0x030b07f0
        hexversion = int(gdb.parse_and_eval("*(unsigned long *)&Py_Version"))
        return (hexversion >> 24) & 0xFF, (hexversion >> 16) & 0xFF
    except gdb.error:
        return None


def require_python(command: str) -> tuple[int, int]:
    if minimal_symbol_address("Py_AddPendingCall") is None:
        exe = gdb.current_progspace().filename or "the inferior"
        raise gdb.GdbError("%s: %s is not a CPython process (no Py_AddPendingCall symbol)" % (command, exe))
    version = python_version()
    if version is None:
        raise gdb.GdbError("%s: cannot tell which CPython version the target runs" % command)
    return version


@dataclass
class ThreadProc:
    tid: int
    name: str
    state: str
    cpu_seconds: float


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, VmSize, VmSwap in bytes, from /proc/PID/status ({} if unreadable)."""
    text = _read("/proc/%d/status" % pid) or ""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Vm") and value.strip().endswith("kB"):
            out[key] = int(value.split()[0]) * 1024
    return out


def mem_total() -> int:
    text = _read("/proc/meminfo") or ""
    match = re.search(r"^MemTotal:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) * 1024 if match else 0


def thread_proc(pid: int, tid: int) -> Optional[ThreadProc]:
    """Name, state and CPU time of one thread, from /proc/PID/task/TID/stat."""
    stat = _read("/proc/%d/task/%d/stat" % (pid, tid))
    if not stat:
        return None
    # comm is in parentheses and may itself contain ') '; split at the last one.
    head, _, rest = stat.rpartition(")")
    name = head.partition("(")[2]
    fields = rest.split()
    ticks = os.sysconf("SC_CLK_TCK")
    return ThreadProc(tid, name, fields[0], (int(fields[11]) + int(fields[12])) / ticks)


def top_processes(limit: int) -> list[dict]:
    """The machine's processes by resident memory, as ps --sort=-rss would list them."""
    total = mem_total() or 1
    rows = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        status = proc_status(int(entry))
        if "VmRSS" not in status:
            continue
        cmdline = (_read("/proc/%s/cmdline" % entry) or "").replace("\0", " ").strip()
        comm = (_read("/proc/%s/comm" % entry) or "").strip()
        rows.append(
            {
                "pid": int(entry),
                "rss": status["VmRSS"],
                "mem_percent": round(100.0 * status["VmRSS"] / total, 1),
                "command": cmdline or "[%s]" % comm,
            }
        )
    rows.sort(key=lambda r: r["rss"], reverse=True)
    return rows[:limit]
