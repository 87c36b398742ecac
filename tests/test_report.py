"""gdb-memleak report (issue 6): one-shot report.json and a self-contained report.html, from the shell."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from support.cli import gdb_memleak_argv, run_gdb_memleak
from support.gdb import gcore, gdb_binary
from support.interpreters import (
    PYTHON_311,
    PYTHON_311_MISSING,
    PYTHON_312,
    PYTHON_312_MISSING,
    PYTHON_NODEBUG,
    PYTHON_NODEBUG_MISSING,
    param,
)
from support.paths import EXAMPLES, REPO
from support.png import is_png
from support.targets import BUSY_WITH_RT_HANDLER, GC_OFF_CLOSURES, HOSTILE, IDLE, PYTHON_ONLY, SEED_CYCLES, Target

from gdb_memleak.model import schemas

CHROMIUM = shutil.which("chromium")


class Page(HTMLParser):
    """What a test needs from report.html: headings, tables, images, scripts, external references."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.tables = 0
        self.images: list[dict] = []
        self.svgs = 0
        self.scripts = 0
        self.external: list[str] = []
        self._heading = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("h1", "h2", "h3"):
            self._heading = ""
        elif tag == "table":
            self.tables += 1
        elif tag == "img":
            self.images.append(attrs)
        elif tag == "svg":
            self.svgs += 1
        elif tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            if attrs.get(name) and not attrs[name].startswith("data:"):
                self.external.append(attrs[name])

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append(self._heading.strip())
            self._heading = None


def decoded_image(attrs: dict) -> tuple[str, bytes]:
    src = attrs["src"]
    assert src.startswith("data:") and ";base64," in src, src[:80]
    mime, _, data = src[len("data:"):].partition(";base64,")
    return mime, base64.b64decode(data, validate=True)


def assert_real_image(mime: str, data: bytes) -> None:
    if mime == "image/png":
        assert is_png(data, larger_than=1000)
    else:
        assert mime == "image/svg+xml"
        root = ET.fromstring(data)
        assert root.tag.endswith("svg")
        assert len(list(root.iter())) > 5


def assert_one_line_failure(run: subprocess.CompletedProcess, reason: str) -> None:
    assert run.returncode != 0
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    lines = run.stderr.splitlines()
    failures = [line for line in lines if line.startswith("gdb-memleak report: ")]
    assert len(failures) == 1 and lines[-1] == failures[0], run.stderr
    assert reason in failures[0], run.stderr
    assert all(line.startswith("gdb-memleak") for line in lines), run.stderr  # progress lines and the reason only


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The seed's two cases, reported once for the module: case 1 (cycles), case 2 with --watch."""
    out = tmp_path_factory.mktemp("reports")
    made = {}
    for case, script, size, extra in (("case1", "seed_cycles.py", "3000", ()), ("case2", "seed_string.py", "5", ("--watch", "1"))):
        target = Target(PYTHON_311, EXAMPLES / script, size)
        try:
            run = run_gdb_memleak("report", str(target.pid), "--out", str(out / case), *extra)
            ticks = target.wait_for_ticks(1)
        finally:
            target.stop()
        made[case] = (run, out / case, ticks)
    return made


@pytest.mark.skipif(bool(PYTHON_311_MISSING), reason=PYTHON_311_MISSING or "present")
def test_report_of_cycles_has_the_tables_and_the_graph(reports):
    run, out, ticks = reports["case1"]
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
    assert "gdb-memleak: wrote %s" % (out / "report.html") in run.stderr
    assert ticks, "the target stopped after the report"
    report = json.loads((out / "report.json").read_text())
    schemas.validator("report").validate(report)
    assert report["version"] == 1 and report["graph"] == "cycles.svg"
    assert any("ObjectA" in g["path"] and "ObjectB" in g["path"] for g in report["cycles"]["cycles"])
    assert len(report["heap"]["largest"]) == 5

    text = (out / "report.html").read_text()
    page = Page(text)
    for heading in ("Threads and their Python code", "Heap by kind", "Objects that keep the most memory alive",
                    "Reference cycles", "Reference graph of the top cycles"):
        assert heading in page.headings, page.headings
    assert any(h.startswith("Memory of process %d" % report["pid"]) for h in page.headings)
    assert page.tables >= 4  # top processes, heap, largest, cycles
    assert page.scripts == 0 and page.external == []
    assert "__main__.ObjectA" in text and "seed_cycles.py" in text
    graphs = [decoded_image(img) for img in page.images]
    assert len(graphs) == 1
    mime, data = graphs[0]
    assert_real_image(mime, data)
    assert b"ObjectA" in data and b"ObjectB" in data


@pytest.mark.skipif(bool(PYTHON_311_MISSING), reason=PYTHON_311_MISSING or "present")
def test_report_with_watch_shows_the_growth_and_the_largest_string(reports):
    run, out, ticks = reports["case2"]
    assert run.returncode == 0, run.stderr
    report = json.loads((out / "report.json").read_text())
    schemas.validator("report").validate(report)
    assert report["watch"] == 1 and report["memtop"]["growth"]["seconds"] > 0.5
    assert report["heap"]["largest"][0]["path"] == "__main__._pure_string"
    page = Page((out / "report.html").read_text())
    assert "What grew while watching" in page.headings
    assert "Top allocation lines (allocated during the window and still alive)" in page.headings
    assert "__main__._pure_string" in (out / "report.html").read_text()
    assert page.scripts == 0 and page.external == []


@pytest.mark.skipif(not CHROMIUM, reason="chromium is not installed (make setup installs it: apt install chromium)")
@pytest.mark.skipif(bool(PYTHON_311_MISSING), reason=PYTHON_311_MISSING or "present")
def test_report_renders_in_headless_chromium(reports, tmp_path):
    _, out, _ = reports["case1"]
    url = (out / "report.html").as_uri()
    argv = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--user-data-dir=%s" % (tmp_path / "profile"), "--window-size=1200,2000"]
    env = dict(os.environ, HOME=str(tmp_path))
    shot = tmp_path / "shot.png"
    proc = subprocess.run(argv + ["--screenshot=%s" % shot, url], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert is_png(data)
    # Not a single colour: decode the PNG's pixels enough to see several distinct rows.
    assert len(set(_png_rows(data))) > 10
    # With logging on, the page's console messages (a blocked resource, a script error) show as CONSOLE lines.
    dom = subprocess.run(argv + ["--enable-logging=stderr", "--v=0", "--dump-dom", url], capture_output=True, text=True,
                         timeout=120, env=env)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert not [line for line in dom.stderr.splitlines() if ":CONSOLE" in line], dom.stderr[-2000:]
    page = Page(dom.stdout)
    assert len(page.images) == 1 and page.images[0]["src"].startswith("data:image/svg+xml;base64,")
    assert "Heap by kind" in page.headings and page.tables >= 4


@pytest.mark.skipif(not CHROMIUM, reason="chromium is not installed (make setup installs it: apt install chromium)")
@pytest.mark.skipif(bool(PYTHON_311_MISSING), reason=PYTHON_311_MISSING or "present")
def test_the_report_s_graph_is_shown_at_its_own_size(start_target, tmp_path):
    """Issue 14: the reference graph was shrunk to the page's width, too small to read. In chromium
    (1200 px wide) it is drawn at its own size in a box that scrolls, with a line saying what the
    red nodes are."""
    target = start_target(PYTHON_311, GC_OFF_CLOSURES, "20", env={"GC_RARE": "1"})  # gc on: objgraph draws
    out = tmp_path / "out"
    run = run_gdb_memleak("report", str(target.pid), "--out", str(out))
    assert run.returncode == 0, run.stderr
    text = (out / "report.html").read_text()
    # The page as it is, plus one script that writes the image's drawn and own widths into the
    # DOM (the page's own policy forbids scripts: that one line is taken out for the measure).
    measured = tmp_path / "measured.html"
    csp = text[text.index('<meta http-equiv="Content-Security-Policy"'):]
    measured.write_text(text.replace(csp[:csp.index(">") + 1], "").replace(
        "</body>", "<script>window.onload = function () { var i = document.images[0]; "
                   "document.body.setAttribute('data-widths', i.width + ' ' + i.naturalWidth); };</script></body>"))
    argv = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--user-data-dir=%s" % (tmp_path / "profile"), "--window-size=1200,2000", "--virtual-time-budget=5000",
            "--dump-dom", measured.as_uri()]
    dom = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=dict(os.environ, HOME=str(tmp_path)))
    assert dom.returncode == 0, dom.stderr[-2000:]
    drawn, own = (int(w) for w in dom.stdout.split('data-widths="')[1].split('"')[0].split())
    assert own > 1200, own  # wider than the window: the case that was shrunk
    assert drawn == own
    assert "Red: the objects in the cycles" in "".join(Parsed_text(text))


def Parsed_text(text: str) -> list[str]:
    """The visible text pieces of an HTML page."""
    class Texts(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.pieces: list[str] = []

        def handle_data(self, data: str) -> None:
            self.pieces.append(data)
    parser = Texts()
    parser.feed(text)
    return parser.pieces


def _png_rows(data: bytes) -> list[bytes]:
    """The raw scanlines of a non-interlaced 8-bit PNG (enough to tell a blank page from a real one)."""
    import struct
    import zlib

    pos, idat, width, channels = 8, b"", 0, 4
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, _, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8, depth
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * channels
    return [raw[i:i + stride] for i in range(0, len(raw), stride)]


@pytest.mark.skipif(bool(PYTHON_311_MISSING), reason=PYTHON_311_MISSING or "present")
def test_a_second_report_in_the_same_directory_removes_the_earlier_graph(start_target, tmp_path):
    """A report of a target without cycles into a DIR that held one with cycles: the old cycles.svg and
    cycles.dot were kept beside a report.json saying "graph": null. Files not ours stay."""
    out = tmp_path / "out"
    cycles = start_target(PYTHON_311, SEED_CYCLES, "200")
    assert run_gdb_memleak("report", str(cycles.pid), "--out", str(out)).returncode == 0
    assert (out / "cycles.svg").is_file() and (out / "cycles.dot").is_file()
    (out / "mine.txt").write_text("the user's")
    idle = start_target(PYTHON_311, IDLE)
    run = run_gdb_memleak("report", str(idle.pid), "--out", str(out))
    assert run.returncode == 0, run.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["pid"] == idle.pid and report["cycles"]["cycles"] == [] and report["graph"] is None
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt", "report.html", "report.json"]
    assert "removed %s, an earlier report's" % (out / "cycles.svg") in run.stderr, run.stderr


def test_report_of_hostile_objects_is_escaped(start_target, tmp_path):
    module_dir = tmp_path / "evil-module"
    module_dir.mkdir()
    target = start_target(PYTHON_311, HOSTILE, str(module_dir))
    run = run_gdb_memleak("report", str(target.pid), "--out", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    text = (tmp_path / "out" / "report.html").read_text()
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[31m" in text  # shown, not obeyed
    assert "<hostile class>" not in text
    page = Page(text)
    assert page.scripts == 0 and page.external == []
    assert "traps=0" in target.wait_for_ticks(1)[-1]


def test_missing_pid_fails_cleanly(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    run = run_gdb_memleak("report", str(gone.pid), "--out", str(tmp_path / "out"))
    assert_one_line_failure(run, "no such process: %d" % gone.pid)
    assert not (tmp_path / "out").exists()


def test_not_python_fails_cleanly(tmp_path):
    sleeper = subprocess.Popen(["sleep", "120"], stdin=subprocess.DEVNULL)
    try:
        run = run_gdb_memleak("report", str(sleeper.pid), "--out", str(tmp_path / "out"))
        assert sleeper.poll() is None, "gdb-memleak killed the process"
    finally:
        sleeper.kill()
        sleeper.wait()
    assert_one_line_failure(run, "is not a CPython process")
    assert not (tmp_path / "out").exists()  # the directory it made is gone too (issue 17 #12)


def test_a_newline_in_the_out_path_stays_on_one_line(start_target, tmp_path):
    """Issue 17 #12: every progress line is one line; the path is shown escaped, and written as given."""
    target = start_target(PYTHON_311, EXAMPLES / "seed_string.py", "2")
    out = tmp_path / "a\nb"
    run = run_gdb_memleak("report", str(target.pid), "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert (out / "report.json").is_file() and (out / "report.html").is_file()
    assert all(line.startswith("gdb-memleak") for line in run.stderr.splitlines() if line.strip()), run.stderr
    assert "wrote %s" % str(out / "report.html").replace("\n", "\\x0a") in run.stderr, run.stderr


def test_a_command_without_a_safe_point_still_gives_a_report(start_target, tmp_path):
    """Issue 14: `report --timeout`; py-heap and py-cycles get no safe point (the only thread is in
    one long C call), and the report is written with what py-memtop gave and the heap and the
    cycles read from memory (issue 16), saying why."""
    target = start_target(PYTHON_311, BUSY_WITH_RT_HANDLER, str(4 * 10**9))
    run = run_gdb_memleak("report", str(target.pid), "--out", str(tmp_path / "out"), "--timeout", "2", "--max-stop", "600000")
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    schemas.validator("report").validate(report)
    assert report["heap"]["backend"] == report["cycles"]["backend"] == "memory" and report["timeout"] == 2
    for kind in ("heap", "cycles"):
        assert any(n.startswith("no safe point within 2 s") and "read from memory instead" in n
                   for n in report[kind]["notes"]), report[kind]["notes"]
    assert report["failures"] == {}
    assert report["memtop"]["threads"][0]["frames"][0]["file"].endswith("busy_with_rt_handler.py")
    page = (tmp_path / "out" / "report.html").read_text()
    assert "py-cycles gave no answer" not in page and "Reference cycles" in page
    assert "py-cycles: no safe point within 2 s" in run.stderr
    assert target.alive()


@pytest.mark.parametrize("python", [param(PYTHON_312, PYTHON_312_MISSING, "pyenv-3.12")])
def test_report_from_a_core_file(start_target, tmp_path, python):
    """Issue 16: `report --core CORE` of the seed's case 1: the program found from the core's notes, the heap and
    the cycles read from memory, the graph drawn, and the parts a core cannot have said to be missing."""
    target = start_target(python, EXAMPLES / "seed_cycles.py", "2000")
    pid = target.pid
    core = gcore(pid, tmp_path)
    target.stop()
    run = run_gdb_memleak("report", "--core", str(core), "--out", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    schemas.validator("report").validate(report)
    assert (report["pid"], report["core"], report["program"]) == (pid, str(core), python)
    assert report["memtop"]["live"] is False and report["memtop"]["rss"] is None
    assert report["heap"]["backend"] == report["cycles"]["backend"] == "memory"
    assert {"__main__.ObjectA", "__main__.ObjectB"} <= {r["kind"] for r in report["heap"]["rows"]}
    assert report["cycles"]["cycles"][0]["path"] == "ObjectA.__attr -> ObjectB.__attr -> ObjectA"
    assert report["cycles"]["cycles"][0]["count"] >= 2000 and report["graph"] == "cycles.svg"
    text = (tmp_path / "out" / "report.html").read_text()
    page = Page(text)
    assert "Memory leak report: process %d, from a core file" % pid in page.headings
    assert "From a core file: a core holds the process's memory, not its resident set" in text
    assert page.scripts == 0 and page.external == []
    mime, data = decoded_image(page.images[0])
    assert_real_image(mime, data)
    assert b"ObjectA" in data
    assert "gdb-memleak: reading core file %s of %s" % (core, python) in run.stderr


def test_report_core_errors_are_one_line(tmp_path):
    """Not a core, a core whose program is not here, and options that need a live process."""
    not_core = tmp_path / "not-a-core"
    not_core.write_bytes(b"\x7fELF" + bytes(60))
    run = run_gdb_memleak("report", "--core", str(not_core), "--out", str(tmp_path / "out"))
    assert_one_line_failure(run, "not-a-core is not a 64-bit little-endian ELF file")
    run = run_gdb_memleak("report", "--core", str(tmp_path / "none"), "--out", str(tmp_path / "out"))
    assert_one_line_failure(run, "cannot read %s" % (tmp_path / "none"))
    run = run_gdb_memleak("report", "--core", str(not_core), "--exe", "/bin/true", "--watch", "1", "--out", str(tmp_path / "out"))
    assert_one_line_failure(run, "--watch, --timeout, --max-stop and --breakpoints need a live process, not a core file")
    run = run_gdb_memleak("report", "--core", str(not_core), "--exe", "/bin/true", "--max-stop", "0", "--out", str(tmp_path / "out"))
    assert_one_line_failure(run, "--watch, --timeout, --max-stop and --breakpoints need a live process, not a core file")
    run = run_gdb_memleak("report", "--core", str(not_core), "--exe", "/bin/true", "--breakpoints", "--out", str(tmp_path / "out"))
    assert_one_line_failure(run, "--watch, --timeout, --max-stop and --breakpoints need a live process, not a core file")
    run = run_gdb_memleak("report", "1", "--core", str(not_core), "--out", str(tmp_path / "out"))
    assert_one_line_failure(run, "give a PID or --core CORE (one of them)")
    run = run_gdb_memleak("report", "--out", str(tmp_path / "out"))
    assert_one_line_failure(run, "give a PID or --core CORE (one of them)")
    assert not (tmp_path / "out").exists()


def test_a_watch_without_a_safe_point_still_gives_a_report(start_target, tmp_path):
    """Issue 14: `report --watch` on a target with no safe point wrote nothing at all; now the
    memory and the threads are there, and the growth section says why it is missing."""
    target = start_target(PYTHON_311, BUSY_WITH_RT_HANDLER, str(4 * 10**9))
    run = run_gdb_memleak("report", str(target.pid), "--out", str(tmp_path / "out"), "--timeout", "2", "--watch", "1")
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    schemas.validator("report").validate(report)
    assert report["memtop"]["pid"] == target.pid and report["memtop"].get("growth") is None
    assert report["memtop"]["threads"][0]["frames"][0]["file"].endswith("busy_with_rt_handler.py")
    assert report["failures"]["growth"].startswith("no safe point within 2 s"), report["failures"]
    # Issue 13: reading the heap from memory would stop the target longer than the default max-stop
    for kind in ("heap", "cycles"):
        assert report[kind] is None and report["failures"][kind].startswith("no safe point within 2 s"), report["failures"]
        assert "--read-only reads its memory instead, stopping the whole process about" in report["failures"][kind]
        # the report's own option, not the gdb setting a report's user cannot type (a user's trial)
        assert re.search(r"--max-stop \d+ lets the report do that", report["failures"][kind]), report["failures"][kind]
        assert "set py-memleak" not in report["failures"][kind]
    page = (tmp_path / "out" / "report.html").read_text()
    assert "py-memtop --watch gave no answer: no safe point within 2 s" in page
    assert "py-memtop --watch gave no answer: no safe point" in run.stderr
    assert target.alive()


@pytest.mark.skipif(bool(PYTHON_NODEBUG_MISSING), reason=PYTHON_NODEBUG_MISSING or "-")
def test_where_only_a_breakpoint_finds_a_safe_point_the_report_says_which_option_allows_it(start_target, tmp_path):
    """Debian's python3.11 has no debug info; its gdb, here copied as "debugger" with no gdb on PATH,
    has nothing to read the eval loop with (test_gdb_dies.py): only the queue point's breakpoint
    could find a safe point.  Without --breakpoints none goes in, and the report says which of its
    options allows one (not the gdb setting its user cannot type); with it, the heap is there."""
    gdb = shutil.which(gdb_binary())
    if gdb is None or not open(gdb, "rb").read(4) == b"\x7fELF":
        pytest.skip("the gdb under test is not an executable of its own (a loader runs it)")
    debugger = shutil.copy(gdb, tmp_path / "debugger")
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "dot").symlink_to(shutil.which("dot"))  # py-cycles --graph's, and no gdb
    target = start_target(PYTHON_NODEBUG, PYTHON_ONLY)
    target.wait_for_ticks(1)
    env = {"GDB": str(debugger), "PATH": str(tools)}
    run = run_gdb_memleak("report", str(target.pid), "--out", str(tmp_path / "off"), "--timeout", "3", extra_env=env)
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "off" / "report.json").read_text())
    for kind in ("heap", "cycles"):
        assert report[kind] is None, report[kind]
        assert "only a breakpoint could find one" in report["failures"][kind], report["failures"]
        assert "--breakpoints allows it" in report["failures"][kind] and "set py-memleak" not in report["failures"][kind]
    assert "set py-memleak" not in run.stderr, run.stderr  # py-memtop's note too
    run = run_gdb_memleak("report", str(target.pid), "--out", str(tmp_path / "on"), "--timeout", "10", "--breakpoints",
                          extra_env=env)
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "on" / "report.json").read_text())
    assert not report["failures"] and report["heap"]["rows"], report["failures"]
    ticks = target.wait_for_ticks(2)
    assert len(ticks) == 2 and all(t.endswith("ok=True") for t in ticks), target.lines[-5:]


TRACEME = """
import ctypes, time
ctypes.CDLL(None, use_errno=True).ptrace(0, 0, None, None)  # PTRACE_TRACEME: the test is now its tracer
print("ready", flush=True)
time.sleep(120)
"""


def test_ptrace_not_permitted_fails_cleanly(tmp_path):
    script = tmp_path / "traced.py"
    script.write_text(TRACEME)
    target = Target(sys.executable, script)
    try:
        run = run_gdb_memleak("report", str(target.pid), "--out", str(tmp_path / "out"))
    finally:
        target.stop()
    assert_one_line_failure(run, "ptrace not permitted: gdb cannot attach to pid %d" % target.pid)


def test_gdb_missing_fails_cleanly(tmp_path):
    run = run_gdb_memleak("report", str(os.getpid()), "--out", str(tmp_path / "out"), extra_env={"GDB": str(tmp_path / "no-gdb")})
    assert_one_line_failure(run, "gdb not found")
    assert not (tmp_path / "out").exists()


@pytest.mark.unit
def test_bad_arguments_are_usage_errors(tmp_path):
    run = run_gdb_memleak("report", "abc", "--out", str(tmp_path))
    assert run.returncode == 2 and "expected a process id" in run.stderr and "Traceback" not in run.stderr
    run = run_gdb_memleak("report", "1", "--out", str(tmp_path), "--watch", "601")
    assert run.returncode == 2 and "expected seconds" in run.stderr


@pytest.mark.unit
def test_gdbinit_is_the_same_as_the_module_s():
    mine = subprocess.run(gdb_memleak_argv() + ["gdbinit"], capture_output=True, text=True, check=True).stdout
    module = subprocess.run([sys.executable, "-m", "gdb_memleak", "gdbinit"], cwd=str(REPO), capture_output=True, text=True, check=True).stdout
    assert mine == module and "gdb_memleak.plugin.load" in mine


@pytest.mark.unit
def test_the_report_side_does_not_import_gdb():
    code = ("import sys, gdb_memleak.cli, gdb_memleak.cli.report, gdb_memleak.render.html, gdb_memleak.model.schemas; "
            "bad = [m for m in sys.modules if m == 'gdb' or m.startswith(('gdb.', 'gdb_memleak.commands', 'gdb_memleak.plugin'))]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], cwd=str(REPO), capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
