"""Fault matrix, condition 8: payloads that raise or answer hugely, target objects that fight back.

The target (tests/targets/hostile_objects.py) holds objects whose __repr__,
__sizeof__, __getattribute__, __getattr__, properties, __class__, __hash__ and
__eq__ raise, loop forever or return 50 MB, a metaclass doing the same to its
classes, and names, strings and a module file name with terminal escape
sequences.  Its traps are armed before "ready" and its heartbeat counts the
ones that went off and checksums its data.  Every command must answer (or fail
in one line) quickly, print no raw escape byte and no traceback, set off no
trap, and leave the target running with the same checksum.
"""

import json
import time

import pytest
from support.gdb import assert_no_traceback, run_gdb
from support.heartbeat import hostile_state
from support.interpreters import INTERPRETERS, PYTHON_311
from support.png import is_png
from support.targets import HOSTILE

ESC, OSC = "\x1b[31m", "\x1b]0;pwned\x07"
EVIL_MODULE = "evil%smod%s" % (ESC, OSC)
EVIL_CLASS = "Evil%sName%s" % (ESC, OSC)
EVIL_KIND = EVIL_MODULE + "." + EVIL_CLASS
ESC_GLOBAL = "esc%sglobal%s" % (ESC, OSC)
EVIL_FILE = "evil%sfile%s.py" % (ESC, OSC)
QUICK = 90  # seconds a whole gdb session may take here (a hang would take forever)


def shown(text: str) -> str:
    """How gdb-memleak prints target text: control characters as \\xNN."""
    return text.replace("\x1b", "\\x1b").replace("\x07", "\\x07")


def start_hostile(start_target, python, tmp_path):
    module_dir = tmp_path / "evil-module"
    module_dir.mkdir()
    target = start_target(python, HOSTILE, str(module_dir))
    checksum, traps = hostile_state(target)
    assert traps == 0
    return target, checksum


def assert_unharmed(target, checksum: str) -> None:
    after, traps = hostile_state(target)
    assert traps == 0, "the target's own code ran: %s" % target.ticks()[-1]
    assert after == checksum


def assert_clean_output(run) -> None:
    assert_no_traceback(run)
    assert "\x1b" not in run.stdout + run.stderr
    assert "\x07" not in run.stdout + run.stderr


def timed_gdb(*commands, **kwargs):
    started = time.monotonic()
    run = run_gdb(*commands, timeout=QUICK + 60, **kwargs)
    assert time.monotonic() - started < QUICK, "gdb took %.0f s" % (time.monotonic() - started)
    return run


@pytest.mark.parametrize("python", INTERPRETERS)
def test_heap_census_runs_no_target_code_and_escapes_names(start_target, python, tmp_path):
    target, checksum = start_hostile(start_target, python, tmp_path)
    run = timed_gdb("py-heap --top 400 --largest 6", "py-heap --json --top 400 --largest 6", pid=target.pid)
    assert_clean_output(run)
    # Text: the hostile kinds, each name escaped.
    assert shown(EVIL_KIND) in run.stdout
    for kind in ("__main__.SizeofLoops", "__main__.SizeofRaises", "__main__.AttrTraps", "__main__.Guarded",
                 "__main__.ReprLoops", "__main__.ReprRaises", "__main__.ReprHuge", "__main__.KeyTraps"):
        assert kind in run.stdout, kind
    assert "__main__." + shown(ESC_GLOBAL) in run.stdout  # the path to the escaped string
    assert shown(EVIL_MODULE) + ".BLOB" in run.stdout
    assert "[<__main__.KeyTraps key>]" in run.stdout  # a dict key labelled by its type, not its repr
    # JSON: the raw names, JSON-escaped on the wire.
    line = next(l for l in run.stdout.splitlines() if l.startswith("{"))
    assert "\\u001b" in line
    doc = json.loads(line)
    kinds = {row["kind"]: row for row in doc["rows"]}
    assert EVIL_KIND in kinds and kinds[EVIL_KIND]["count"] >= 600
    # The global dict HOLDER retains most of them; the largest inside it are named too.  (Under
    # load the walk's time can run out first: its figure is then a lower bound.)
    holder = next(o for o in doc["largest"] if o["path"] == "__main__.HOLDER")
    # Its 8 MB bytes value included.  CI saw 16 MB (2026-12-03, twice): the target's checksum()
    # frame, listed by the census and returned meanwhile, was held by the payload alone with its
    # dict view of HOLDER["keyed"] until the end; now let go of before the retained walk
    # (test_heap.py::test_a_frame_that_returns_during_the_census_owns_nothing_measured).
    assert holder["retained"] > 24_000_000 or not holder["retained_complete"], (holder, doc["largest"])
    largest = sorted(doc["largest"] + [i for o in doc["largest"] for i in o["inside"]], key=lambda o: -o["size"])
    # SizeofLoops.__sizeof__ never returns: its size is list's own, 2,000,000 slots.
    assert largest[0]["type"] == "__main__.SizeofLoops"
    assert 16_000_000 <= largest[0]["size"] < 16_100_000
    assert largest[0]["repr"].startswith("<__main__.SizeofLoops object at 0x")
    by_path = {o["path"]: o for o in largest}
    assert "__main__." + ESC_GLOBAL in by_path
    assert by_path["__main__." + ESC_GLOBAL]["repr"].startswith(repr(ESC)[:-1])  # repr of a slice: escaped
    assert EVIL_MODULE + ".BLOB" in by_path
    assert all(len(o["repr"]) <= 120 for o in largest)
    assert_unharmed(target, checksum)


def test_guppy_backend_is_refused_where_it_would_run_target_code(start_target, tmp_path):
    target, checksum = start_hostile(start_target, PYTHON_311, tmp_path)
    run = timed_gdb("py-heap --backend guppy", "py-heap --backend guppy --json --largest 2", pid=target.pid)
    assert_clean_output(run)
    errors = [l for l in run.stderr.splitlines() if l.startswith("py-heap:")]
    assert len(errors) == 2, run.stderr
    for error in errors:
        assert "--backend guppy refused: guppy would run the target's own code (" in error
        assert "__sizeof__" in error and "use --backend census" in error
    assert not run.stdout.strip().startswith("{")
    assert_unharmed(target, checksum)
    # Refused before guppy was imported: nothing of it stays in the target.
    assert " guppy=0 " in target.wait_for_ticks(1)[-1], target.ticks()[-1]


@pytest.mark.parametrize("python", INTERPRETERS)
def test_cycles_and_graph_run_no_target_code_and_escape_names(start_target, python, tmp_path):
    target, checksum = start_hostile(start_target, python, tmp_path)
    graph = tmp_path / "hostile.png"
    run = timed_gdb("py-cycles --top 20 --graph %s" % graph, "py-cycles --json --top 20", pid=target.pid)
    assert_clean_output(run)
    text = run.stdout
    assert "live only in reference cycles" in text
    assert shown(EVIL_CLASS) + ".partner -> " + shown(EVIL_CLASS) in text
    for path in ("AttrTraps.other -> AttrTraps", "Guarded.other -> Guarded", "ReprLoops.me -> list[0] -> ReprLoops",
                 "SizeofRaises.table -> dict[<__main__.KeyTraps key>] -> SizeofRaises"):
        assert path in text, path
    doc = next(json.loads(l) for l in run.stdout.splitlines() if l.startswith("{"))
    groups = {" ".join(g["types"]): g for g in doc["cycles"]}
    assert any(EVIL_KIND in names and g["count"] >= 300 for names, g in groups.items())
    assert any("__main__.Guarded" in names and g["count"] >= 200 for names, g in groups.items())
    # The picture and its dot source: labels escaped, no raw control bytes.
    assert is_png(graph)
    dot = (tmp_path / "hostile.dot").read_text(encoding="utf-8")
    assert dot.lstrip().startswith("digraph")
    assert "\x1b" not in dot and "\x07" not in dot
    assert "Evil\\\\x1b[31mName" in dot
    assert_unharmed(target, checksum)


@pytest.mark.parametrize("python", INTERPRETERS)
def test_memtop_escapes_the_module_file_name(start_target, python, tmp_path):
    target, checksum = start_hostile(start_target, python, tmp_path)
    run = timed_gdb("py-memtop", "py-memtop --json", pid=target.pid)
    assert_clean_output(run)
    assert shown(EVIL_FILE) + ":" in run.stdout  # a thread sleeps in the evil module for good
    doc = next(json.loads(l) for l in run.stdout.splitlines() if l.startswith("{"))
    assert any(f["file"].endswith(EVIL_FILE) for t in doc["threads"] for f in t["frames"])
    assert_unharmed(target, checksum)


# Payloads handed to the injector's test entry point, run_source.
PAYLOAD_SCRIPT = r'''
python
import gdb
from gdb_memleak.inject import session as injector
from gdb_memleak.render import text as render
from gdb_memleak.commands.base import MemleakCommand
from gdb_memleak.errors import MemleakError
from gdb_memleak.gdbside.invocation import Invocation

SOURCES = {
    "raises": "def gdb_memleak_payload(args):\n    raise ValueError('boom \\x1b[31mred\\x1b]0;pwned\\x07 from the payload')\n",
    "long-message": "def gdb_memleak_payload(args):\n    raise RuntimeError('z' * 5000000)\n",
    "huge": "def gdb_memleak_payload(args):\n    return {'big': 'y' * (24 << 20)}\n",
    "fine": "def gdb_memleak_payload(args):\n    return {'answer': 42}\n",
}


class RunSource(MemleakCommand):
    """A command like py-heap whose payload is one of SOURCES."""

    name = "py-memleak-test-source"

    def build_parser(self):
        parser = self.new_parser("run a test payload")
        parser.add_argument("which", choices=sorted(SOURCES))
        self.add_timeout(parser)
        return parser

    def run(self, inv, args):
        result = injector.run_source(inv, SOURCES[args.which], {}).result
        self.out("RESULT %s" % ", ".join("%s=%d chars" % (k, len(str(v))) for k, v in sorted(result.items())))


RunSource()

try:
    injector.run_source(Invocation("raw-call", 30), SOURCES["raises"], {})
    gdb.write("RAW no error\n")
except MemleakError as e:
    gdb.write("RAW-FIRST-LINE %s\n" % render.escape(str(e).splitlines()[0]))
end
'''


def test_payload_exceptions_and_huge_answers_are_one_line(start_target, tmp_path):
    target, checksum = start_hostile(start_target, PYTHON_311, tmp_path)
    script = tmp_path / "payloads.gdb"
    script.write_text(PAYLOAD_SCRIPT)
    run = timed_gdb(
        "source %s" % script,
        "py-memleak-test-source raises",
        "py-memleak-test-source long-message",
        "py-memleak-test-source huge",
        "py-memleak-test-source fine",
        pid=target.pid,
    )
    assert_clean_output(run)
    # What the injector raises: its first line names the exception and its message.
    assert "RAW-FIRST-LINE the payload raised in the target: ValueError: boom" in run.stdout
    errors = [l for l in run.stderr.splitlines() if l.startswith("py-memleak-test-source:")]
    # A command shows one line per failure: the exception, escaped, and where it was raised.
    raised = [l for l in errors if "boom" in l]
    assert len(raised) == 1
    assert raised[0].startswith(
        "py-memleak-test-source: the payload raised in the target: ValueError: boom \\x1b[31mred\\x1b]0;pwned\\x07 from the payload"
    )
    assert "(raised in gdb_memleak_payload, line 2 of the payload)" in raised[0]
    long = [l for l in errors if "RuntimeError: zzz" in l]
    assert len(long) == 1 and len(long[0]) <= 1000 and long[0].endswith("...")
    # A 24 MiB answer: either it arrives whole, or it is refused in one line.
    huge = [l for l in run.stdout.splitlines() if l.startswith("RESULT big=")]
    huge_errors = [l for l in errors if l not in raised + long]
    assert len(errors) == len(raised) + len(long) + len(huge_errors) <= 3
    assert huge == ["RESULT big=%d chars" % (24 << 20)] or len(huge_errors) == 1, run.stdout + run.stderr
    assert "RESULT answer=2 chars" in run.stdout  # gdb and the target still work afterwards
    assert_unharmed(target, checksum)
