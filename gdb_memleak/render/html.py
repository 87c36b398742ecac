"""report.html: one self-contained page (inline CSS, the graph as a data: URI image, no script).

Every string that comes from the target (file names, reprs, type names, paths,
commands) passes through :func:`t`: control characters made visible, then HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import time
from typing import Any, Iterable, Optional, Sequence

from . import text as render

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2b45;color:#fff;padding:22px 32px}
header h1{margin:0 0 4px;font-size:24px}
header .sub{color:#b9c4d8;font-size:14px}
main{max-width:1180px;margin:0 auto;padding:8px 24px 40px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);margin:20px 0;padding:16px 22px}
h2{font-size:18px;margin:0 0 12px;color:#1d2b45}
h3{font-size:15px;margin:16px 0 8px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{flex:1 1 150px;background:#f0f3f9;border-radius:6px;padding:10px 14px}
.card .label{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#5a667d}
.card .value{font-size:22px;font-weight:600}
.card.alert{background:#fdecea}.card.alert .value{color:#b3261e}
table{border-collapse:collapse;width:100%;font-size:14px}
th{text-align:left;background:#eef1f6;padding:6px 8px;font-weight:600;white-space:nowrap}
td{padding:5px 8px;border-top:1px solid #e6e9ef;vertical-align:top}
td.n,th.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:13px;word-break:break-all}
.barcell{width:22%}
.bar{background:#e6e9ef;border-radius:3px;height:12px;min-width:60px}
.bar span{display:block;background:#4a7bd0;height:12px;border-radius:3px}
.bar.hot span{background:#d0584a}
.thread{border-left:4px solid #4a7bd0;padding:4px 12px;margin:10px 0;background:#f8f9fb}
.thread .head{font-weight:600}
.frames{margin:4px 0 0;padding-left:18px}
.file{color:#1a7f37}.func{color:#8a5a00}
.muted{color:#6b7488}
.note{background:#fff8e1;border-left:4px solid #e0a800;padding:6px 12px;margin:6px 0;font-size:14px}
.graph{text-align:center;overflow:auto;border:1px solid #e6e9ef;border-radius:6px;padding:8px;background:#fff}
.graph img{max-width:100%;height:auto}
footer{color:#6b7488;font-size:13px;text-align:center;padding:8px}
"""

TOP_ROWS = 15


def t(value: Any) -> str:
    """Target-controlled text, safe in HTML: control characters as \\xNN, then html.escape."""
    return html.escape(render.escape("" if value is None else value), quote=True)


def size(n: Optional[float]) -> str:
    return render.human_size(n) if n is not None else "-"


def signed_size(n: Optional[float]) -> str:
    if n is None:
        return "?"
    return ("-" if n < 0 else "+") + render.human_size(abs(n))


def bar(fraction: float, hot: bool = False) -> str:
    width = max(0.0, min(1.0, fraction)) * 100
    return '<div class="bar%s"><span style="width:%.1f%%"></span></div>' % (" hot" if hot else "", width)


def table(headers: Sequence[tuple[str, str]], rows: Iterable[Sequence[str]]) -> str:
    """`headers`: (label, css class); cells are HTML already."""
    head = "".join('<th class="%s">%s</th>' % (cls, html.escape(label)) for label, cls in headers)
    body = "".join(
        "<tr>%s</tr>" % "".join('<td class="%s">%s</td>' % (cls, cell) for (_, cls), cell in zip(headers, row)) for row in rows
    )
    return "<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (head, body)


def card(label: str, value: str, alert: bool = False) -> str:
    return '<div class="card%s"><div class="label">%s</div><div class="value">%s</div></div>' % (
        " alert" if alert else "", html.escape(label), value)


def location(frame: dict) -> str:
    return '<span class="mono"><span class="file">%s</span>:%s</span> in <span class="mono func">%s</span>' % (
        t(frame.get("file")), t(frame.get("line") if frame.get("line") is not None else "?"), t(frame.get("function")))


def memory_section(memtop: dict) -> str:
    command = next((p["command"] for p in memtop.get("top_processes") or [] if p.get("pid") == memtop["pid"]), "")
    cards = [
        card("RSS", size(memtop.get("rss"))),
        card("peak RSS", size(memtop.get("peak_rss"))),
        card("virtual", size(memtop.get("vsize"))),
        card("swap", size(memtop.get("swap"))),
        card("of memory", "%s%%" % memtop["mem_percent"] if memtop.get("mem_percent") is not None else "-"),
    ]
    parts = ['<section id="memory"><h2>Memory of process %d</h2>' % memtop["pid"]]
    if command:
        parts.append('<p class="mono muted">%s</p>' % t(command))
    parts.append('<div class="cards">%s</div>' % "".join(cards))
    procs = memtop.get("top_processes") or []
    if procs:
        biggest = max(p["rss"] for p in procs) or 1
        rows = [
            ("&#9733;" if p["pid"] == memtop["pid"] else "", str(p["pid"]), size(p["rss"]), bar(p["rss"] / biggest, p["pid"] == memtop["pid"]),
             "%.1f" % p["mem_percent"], '<span class="mono">%s</span>' % t(p["command"][:200]))
            for p in procs
        ]
        parts.append("<h3>Top processes by memory</h3>")
        parts.append(table((("", ""), ("PID", "n"), ("RSS", "n"), ("", "barcell"), ("%MEM", "n"), ("Command", "")), rows))
    parts.append("</section>")
    return "".join(parts)


def growth_section(growth: dict) -> str:
    rate = growth.get("rss_rate")
    delta = growth.get("rss_delta")
    cards = [
        card("watched", "%.1f s%s" % (growth["seconds"], " (ended early)" if growth.get("ended_early") else "")),
        card("RSS growth", signed_size(delta), alert=bool(delta and delta > 0)),
        card("growth rate", signed_size(rate) + "/s" if rate is not None else "?", alert=bool(rate and rate > 0)),
        card("traced, still alive", size(growth.get("traced"))),
    ]
    parts = ['<section id="growth"><h2>What grew while watching</h2><div class="cards">%s</div>' % "".join(cards)]
    allocations = growth.get("allocations") or []
    if allocations:
        biggest = max(a["size"] for a in allocations) or 1
        rows = [
            (size(a["size"]), bar(a["size"] / biggest, i == 0), str(a["count"]),
             '<span class="mono"><span class="file">%s</span>:%s</span>' % (t(a["file"]), t(a["line"])),
             '<span class="mono func">%s</span>' % t(a.get("function") or "?"))
            for i, a in enumerate(allocations)
        ]
        parts.append("<h3>Top allocation lines (allocated during the window and still alive)</h3>")
        parts.append(table((("Size", "n"), ("", "barcell"), ("Blocks", "n"), ("Line", ""), ("Function", "")), rows))
    else:
        parts.append('<p class="muted">No allocation made during the window is still alive.</p>')
    parts.append("</section>")
    return "".join(parts)


def threads_section(memtop: dict) -> str:
    parts = ['<section id="threads"><h2>Threads and their Python code</h2>',
             '<p class="muted">Python frames innermost first, from %s.</p>' % t(memtop.get("frames_source") or "nowhere")]
    for thread in memtop.get("threads") or []:
        cpu = "%.2f s CPU" % thread["cpu_seconds"] if thread.get("cpu_seconds") is not None else ""
        if thread.get("cpu_window_seconds") is not None:
            cpu += " (%.2f s in the window)" % thread["cpu_window_seconds"]
        python_name = " &middot; &ldquo;%s&rdquo;" % t(thread["python_name"]) if thread.get("python_name") is not None else ""
        parts.append('<div class="thread"><div class="head">thread %d &middot; tid %d%s &middot; %s <span class="muted">%s</span></div>' % (
            thread["num"], thread["tid"], python_name, t(thread.get("name")), html.escape(cpu)))
        frames = thread.get("frames") or []
        if frames:
            parts.append('<ol class="frames">%s</ol>' % "".join("<li>%s</li>" % location(f) for f in frames))
        else:
            parts.append('<div class="muted">%s</div>' % ("no Python frames" if memtop.get("frames_source") else "Python frames unknown"))
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def heap_section(heap: dict) -> str:
    total_size = heap.get("total_size") or 1
    total_count = heap.get("total_count") or 1
    rows = heap.get("rows") or []
    parts = ['<section id="heap"><h2>Heap by kind</h2><div class="cards">%s%s%s</div>' % (
        card("objects", "{:,}".format(heap.get("total_count", 0))), card("total size", size(heap.get("total_size"))),
        card("largest kind", t(rows[0]["kind"]) if rows else "-"))]
    cumulative = 0
    cells = []
    for index, row in enumerate(rows[:TOP_ROWS]):
        cumulative += row["size"]
        cells.append((str(index), "{:,}".format(row["count"]), "%d%%" % (100 * row["count"] // total_count), size(row["size"]),
                      "%d%%" % (100 * row["size"] // total_size), bar(row["size"] / total_size, index == 0),
                      "%d%%" % (100 * cumulative // total_size), '<span class="mono">%s</span>' % t(row["kind"])))
    parts.append(table((("#", "n"), ("Count", "n"), ("%", "n"), ("Size", "n"), ("%", "n"), ("share of the heap", "barcell"),
                        ("Cumul. %", "n"), ("Kind", "")), cells))
    more = (heap.get("more_rows") or 0) + max(0, len(rows) - TOP_ROWS)
    if more:
        parts.append('<p class="muted">%d more kinds (in report.json with py-heap --top).</p>' % more)
    parts.append('<p class="muted">%s backend.</p>' % t(heap.get("backend")))
    largest = heap.get("largest") or []
    if largest:
        parts.append("<h3>Largest objects and what keeps them alive</h3>")
        rows = [
            (size(o["size"]), '<span class="mono">%s</span>' % t(o["type"]),
             '<code>%s</code>' % t(o["path"]) if o.get("path") else '<span class="muted">(no path from a root found)</span>',
             '<code>%s</code>' % t(o.get("repr", "")))
            for o in largest
        ]
        parts.append(table((("Size", "n"), ("Type", ""), ("Kept alive by", ""), ("Value", "")), rows))
    parts.append("</section>")
    return "".join(parts)


def _group_rows(groups: list) -> list:
    biggest = max([g["size"] for g in groups] or [1]) or 1
    return [
        ("{:,}".format(g["count"]), "{:,}".format(g["objects"]), size(g["size"]), bar(g["size"] / biggest, i == 0),
         '<code>%s</code>' % t(g["path"]))
        for i, g in enumerate(groups)
    ]


GROUP_HEADERS = (("Cycles", "n"), ("Objects", "n"), ("Size", "n"), ("", "barcell"), ("Path", ""))


def cycles_section(cycles: dict, graph: Optional[tuple[str, bytes]]) -> str:
    groups = cycles.get("cycles") or []
    parts = ['<section id="cycles"><h2>Reference cycles</h2>']
    if groups:
        parts.append('<div class="cards">%s%s%s</div>' % (
            card("objects only in cycles", "{:,}".format(cycles.get("total_objects", 0)), alert=True),
            card("their size", size(cycles.get("total_size"))), card("cycle shapes", str(len(groups)))))
        parts.append(table(GROUP_HEADERS, _group_rows(groups)))
    else:
        parts.append('<p>No objects live only in reference cycles.</p>')
    uncollectable = cycles.get("uncollectable") or {}
    if uncollectable.get("count"):
        parts.append("<h3>%d uncollectable objects in gc.garbage</h3>" % uncollectable["count"])
        parts.append(table((("Count", "n"), ("Kind", "")),
                           [("{:,}".format(r["count"]), '<span class="mono">%s</span>' % t(r["kind"])) for r in uncollectable.get("rows") or []]))
        if uncollectable.get("cycles"):
            parts.append(table(GROUP_HEADERS, _group_rows(uncollectable["cycles"])))
    if graph is not None:
        mime, data = graph
        parts.append('<h3>Reference graph of the top cycles</h3><div class="graph"><img alt="reference graph of the top cycles" '
                     'src="data:%s;base64,%s"></div>' % (mime, base64.b64encode(data).decode("ascii")))
    elif cycles.get("graph_note"):
        parts.append('<p class="muted">No graph: %s</p>' % t(cycles["graph_note"]))
    parts.append("</section>")
    return "".join(parts)


def page(report: dict, graph: Optional[tuple[str, bytes]]) -> str:
    """The whole report.html. `graph`: (MIME type, bytes) of the reference graph, or None."""
    memtop, heap, cycles = report["memtop"], report["heap"], report["cycles"]
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(report["created_at"]))
    sections = [memory_section(memtop)]
    if memtop.get("growth"):
        sections.append(growth_section(memtop["growth"]))
    sections += [threads_section(memtop), heap_section(heap), cycles_section(cycles, graph)]
    if report.get("notes"):
        sections.append('<section id="notes"><h2>Notes from gdb-memleak</h2>%s</section>'
                        % "".join('<div class="note mono">%s</div>' % t(n) for n in report["notes"]))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # Nothing is loaded from anywhere: the page is one file.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; style-src \'unsafe-inline\'">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>gdb-memleak report: pid %d</title><style>%s</style></head><body>"
        '<header><h1>Memory leak report: process %d</h1><div class="sub">%s &middot; RSS %s &middot; %s objects on the heap, %s'
        " &middot; gdb-memleak %s</div></header><main>%s</main>"
        "<footer>All figures are also in report.json (schema: gdb_memleak/schemas/report.schema.json).</footer></body></html>\n"
        % (report["pid"], CSS, report["pid"], html.escape(when), size(memtop.get("rss")), "{:,}".format(heap.get("total_count", 0)),
           size(heap.get("total_size")), html.escape(report.get("tool_version", "")), "".join(sections))
    )
