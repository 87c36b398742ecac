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


def read_small_file(path: str) -> Optional[str]:
    """A small file's text (/proc), read without a text stream: py-memtop reads one per thread
    and three per process while the target is stopped."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = [os.read(fd, 65536)]
        while chunks[-1]:
            chunks.append(os.read(fd, 65536))
        return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, VmSize, VmSwap, RssAnon, RssFile ... in bytes, from /proc/PID/status ({} if unreadable)."""
    text = read_small_file("/proc/%d/status" % pid) or ""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith(("Vm", "Rss")) and value.strip().endswith("kB"):
            out[key] = int(value.split()[0]) * 1024
    return out


def tracer_seen_by(pid: int) -> int:
    """The pid of PID's tracer as PID reads it in its own /proc/self/status; 0 when that is not known
    here: PID in another PID namespace (where gdb may not be visible at all), or nothing readable."""
    try:
        if os.readlink("/proc/self/ns/pid") != os.readlink("/proc/%d/ns/pid" % pid):
            return 0
    except OSError:
        return 0
    found = re.search(r"^TracerPid:\s*(\d+)", read_small_file("/proc/%d/status" % pid) or "", re.M)
    return int(found.group(1)) if found else 0


def start_time(pid: int) -> int:
    """When the process started (clock ticks after boot, /proc/PID/stat's 22nd field): with the pid, it
    names one process, as a reused pid does not; 0 if unreadable."""
    fields = (read_small_file("/proc/%d/stat" % pid) or "").rpartition(")")[2].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return 0


def mapping_identity(pid: int, address: int) -> Optional[str]:
    """What `address` of process `pid` maps, as "INODE@OFFSET" (the file's inode, 0 for anonymous
    memory, and the address's offset in it): another after an exec.  None where nothing maps it."""
    for line in (read_small_file("/proc/%d/maps" % pid) or "").splitlines():
        fields = line.split()
        if len(fields) < 5 or "-" not in fields[0]:
            continue
        low, high = (int(x, 16) for x in fields[0].split("-", 1))
        if low <= address < high:
            return "%s@%d" % (fields[4], address - low + int(fields[2], 16))
    return None


def stopped_processes() -> dict[int, int]:
    """Every process in a group stop (state T), pid -> start time: 1 ms for 70 processes here (2026-12-06)."""
    found: dict[int, int] = {}
    try:
        entries = [entry.name for entry in os.scandir("/proc") if entry.name.isdigit()]
    except OSError:
        return found
    for name in entries:
        fields = (read_small_file("/proc/%s/stat" % name) or "").rpartition(")")[2].split()
        if len(fields) > 19 and fields[0] == "T" and fields[19].isdigit():
            found[int(name)] = int(fields[19])
    return found


def stop_state(pid: int) -> tuple[bool, bool]:
    """(the process is in a group stop (state T) or a SIGSTOP waits in its pending sets or one of its
    threads', a SIGINT waits there); (False, False) if it cannot be read.  A tracer's attach sends each
    thread a SIGSTOP, and gdb interrupting an attach (its quit) sends SIGINT: both stay pending when the
    tracer goes before taking them."""
    stopped = interrupted = False
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        tids = []
    for path in ["/proc/%d/status" % pid] + ["/proc/%d/task/%s/status" % (pid, tid) for tid in tids]:
        fields = {}
        for line in (read_small_file(path) or "").splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        try:
            pending = int(fields.get("ShdPnd", "0"), 16) | int(fields.get("SigPnd", "0"), 16)
        except ValueError:
            pending = 0
        stopped = stopped or fields.get("State", "").startswith("T") or bool(pending & (1 << (19 - 1)))  # SIGSTOP: 19
        interrupted = interrupted or bool(pending & (1 << (2 - 1)))  # SIGINT: 2
    return stopped, interrupted


def namespace_tids(pid: int, tids: list[int]) -> dict[int, int]:
    """Each thread's tid in its own (innermost) PID namespace -> its tid here: what CPython keeps
    as a thread's native id, in a container, and what gdb calls it (NSpid in /proc/PID/task/TID/status)."""
    found = {}
    for tid in tids:
        for line in (read_small_file("/proc/%d/task/%d/status" % (pid, tid)) or "").splitlines():
            if line.startswith("NSpid:") and line.split()[-1].isdigit():
                found[int(line.split()[-1])] = tid
    return found


def mem_total() -> int:
    text = read_small_file("/proc/meminfo") or ""
    match = re.search(r"^MemTotal:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) * 1024 if match else 0


def thread_proc(pid: int, tid: int) -> Optional[ThreadProc]:
    """Name, state and CPU time of one thread, from /proc/PID/task/TID/stat."""
    stat = read_small_file("/proc/%d/task/%d/stat" % (pid, tid))
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
    sizes = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        status = proc_status(int(entry))
        if "VmRSS" in status:
            sizes.append((status["VmRSS"], int(entry)))
    sizes.sort(key=lambda r: r[0], reverse=True)
    shown = sizes[:limit]
    if include is not None and all(pid != include for _, pid in shown):
        shown += [r for r in sizes if r[1] == include]
    rows = []
    for rss, pid in shown:  # the command lines of the processes shown only
        cmdline = (read_small_file("/proc/%d/cmdline" % pid) or "").replace("\0", " ").strip()
        comm = (read_small_file("/proc/%d/comm" % pid) or "").strip()
        rows.append({"pid": pid, "rss": rss, "mem_percent": round(100.0 * rss / total, 1), "command": cmdline or "[%s]" % comm})
    return rows


def memory_beside_python(pid: int, python_bytes: int) -> Optional[dict[str, int]]:
    """The target's resident memory beside what its Python objects hold (issue 14: a ctypes
    leak grew RSS 22 -> 255 MB with the heap at 6.4 MiB, and nothing said so); None if /proc
    does not say."""
    status = proc_status(pid)
    if "VmRSS" not in status or "RssAnon" not in status:
        return None
    return {"rss": status["VmRSS"], "anonymous": status["RssAnon"],
            "outside_python": max(0, status["RssAnon"] - python_bytes)}
