"""What /proc says about a process and its threads: memory, names, states, the machine's top processes.

Pure: reads files only, imports nothing of gdb, and works on any pid gdb's user may read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional


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
    """VmRSS, VmHWM, VmSize, VmSwap, RssAnon, RssFile ... in bytes, from /proc/PID/status ({} if unreadable)."""
    text = _read("/proc/%d/status" % pid) or ""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith(("Vm", "Rss")) and value.strip().endswith("kB"):
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


def top_processes(limit: int, include: Optional[int] = None) -> list[dict]:
    """The machine's processes by resident memory, as ps --sort=-rss would list them; the process
    `include` (the target) is listed last when it is not among them, so its line is always there."""
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
    rows.sort(key=lambda r: int(r["rss"]), reverse=True)  # type: ignore[call-overload]
    top = rows[:limit]
    if include is not None and all(r["pid"] != include for r in top):
        top += [r for r in rows if r["pid"] == include]
    return top


def memory_beside_python(pid: int, python_bytes: int) -> Optional[dict[str, int]]:
    """The target's resident memory beside what its Python objects hold (issue 14: a ctypes
    leak grew RSS 22 -> 255 MB with the heap at 6.4 MiB, and nothing said so); None if /proc
    does not say."""
    status = proc_status(pid)
    if "VmRSS" not in status or "RssAnon" not in status:
        return None
    return {"rss": status["VmRSS"], "anonymous": status["RssAnon"],
            "outside_python": max(0, status["RssAnon"] - python_bytes)}
