"""Security (issue 3): no files in shared temporary directories, no sockets, nothing
world-writable; payload text and arguments reach the target intact, with no shell
and no evaluation on the gdb side."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from support.gdb import assert_no_traceback, run_gdb, run_source_script
from support.interpreters import PYTHON_311
from support.targets import SEED_CYCLES, SERVICE

SHARED_TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


def shared_temp_entries() -> set[str]:
    entries = set()
    for directory in SHARED_TEMP_DIRS:
        if os.path.isdir(directory):
            entries.update(os.path.join(directory, name) for name in os.listdir(directory))
    return entries


def open_sockets(pid: int) -> set[str]:
    fd_dir = "/proc/%d/fd" % pid
    links = set()
    for name in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue
        if link.startswith("socket:"):
            links.add(link)
    return links


def test_commands_leave_no_shared_temp_files_no_sockets_nothing_world_writable(start_target, tmp_path):
    target = start_target(PYTHON_311, SEED_CYCLES, "300")  # has cycles, so --graph draws
    temp_before = shared_temp_entries()
    sockets_before = open_sockets(target.pid)
    graph = tmp_path / "cycles.png"
    run = run_gdb("py-memtop", "py-heap --largest 2", "py-cycles --graph %s" % graph, pid=target.pid, timeout=120)
    assert_no_traceback(run)
    assert graph.exists()
    # Other tests may run meanwhile: only entries that name our target or gdb-memleak count.
    new = {p for p in shared_temp_entries() - temp_before if "memleak" in p or str(target.pid) in p}
    assert not new, new
    assert open_sockets(target.pid) == sockets_before
    for path in tmp_path.iterdir():
        assert not os.stat(path).st_mode & stat.S_IWOTH, path


# Quotes of every kind, backslashes, a would-be shell command, non-ASCII text
# (BMP and beyond), and Python that would run if anything evaluated the text.
AWKWARD = 'it\'s "quoted" \\ back\\slash \\n not-a-newline $(touch /tmp/pwned) `id` ; é ü 漢字 😀 \t tab \x7f \x1b[31m __import__("os")'

ECHO_PAYLOAD = '''
# Comment with the same text: %s
def gdb_memleak_payload(args):
    here = %s
    return {"arg": args["text"], "literal": here, "same": args["text"] == here, "list": args["list"]}
'''


def test_payload_text_and_arguments_reach_the_target_intact(start_target, tmp_path):
    target = start_target(PYTHON_311, SERVICE, "event")
    payload = ECHO_PAYLOAD % (AWKWARD.replace("\n", " "), "u" + ascii(AWKWARD))
    script = run_source_script(tmp_path, payload, {"text": AWKWARD, "list": [1, -2, 3.5, None, True, AWKWARD]})
    run = run_gdb("source %s" % script, pid=target.pid)
    assert_no_traceback(run)
    line = next(l for l in run.stdout.splitlines() if l.startswith(("RESULT ", "ERROR ")))
    assert line.startswith("RESULT "), line
    result = json.loads(line[len("RESULT "):])
    assert result["arg"] == AWKWARD
    assert result["literal"] == AWKWARD
    assert result["same"] is True
    assert result["list"] == [1, -2, 3.5, None, True, AWKWARD]
    assert not Path("/tmp/pwned").exists()
    assert target.alive()
