"""Run gdb in batch mode against a pid (or on a core file) with the plugin loaded, and collect the three JSON documents."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from typing import Callable, Optional

from .. import __version__
from ..host import corenotes
from ..host.images import same_root
from ..host.memimage import CoreFileError
from ..render import html
from .gdbinit import gdb_load_command

COMMANDS = ("py-memtop", "py-heap", "py-cycles")
GRAPH_NAME = "cycles.svg"
GRAPH_FILES = (GRAPH_NAME, "cycles.dot")  # what py-cycles --graph writes in DIR; report.json and .html are rewritten
LARGEST = 5
REPORT_VERSION = 1
GDB_TIMEOUT = 900  # seconds for the whole batch run, plus any --watch window and each command's --timeout


class ReportError(Exception):
    """A one-line reason the report cannot be made."""


def find_gdb() -> str:
    """$GDB if set (a path or a name on PATH), else gdb on PATH."""
    wanted = os.environ.get("GDB") or "gdb"
    found = shutil.which(wanted)
    if not found:
        raise ReportError("gdb not found (%s); install it (apt install gdb) or set GDB=/path/to/gdb" % (
            "GDB=%s is not an executable" % wanted if os.environ.get("GDB") else "no gdb on PATH"))
    return found


def check_pid(pid: int) -> None:
    if pid <= 0 or not os.path.exists("/proc/%d" % pid):
        raise ReportError("no such process: %d" % pid)
    try:
        with open("/proc/%d/status" % pid) as f:
            state = next((line.split()[1] for line in f if line.startswith("State:")), "")
    except OSError:
        raise ReportError("no such process: %d" % pid) from None
    if state == "Z":
        raise ReportError("process %d is a zombie (it has exited)" % pid)


def root_options(pid: int) -> list[str]:
    """For a target in another root (chroot, container): read its files, not the host's.

    Without these gdb reads the host's libc for a target with its own, and the plugin
    has to switch gdb over after attaching; with them gdb reads the right files at once."""
    if same_root(pid):
        return []
    return ["-iex", "set sysroot /proc/%d/root" % pid, "-iex", "file /proc/%d/exe" % pid]


def commands(graph_path: str, watch: Optional[float], timeout: Optional[float] = None) -> list[str]:
    wait = " --timeout %g" % timeout if timeout else ""
    memtop = "py-memtop --json" + wait + (" --watch %g" % watch if watch else "")
    return [memtop, "py-heap --json --largest %d%s" % (LARGEST, wait), "py-cycles --json%s --graph %s" % (wait, _quote(graph_path))]


def _quote(path: str) -> str:
    """A path as one gdb_string_to_argv word."""
    return '"%s"' % path.replace("\\", "\\\\").replace('"', '\\"')


def _failure(pid: int, stderr: str, returncode: int) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    text = "\n".join(lines)
    if "ptrace: Operation not permitted" in text or "Could not attach to process" in text:
        return ("ptrace not permitted: gdb cannot attach to pid %d (another debugger attached, "
                "/proc/sys/kernel/yama/ptrace_scope, or another user's process)" % pid)
    if "ptrace: No such process" in text:
        return "no such process: %d" % pid
    for line in lines:
        if line.startswith(tuple(c + ":" for c in COMMANDS)):
            return line
    return lines[-1] if lines else "gdb exited with status %d and no message" % returncode


def _stopped(pid: int) -> bool:
    """The process is in a group stop (state T), as SIGSTOP leaves it."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] == "T"
    except (OSError, IndexError):
        return False


def run_gdb(argv: list[str], env: dict, timeout: float, pid: Optional[int]) -> subprocess.CompletedProcess:
    """Run gdb to the end; on Ctrl-C, SIGTERM, SIGHUP or the timeout, ask it to quit and wait for it.

    gdb runs in its own session, so the terminal's Ctrl-C reaches only us, and is passed on
    as SIGTERM: gdb then detaches, and the injector leaves the target whole at any instant
    (docs/safety.md).  gdb is never SIGKILLed: subprocess.run did that on Ctrl-C, and a
    killed gdb used to kill the target (issue 17)."""
    was_stopped = pid is None or _stopped(pid)  # a core: no process to put back
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, errors="replace", env=env, start_new_session=True)
    except OSError as e:
        raise ReportError("cannot run %s: %s" % (argv[0], e.strerror or e)) from e
    stopping: list[str] = []

    def stop(signum: int, frame: object) -> None:
        stopping.append(signal.Signals(signum).name)
        proc.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stopping.append("timeout of %d s" % timeout)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        # gdb stopped while attaching leaves its SIGSTOP pending, and the target then stops
        # for good (seen 2026-12-01 with SIGTERM 0.3 s into the attach).  It was running.
        if pid is not None and not was_stopped and _stopped(pid):
            os.kill(pid, signal.SIGCONT)
    if stopping:
        if pid is None:
            raise ReportError("stopped (%s): no report written" % stopping[0])
        raise ReportError("stopped (%s): gdb detached from the target, which goes on unharmed; no report written"
                          % stopping[0])
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def run(pid: Optional[int], out_dir: str, watch: Optional[float], progress: Callable[[str], None],
        gdb: Optional[str] = None, timeout: Optional[float] = None,
        core: Optional[tuple[str, str]] = None, max_stop: Optional[int] = None,
        breakpoints: bool = False) -> tuple[dict, list[str], dict[str, str]]:
    """The documents {"memtop", "heap", "cycles"}, gdb-memleak's notes, and why a command gave no answer.

    `core`: (core file, program) instead of a pid: the commands read it, nothing runs.
    Without memtop there is no report; without heap or cycles (an idle target with no safe point,
    a memory guard), the report is made with what the others gave, saying why."""
    gdb = gdb or find_gdb()
    graph = os.path.join(os.path.abspath(out_dir), GRAPH_NAME)
    # (-iex: the first -ex stays py-memtop, whose reading ahead of the attach needs them so)
    settings = (["max-stop %d" % max_stop] if max_stop is not None else []) + (["breakpoints on"] if breakpoints else [])
    argv = _gdb_argv(gdb, pid, core, settings, progress)
    ran = commands(graph, watch, timeout)
    for command in ran:
        argv += ["-ex", command]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    if watch:
        progress("py-memtop --watch: once a safe point comes, the target runs for %g s with allocation tracing on" % watch)
    proc = run_gdb(argv, env, GDB_TIMEOUT + (watch or 0) + len(ran) * (timeout or 0), pid)
    docs = _documents(proc.stdout)
    failures = {}
    if "memtop" not in docs and watch and _said("py-memtop", proc.stderr):
        # The window failed (no safe point, refused): the memory and the threads without it, from
        # a second gdb that reads them (no window, no payload where the libpython helper reads them).
        failures["growth"] = _said("py-memtop", proc.stderr)
        progress("py-memtop --watch gave no answer: %s; reading the memory and the threads without it"
                 % failures["growth"])
        again = run_gdb(argv[:argv.index("-p") + 2] + ["-ex", commands(graph, None, timeout)[0]], env,
                        GDB_TIMEOUT + (timeout or 0), pid)
        docs["memtop"] = _documents(again.stdout).get("memtop")
        if docs["memtop"] is None:
            proc = again
            del docs["memtop"]
    if "memtop" not in docs:
        raise ReportError(_failure(pid or 0, proc.stderr, proc.returncode))
    for command, kind in zip(COMMANDS[1:], ("heap", "cycles")):
        if kind not in docs:
            failures[kind] = _said(command, proc.stderr) or "no answer (gdb exited with status %d)" % proc.returncode
            docs[kind] = None
    # Each document carries the notes its command made (model/documents.py): nothing scraped from stderr.
    notes = ["%s: %s" % (command, _as_the_report_says(text)) for command, kind in zip(COMMANDS, ("memtop", "heap", "cycles"))
             for text in (docs[kind] or {}).get("notes") or []]
    notes += ["%s gave no answer: %s" % (command, failures[kind])
              for command, kind in (("py-memtop --watch", "growth"), ("py-heap", "heap"), ("py-cycles", "cycles"))
              if kind in failures]
    return docs, notes, failures


def _gdb_argv(gdb: str, pid: Optional[int], core: Optional[tuple[str, str]], settings: list[str],
              progress: Callable[[str], None]) -> list[str]:
    """gdb's command line up to the commands: the plugin, `set py-memleak` settings, the target."""
    # The plugin is loaded with one -iex line: no gdbinit file in a shared temporary directory,
    # and loaded before gdb attaches, while the target still runs (-ex would run it after).
    # gdb-memleak loads the interpreter's libpython helper itself; gdb's own auto-load would only warn.
    argv = [gdb, "-batch", "-nx", "-q", "-iex", "set auto-load python-scripts off", "-iex", gdb_load_command()]
    for setting in settings:
        argv += ["-iex", "set py-memleak " + setting]
    if core is not None:
        progress("reading core file %s of %s with gdb (%s): %s" % (core[0], core[1], gdb, ", ".join(COMMANDS)))
        return argv + [core[1], core[0]]
    assert pid is not None
    check_pid(pid)
    progress("attaching gdb (%s) to pid %d: %s" % (gdb, pid, ", ".join(COMMANDS)))
    if not same_root(pid):
        progress("pid %d runs in another root: gdb reads its files from /proc/%d/root" % (pid, pid))
    return argv + [*root_options(pid), "-p", str(pid)]


def _documents(stdout: str) -> dict:
    """The first memtop, heap and cycles JSON documents gdb printed, by kind."""
    docs: dict = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            kind = doc.get("kind") if isinstance(doc, dict) else None
            if kind in ("memtop", "heap", "cycles") and kind not in docs:
                docs[kind] = doc
    return docs


# gdb's hints for its own settings, as report's options say them.
_GDB_SETTING_HINTS = ((re.compile(r"`set py-memleak max-stop (\d+)` lets \S+ do that by itself"), r"--max-stop \1 lets the report do that"),
                      (re.compile(r"`set py-memleak breakpoints on` allows it"), "--breakpoints allows it"))


def _said(command: str, stderr: str) -> str:
    """The last one-line error `command` gave on stderr, without its prefix ('' if none)."""
    said = [line.strip() for line in stderr.splitlines() if line.startswith(command + ": ")]
    return _as_the_report_says(said[-1][len(command) + 2:]) if said else ""


def _as_the_report_says(text: str) -> str:
    """gdb's hints for its settings, as the report's options."""
    for hint, option in _GDB_SETTING_HINTS:
        text = hint.sub(option, text)
    return text


def core_target(core: str, exe: Optional[str]) -> tuple[str, str]:
    """(core file, program) for `report --core`, both checked: the program from the core's notes when not given."""
    try:
        found = corenotes.program(core)
    except CoreFileError as e:
        raise ReportError(str(e)) from None
    program = exe or found
    if program is None:
        raise ReportError("%s does not say which program made it; give --exe PROGRAM" % core)
    if not os.path.isfile(program):
        raise ReportError("%s was made by %s, which is not here (another machine or container?); give --exe PROGRAM"
                          % (core, program) if not exe else "no such program: %s" % program)
    return os.path.abspath(core), os.path.abspath(program)


def write_report(pid: Optional[int], out_dir: str, watch: Optional[float], progress: Callable[[str], None],
                 timeout: Optional[float] = None, core: Optional[str] = None, exe: Optional[str] = None,
                 max_stop: Optional[int] = None, breakpoints: bool = False) -> dict:
    """Run the three commands once against PID (or read CORE); write OUT/report.json and OUT/report.html."""
    gdb = find_gdb()  # all before DIR is made: a failed report leaves nothing behind
    target = core_target(core, exe) if core is not None else None
    if pid is not None:
        check_pid(pid)
    made = not os.path.isdir(out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise ReportError("cannot make %s: %s" % (out_dir, e.strerror or e)) from e
    try:
        if not os.access(out_dir, os.W_OK):
            raise ReportError("cannot write in %s" % out_dir)
        earlier = _graph_files(out_dir)
        docs, notes, failures = run(pid, out_dir, watch, progress, gdb=gdb, timeout=timeout, core=target, max_stop=max_stop,
                                       breakpoints=breakpoints)
    except BaseException:
        if made:  # the directory this run made, still empty: nothing is left behind
            try:
                os.rmdir(out_dir)
            except OSError:
                pass
        raise
    for note in notes:
        progress(note)
    _remove_unchanged(out_dir, earlier, progress)
    graph_file = os.path.join(out_dir, GRAPH_NAME)
    graph = None
    if docs["cycles"] and docs["cycles"].get("graph") and os.path.isfile(graph_file):
        with open(graph_file, "rb") as f:
            graph = ("image/svg+xml", f.read())
    report = {
        "kind": "report",
        "version": REPORT_VERSION,
        "tool_version": __version__,
        "pid": docs["memtop"]["pid"] if pid is None else pid,
        "core": target[0] if target else None,
        "program": target[1] if target else None,
        "created_at": round(time.time(), 3),
        "watch": watch,
        "timeout": timeout,
        "memtop": docs["memtop"],
        "heap": docs["heap"],
        "cycles": docs["cycles"],
        "graph": GRAPH_NAME if graph else None,
        "failures": failures,
        "notes": notes,
    }
    _write(out_dir, report, graph, progress)
    return report


def _write(out_dir: str, report: dict, graph: Optional[tuple[str, bytes]], progress: Callable[[str], None]) -> None:
    json_path = os.path.join(out_dir, "report.json")
    html_path = os.path.join(out_dir, "report.html")
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(report, f, ensure_ascii=True, indent=1)
        f.write("\n")
    progress("wrote %s" % json_path)
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(html.page(report, graph))
    progress("wrote %s" % html_path)


def _graph_files(out_dir: str) -> dict[str, tuple[int, int]]:
    """The graph files an earlier report left in `out_dir`: name -> (inode, mtime in ns)."""
    found = {}
    for name in GRAPH_FILES:
        try:
            st = os.lstat(os.path.join(out_dir, name))
        except OSError:
            continue
        found[name] = (st.st_ino, st.st_mtime_ns)
    return found


def _remove_unchanged(out_dir: str, earlier: dict[str, tuple[int, int]], progress: Callable[[str], None]) -> None:
    """Remove the earlier report's graph files that this run did not write again (a target without
    cycles now): they would be taken for this report's, whose JSON says "graph": null."""
    for name, identity in earlier.items():
        path = os.path.join(out_dir, name)
        try:
            st = os.lstat(path)
            if (st.st_ino, st.st_mtime_ns) == identity:
                os.unlink(path)
                progress("removed %s, an earlier report's" % path)
        except OSError:
            continue
