"""Renderers without gdb (issue 15): target text cannot inject markup into report.html
nor escape sequences into gdb's text, and the text layouts of each document.

The documents are built here, shaped like the commands' (model/schemas/*.schema.json);
every string a target controls carries markup, quotes, ampersands and control characters.
"""

from __future__ import annotations

import ast
import copy
import re
import subprocess
import sys
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gdb_memleak.render import common, html, text

REPO = Path(__file__).resolve().parents[2]
RENDER = REPO / "gdb_memleak" / "render"

# Markup, attribute breakers, an entity, C0 and C1 controls, ANSI (CSI, OSC retitle), bidi override.
# Controls first: a process's command is cut to its first 60 characters in gdb's text.
HOSTILE = ("\x1b]0;pwned\x07\x1b[2J\x9b31m\u202e\U000e0001\x00\x08\r\n"
           "<script>alert(1)</script><img src=x onerror=alert(2)>\"'><b x='&amp;'>")
STYLES = {"header": "\x1b[1m", "filename": "\x1b[32m", "function": "\x1b[33m"}


def evil(tag: str) -> str:
    return "%s %s" % (tag, HOSTILE)


def memtop_doc(live: bool = True) -> dict:
    return {
        "pid": 4242, "live": live, "rss": 14614528 if live else None, "peak_rss": 15728640 if live else None,
        "vsize": 18010112 if live else None, "swap": 0 if live else None, "mem_percent": 0.1 if live else None,
        "top_processes": [
            {"pid": 99, "rss": 96247808, "mem_percent": 0.4, "command": "/usr/bin/gdb -batch"},
            {"pid": 4242, "rss": 14614528, "mem_percent": 0.1, "command": evil("python3 worker.py")},
        ] if live else [],
        "accounting": {"rss": 14614528, "file_backed": 6291456, "shared_memory": 0, "main_heap": 1048576,
                       "thread_stacks": 131072, "other_anonymous": 7143424, "threads_with_stacks": 2,
                       "largest_anonymous": [{"start": 0x7f0000000000, "size": 67108864, "resident": 6291456}]}
        if live else None,
        "frames_source": "libpython",
        "threads": [
            {"tid": 4242, "num": 1, "name": evil("comm"), "python_name": evil("pyname"), "state": "t" if live else None,
             "cpu_seconds": 0.04 if live else None, "source": "libpython",
             "frames": [{"file": evil("/srv/app.py"), "line": 73, "function": evil("handler")},
                        {"file": "/srv/main.py", "line": None, "function": "<module>"}]},
            {"tid": 4243, "num": 2, "name": "worker", "python_name": None, "state": "S", "cpu_seconds": 1.5,
             "source": "libpython", "frames": []},
        ],
    }


def watch_growth() -> dict:
    return {
        "seconds": 1.001, "started_at": 1796149049.61, "ended_early": True, "rss_before": 19390464,
        "rss_delta": 3661824, "rss_rate": 3658273, "traced": 5442024, "tracemalloc_memory": 12880, "outside_python": 0,
        "tracing_before": False,
        "allocations": [
            {"file": evil("/srv/leak.py"), "line": 38, "function": evil("keep_growing"), "size": 5396209, "count": 1},
            {"file": "/srv/other.py", "line": 7, "function": None, "size": 1024, "count": 3},
        ],
    }


def heap_doc() -> dict:
    return {
        "backend": "census", "note": None, "total_count": 1000, "total_size": 10240, "more_rows": 2,
        "rows": [{"kind": evil("mod.Kind"), "count": 500, "size": 5120}, {"kind": "str", "count": 250, "size": 2560}],
        "largest": [{"type": evil("mod.Big"), "size": 4096, "repr": evil("<Big>"), "path": evil("sys.modules['m'].cache"),
                     "retained": 8192, "retained_objects": 3, "retained_complete": False, "unowned": False,
                     "items": {"kind": evil("mod.Item"), "count": 2},
                     "inside": [{"type": "str", "size": 3000, "repr": evil("'x'"), "path": evil("m.cache.items[0]")}]},
                    {"type": "bytes", "size": 2048, "repr": "b'...'", "path": None, "retained": 2048,
                     "retained_objects": 1, "retained_complete": True, "unowned": False, "items": None,
                     "inside": []}],
    }


def cycles_doc() -> dict:
    group = {"types": [evil("mod.A")], "path": evil("A.__attr -> B.__attr -> A"), "count": 3, "objects": 6, "size": 672}
    return {
        "cycles": [group], "total_objects": 6, "total_size": 672, "graph": None, "graph_note": evil("no dot"),
        "uncollectable": {"count": 2, "size": 112, "rows": [{"kind": evil("mod.Finalized"), "count": 2}],
                          "cycles": [dict(group, count=1, objects=2, size=112)]},
    }


def report_doc() -> dict:
    memtop = dict(memtop_doc(), growth=watch_growth())
    return {"version": 1, "tool_version": "0.1.0", "pid": 4242, "created_at": 1796149049.0, "watch": 1.0,
            "memtop": memtop, "heap": heap_doc(), "cycles": cycles_doc(), "graph": None, "notes": [evil("py-heap: note")]}


NOT_SHOWN = {"types", "growth"}  # a cycle group's types (its path names them); growth has its own section


def target_strings(doc, key: str = "", command_limit: int = 0) -> list[str]:
    """Every string of `doc` that carries the hostile text, as far as it is shown
    (a process's command is cut to `command_limit` characters)."""
    if isinstance(doc, dict):
        return [s for k, v in doc.items() if k not in NOT_SHOWN for s in target_strings(v, k, command_limit)]
    if isinstance(doc, list):
        return [s for v in doc for s in target_strings(v, key, command_limit)]
    if not (isinstance(doc, str) and HOSTILE in doc):
        return []
    return [doc[:command_limit]] if key == "command" else [doc]


# --- HTML -----------------------------------------------------------------------------------------

class Parsed(HTMLParser):
    """The page as a browser would see it: its tags and attributes, and its visible text."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


# Every tag and attribute the templates write: anything else came from a document.
OUR_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "div", "main", "section", "p",
            "table", "thead", "tbody", "tr", "th", "td", "span", "ol", "li", "code", "img", "footer"}
OUR_ATTRS = {"lang", "charset", "http-equiv", "content", "name", "class", "style", "id", "alt", "src"}


def assert_inert_html(page: str, doc) -> None:
    parsed = Parsed(page)
    for tag, attrs in parsed.tags:
        assert tag in OUR_TAGS, tag
        assert set(attrs) <= OUR_ATTRS, attrs
        assert attrs.get("src", "data:").startswith("data:"), attrs  # nothing loaded from anywhere
    assert not [c for c in page if unicodedata.category(c).startswith("C") and c != "\n"]
    visible = "".join(parsed.text)
    strings = target_strings(doc, command_limit=200)
    assert strings
    for value in strings:  # shown, with its controls as \xNN, not dropped
        assert common.escape(value) in visible, value


def test_report_page_shows_target_text_without_obeying_it():
    report = report_doc()
    page = html.page(report, None)
    assert_inert_html(page, report)
    assert "&lt;script&gt;" in page and "<script" not in page and "<img" not in page
    assert "\\x1b]0;pwned\\x07" in page and "\\u202e" in page  # shown, not obeyed
    assert "&quot;&#x27;&gt;&lt;b x=&#x27;&amp;amp;&#x27;&gt;" in page  # html.escape's entities, as the page always had
    # With a graph, the image replaces graph_note: the one <img> is ours, its source a data: URI.
    page = html.page(report, ("image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'/>"))
    assert_inert_html(page, dict(report, cycles=dict(report["cycles"], graph_note=None)))
    assert page.count("<img ") == 1 and 'src="data:image/svg+xml;base64,' in page


@pytest.mark.parametrize("section", ["memory", "growth", "threads", "heap", "cycles"])
def test_each_section_is_inert(section):
    report = report_doc()
    render, doc = {
        "memory": (html.memory_section, report["memtop"]),
        "growth": (html.growth_section, report["memtop"]["growth"]),
        "threads": (html.threads_section, report["memtop"]),
        "heap": (html.heap_section, report["heap"]),
        "cycles": (lambda d: html.cycles_section(d, None), report["cycles"]),
    }[section]
    part = render(doc)
    assert part.startswith('<section id="%s">' % section) and part.rstrip().endswith("</section>")
    shown = {"memory": ["top_processes"], "threads": ["threads"]}.get(section)  # both read the memtop document
    assert_inert_html(part, {k: v for k, v in doc.items() if k in shown} if shown else doc)


def test_page_of_a_core_file_and_an_empty_heap():
    """Nulls where /proc had nothing, no growth, no rows, no cycles, no graph: '-' and the empty sentences."""
    report = dict(report_doc(), memtop=memtop_doc(live=False), notes=[],
                  heap=dict(heap_doc(), rows=[], largest=[], more_rows=0, total_count=0, total_size=0),
                  cycles=dict(cycles_doc(), cycles=[], uncollectable={"count": 0, "rows": []}, graph_note=None))
    page = html.page(report, None)
    visible = "".join(Parsed(page).text)
    assert "RSS - " in visible and "What grew" not in visible and "<img" not in page
    assert "No objects live only in reference cycles." in visible and 'id="notes"' not in page
    assert "Python frames unknown" not in visible and "no Python frames" in visible


def test_heap_section_caps_its_rows_and_counts_the_rest():
    heap = dict(heap_doc(), rows=[{"kind": "k%d" % i, "count": 1, "size": 10} for i in range(20)], more_rows=5)
    visible = "".join(Parsed(html.heap_section(heap)).text)
    assert "k14" in visible and "k15" not in visible
    assert "10 more kinds not listed here (py-heap --top N in gdb lists them)." in visible  # 5 not returned + 5 not shown


# --- text -----------------------------------------------------------------------------------------

def text_outputs(styles=None) -> list[tuple[str, object]]:
    report = report_doc()
    marks = [{"name": "before", "time": 1000.0, "kinds": 12, "total_count": 34, "total_size": 5678}]
    since = {"since": "m1", "seconds": 2.5, "total_count": 5, "total_size": -4096, "more_rows": 0,
             "rows": [{"kind": evil("mod.Grown"), "count": 5, "size": 100}]}
    return [
        (text.format_memtop(report["memtop"], styles), report["memtop"]),
        (text.format_watch_growth(report["memtop"]["growth"], styles), report["memtop"]["growth"]),
        (text.format_heap(report["heap"], styles), report["heap"]),
        (text.format_cycles(report["cycles"], styles), dict(report["cycles"], graph_note=None, cycles=[])),
        (text.format_mark_growth(since, styles), since),
        (text.format_marks(marks, styles, now=1060.0), {}),
    ]


@pytest.mark.parametrize("styles", [None, STYLES], ids=["plain", "styled"])
def test_text_shows_target_text_without_escape_sequences(styles):
    for output, doc in text_outputs(styles):
        stripped = output
        for code in list((styles or {}).values()) + ["\x1b[0m"]:
            stripped = stripped.replace(code, "")
        assert not [c for c in stripped if unicodedata.category(c).startswith("C") and c != "\n"], repr(output)
        for value in target_strings(doc, command_limit=60):
            cell = common.escape(value)
            assert cell in stripped, (cell, stripped)
            assert "\\x1b[2J" in cell and "\\x07" in cell and "\\u202e" in cell


def test_heap_text():
    assert text.format_heap(dict(heap_doc(), largest=[], rows=heap_doc()["rows"][1:]), {}) == "\n".join([
        "Partition of a set of 1000 objects. Total size = 10240 bytes (10.0 KiB).",
        "Index  Count   %  Size   %  Cumulative   %  Kind",
        "    0    250  25  2560  25        2560  25  str",
        "<2 more kinds; use --top to see them>",
    ])
    lines = text.format_heap(dict(heap_doc(), largest=heap_doc()["largest"][1:])).splitlines()
    assert lines[3] == "    1    250  25  2560  25        7680  75  str"  # cumulative
    assert lines[4:] == ["<2 more kinds; use --top to see them>", "",
                         "Objects that keep the most memory alive (retained: what would be freed if the object went):",
                         "Retains      Own  Type   Kept alive by                Holding  Value",
                         "2.0 KiB  2.0 KiB  bytes  (no path from a root found)           b'...'"]
    # one the target let go of while the payload ran beside it: said so, not "no path"
    gone = dict(heap_doc(), largest=[dict(heap_doc()["largest"][1], unowned=True)])
    assert text.format_heap(gone).splitlines()[8] == "2.0 KiB  2.0 KiB  bytes  (let go of while py-heap ran)           b'...'"
    assert "(let go of while py-heap ran)" in "".join(Parsed(html.heap_section(gone)).text)
    # the memory backend measures no retained size: own sizes, as before
    own = [dict(o, retained=None, retained_objects=None, retained_complete=False, inside=[]) for o in heap_doc()["largest"][1:]]
    assert text.format_heap(dict(heap_doc(), largest=own)).splitlines()[6:] == [
        "Largest objects:", "   Size  Type   Kept alive by                Value",
        "2.0 KiB  bytes  (no path from a root found)  b'...'"]
    # a walk that ran out of its budget: a lower bound, and the owner named in a sentence
    lines = text.format_heap(dict(heap_doc(), largest=[dict(heap_doc()["largest"][0], path="m.cache")])).splitlines()
    assert lines[8].startswith(">= 8.0 KiB  4.0 KiB  mod.Big ")
    assert lines[9].startswith("mod.Big \\x1b]0;pwned") and " m.cache retains >= 8.0 KiB (80% of the objects counted) in 2 mod.Item " in lines[9]
    assert lines[10] == "Largest single objects inside them:" and lines[12].startswith("2.9 KiB  str   m.cache.items[0] \\x1b]0;pwned")


def test_memtop_text_live_and_core():
    lines = text.format_memtop(dict(memtop_doc(), threads=memtop_doc()["threads"][1:])).splitlines()
    assert lines[0] == "process 4242: RSS 13.9 MiB (0.1% of memory), peak RSS 15.0 MiB, virtual 17.2 MiB, swap 0 B"
    # where the RSS is; the 6 MiB mapping is not named (below 8 MiB)
    assert lines[1] == ("  RSS by kind: file-backed 6.0 MiB, main heap (brk) 1.0 MiB, thread stacks 128.0 KiB (2 threads), "
                        "other anonymous 6.8 MiB")
    lines = lines[:1] + lines[2:]
    assert lines[2:5] == ["top processes by memory:", "    PID       RSS  %MEM  COMMAND", "     99  91.8 MiB   0.4  /usr/bin/gdb -batch"]
    assert lines[5].startswith("*  4242  13.9 MiB   0.1  python3 worker.py \\x1b]0;pwned\\x07")
    assert lines[-3:] == ["threads (Python frames innermost first, from libpython):", "  thread 2  tid 4243  worker  S 1.50s cpu",
                          "      (no Python frames)"]
    core = memtop_doc(live=False)
    core["threads"][0].update(name="python3", python_name="MainThread", frames=core["threads"][0]["frames"][1:], cpu_window_seconds=0.25)
    assert text.format_memtop(dict(core, frames_source=None)).splitlines()[:6] == [
        "core file of process 4242 (no /proc figures)", "", "threads (Python frames innermost first, from nowhere):",
        '  thread 1  tid 4242 "MainThread"  python3    (0.25s in the window)', "      /srv/main.py:None in <module>",
        "  thread 2  tid 4243  worker  S 1.50s cpu"]


def test_memtop_text_uses_the_styles_it_is_given():
    doc = dict(memtop_doc(), threads=[dict(memtop_doc()["threads"][0], frames=[{"file": "/a.py", "line": 3, "function": "f"}])])
    styled = text.format_memtop(doc, STYLES)
    assert "\x1b[1m    PID       RSS  %MEM  COMMAND\x1b[0m\n" in styled and "      \x1b[32m/a.py\x1b[0m:3 in \x1b[33mf\x1b[0m" in styled
    assert text.format_memtop(doc, {}) == text.format_memtop(doc) and "\x1b" not in text.format_memtop(doc)


def test_watch_growth_text():
    growth = dict(watch_growth(), ended_early=False, allocations=watch_growth()["allocations"][1:])
    assert text.format_watch_growth(growth) == "\n".join([
        "watched 1.0 s: RSS +3.5 MiB (+3.5 MiB/s); tracemalloc traced 5.2 MiB of blocks allocated in the window and still alive",
        "top allocation lines (memory allocated during the window and still alive):",
        "   Size  Blocks  Line             Function",
        "1.0 KiB       3  /srv/other.py:7  ?",
    ])
    unknown = dict(growth, rss_delta=None, rss_rate=None, ended_early=True, allocations=[])
    assert text.format_watch_growth(unknown).startswith("watched 1.0 s (ended early): RSS ? (?/s);")
    # nothing traced: a line that says so, not a table's header over no rows (a user's trial)
    assert text.format_watch_growth(unknown).splitlines()[1:] == ["no allocation in the window is still alive"]
    # The target's own tracing, on before the window: its traces are not the window's (a user's trial).
    theirs = text.format_watch_growth(dict(growth, tracing_before=True)).splitlines()
    assert theirs[0].endswith("of blocks allocated since the target turned tracemalloc on and still alive"), theirs
    assert theirs[1] == "top allocation lines (memory allocated since the target turned tracemalloc on and still alive):"
    # Issue 14: a shrinking target's rate kept its sign ("RSS -8.0 KiB (2.7 KiB/s)" before).
    shrinking = dict(growth, rss_delta=-8192, rss_rate=-2765)
    assert text.format_watch_growth(shrinking).startswith("watched 1.0 s: RSS -8.0 KiB (-2.7 KiB/s);")


def test_watch_growth_with_callers_text_and_html():
    """--frames N: a library line with the application's line that called it, in text and HTML."""
    caller = {"file": evil("/srv/app.py"), "line": 12, "function": "handle", "size": 1000}
    allocations = [{"file": "/usr/lib/python3.11/json/decoder.py", "line": 353, "function": "raw_decode",
                    "size": 1024, "count": 3, "caller": caller},
                   {"file": "/srv/other.py", "line": 7, "function": None, "size": 512, "count": 1, "caller": None}]
    growth = dict(watch_growth(), ended_early=False, frames=8, allocations=allocations)
    lines = text.format_watch_growth(growth).splitlines()
    assert lines[2].split() == ["Size", "Blocks", "Line", "Function", "Called", "from"]
    assert "raw_decode  /srv/app.py " in lines[3] and lines[3].endswith(":12 handle") and "\x1b" not in lines[3]
    assert lines[4].split()[-2:] == ["/srv/other.py:7", "?"], lines[4]
    page = html.growth_section(growth)
    assert "Called from" in page and "handle" in page and "\x1b" not in page and "<script>" not in page
    plain = html.growth_section(dict(growth, allocations=[dict(a, caller=None) for a in allocations]))
    assert "Called from" not in plain


def test_mark_growth_and_marks_text():
    since = {"since": "m1", "seconds": 2.5, "total_count": -3, "total_size": 4096, "more_rows": 4,
             "rows": [{"kind": "dict", "count": 2, "size": 640}, {"kind": "list", "count": -5, "size": -200}]}
    assert text.format_mark_growth(since) == "\n".join([
        "Growth since mark m1 (2.5 s ago): -3 objects, +4.0 KiB",
        "Index  Count  Size  Kind",
        "    0     +2  +640  dict",
        "    1     -5  -200  list",
        "<4 more kinds changed; use --top to see them>",
    ])
    marks = [{"name": "before", "time": 1000.0, "kinds": 12, "total_count": 34, "total_size": 5678}]
    assert text.format_marks(marks, now=1060.4) == "Mark    Made      Kinds  Count     Size\nbefore  60 s ago     12     34  5.5 KiB"
    assert text.format_marks([]) == "no marks in the target (make one with py-heap --mark NAME)"


def test_cycles_text():
    doc = cycles_doc()
    doc["cycles"][0]["path"] = "A.__attr -> B.__attr -> A"
    doc["uncollectable"] = {"count": 0, "size": 0, "rows": [], "cycles": []}
    assert text.format_cycles(dict(doc, graph="/tmp/g.svg")) == "\n".join([
        "6 objects (672 B) live only in reference cycles:",
        "Cycles  Objects   Size  Path",
        "     3        6  672 B  A.__attr -> B.__attr -> A",
        "",
        "reference graph written to /tmp/g.svg",
    ])
    assert text.format_cycles(dict(doc, cycles=[])) == "no objects live only in reference cycles"
    # py-cycles TYPE where no group has a member of TYPE: not "no objects ... in cycles" (a user's trial)
    assert text.format_cycles(dict(doc, cycles=[]), types=["Meta", "a\x1bb"]) == (
        "no cycle group has a member of type Meta or a\\x1bb; 6 objects (672 B) live only in reference cycles in all")
    grown = [dict(doc["cycles"][0], new=True, count_delta=3, size_delta=672), dict(doc["cycles"][0], path="C -> C", new=False, count_delta=2, size_delta=8)]
    assert text.format_cycles(dict(doc, cycles=grown, since="m1")).splitlines() == [
        "cycle groups new or larger since mark m1:", "Cycles  Growth   Size  Path",
        "     3     new  672 B  A.__attr -> B.__attr -> A", "     3      +2  672 B  C -> C"]
    assert text.format_cycles(dict(doc, cycles=[], since="m1")) == "no cycle group is new or larger since mark m1"
    lines = text.format_cycles(cycles_doc()).splitlines()
    assert lines[3:6] == ["", "2 uncollectable objects in gc.garbage:", "Count  Kind"]
    assert lines[7:10] == ["", "cycles among the uncollectable objects:", "Cycles  Objects   Size  Path"]


def test_table_bounds_cells_and_error_line_is_one_escaped_line():
    table = text.table(("A", "B"), [("x" * 5000, "\x1b[31mred")], "ll")
    assert len(table.splitlines()[1]) < text.MAX_CELL + 40 and "\x1b" not in table and "\\x1b[31mred" in table
    line = text.error_line('py-heap: boom \x1b]0;t\x07\nTraceback (most recent call last):\n  File "x.py", line 3, in f\nValueError')
    assert line == "py-heap: boom \\x1b]0;t\\x07 (raised in f, line 3 of the payload)"
    assert text.json_line({"k": "\x1b<"}) == '{"k":"\\u001b<"}'


def test_common_sizes():
    assert [common.human_size(n) for n in (0, 1023, 1536, 5 << 30)] == ["0 B", "1023 B", "1.5 KiB", "5.0 GiB"]
    assert (common.size_or_dash(None), common.signed_size(-2048), common.signed_size(0), common.signed_size(None)) == ("-", "-2.0 KiB", "+0 B", "?")
    assert (common.percent(1, 3), common.percent(5, 0)) == (33, 500)
    assert common.escape_dot('a [label="\x1b"];\n') == 'a [label="\\\\x1b"];\n'


# --- boundaries -----------------------------------------------------------------------------------

def test_render_imports_neither_gdb_nor_the_gdb_side():
    """render/ runs in the shell CLI too; gdb's styles come in as arguments."""
    for module in RENDER.glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            for name in names:
                assert name.split(".")[0] != "gdb", (module.name, name)
                assert not re.match(r"^(\.\.|gdb_memleak\.)(gdbside|commands|inject|plugin)", name), (module.name, name)


def test_text_renderers_need_no_jinja2():
    """gdb's Python may not have jinja2: the text side and importing html must not need it."""
    code = ("import sys; sys.modules['jinja2'] = None; sys.modules['markupsafe'] = None; "
            "import gdb_memleak.render.text, gdb_memleak.render.html, gdb_memleak.cli; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=str(REPO), capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_templates_are_package_data():
    setup = (REPO / "setup.py").read_text()
    assert '"gdb_memleak.render": ["templates/*"]' in setup and '"jinja2"' in setup
    names = {p.name for p in (RENDER / "templates").iterdir()}
    assert {"report.html.j2", "report.css"} <= names
    used = set(re.findall(r'(?:include|from|import) "([^"]+)"', "".join(p.read_text() for p in (RENDER / "templates").glob("*.j2"))))
    assert used <= names, used - names


def test_documents_are_not_changed_by_rendering():
    report = report_doc()
    before = copy.deepcopy(report)
    html.page(report, None)
    for output, _ in text_outputs(STYLES):
        assert output
    assert report == before


def test_tables_line_up_wide_and_combining_characters():
    """A CJK name takes two columns on a terminal, a combining accent none (a user's trial: the
    text tables were out of line past such names)."""
    lines = text.table(("Path", "Size"), [("m.漢字", 1), ("m.e\u0301t\u00e9", 22), ("m.x", 333)], "lr").splitlines()
    ends = {common.display_width(line) for line in lines}
    assert len(ends) == 1, lines
    assert common.display_width("漢字e\u0301") == 5
