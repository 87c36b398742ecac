"""report.html: one self-contained page (inline CSS, the graph as a data: URI image, no script).

The page is laid out by the jinja2 templates in templates/, with autoescaping on.
Every value a template prints passes the environment's `finalize` first, which
makes control characters visible (render.common.escape, as in gdb's text) and
HTML-escapes the rest: strings from the target (file names, reprs, type names,
paths, commands) can neither add markup nor put an ESC or a BEL into the page.
"""

from __future__ import annotations

import base64
import functools
import html
import os
import time
from typing import Any, Optional

from .common import (
    escape,
    fragmentation_notes,
    holding_text,
    native_memory_note,
    no_path_text,
    other_anonymous_split,
    percent,
    retained_text,
    signed_size,
    size_or_dash,
)

TOP_ROWS = 15  # heap kinds on the page; report.json has every kind the command returned
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


def _bar_width(fraction: float) -> str:
    return "%.1f" % (max(0.0, min(1.0, fraction)) * 100)


@functools.cache
def environment() -> Any:
    """The templates' environment, made on first use: jinja2 is imported only to make a
    page, so the CLI's `gdbinit` and `prepare` (which import this module) run without it."""
    import jinja2
    from markupsafe import Markup

    def inert(value: Any) -> Any:
        """Every {{ value }}: None and missing as nothing, control characters visible, then
        HTML-escaped as the stdlib does (&quot;, &#x27;: the entities the page always had).
        Markup (a macro's or an include's output) is ours and passes."""
        if isinstance(value, Markup):
            return value
        if value is None or isinstance(value, jinja2.Undefined):
            return Markup("")
        return Markup(html.escape(escape(value), quote=True))

    def known(value: Any) -> bool:
        """The document has this field and it is not null."""
        return value is not None and not isinstance(value, jinja2.Undefined)

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # the net under `inert`: every template here is HTML (the stylesheet is static text)
        finalize=inert,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(size=size_or_dash, signed_size=signed_size, thousands="{:,}".format, bar_width=_bar_width,
                       retained=retained_text, holding=holding_text,
                       no_path=no_path_text)
    env.tests["known"] = known
    env.globals.update(percent=percent, top_rows=TOP_ROWS, fragmentation_notes=fragmentation_notes,
                       other_anonymous_split=other_anonymous_split, native_memory_note=native_memory_note)
    return env


def _render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def memory_section(memtop: dict) -> str:
    return _render("memory.html.j2", memtop=memtop)


def growth_section(growth: dict) -> str:
    return _render("growth.html.j2", growth=growth)


def threads_section(memtop: dict) -> str:
    return _render("threads.html.j2", memtop=memtop)


def heap_section(heap: dict) -> str:
    return _render("heap.html.j2", heap=heap)


def _graph(graph: Optional[tuple[str, bytes]]) -> Optional[dict]:
    if graph is None:
        return None
    mime, data = graph
    return {"mime": mime, "data": base64.b64encode(data).decode("ascii")}


def cycles_section(cycles: dict, graph: Optional[tuple[str, bytes]]) -> str:
    return _render("cycles.html.j2", cycles=cycles, graph=_graph(graph))


def page(report: dict, graph: Optional[tuple[str, bytes]]) -> str:
    """The whole report.html. `graph`: (MIME type, bytes) of the reference graph, or None."""
    return _render(
        "report.html.j2",
        report=report,
        memtop=report["memtop"],
        heap=report["heap"],
        cycles=report["cycles"],
        graph=_graph(graph),
        created=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(report["created_at"])),
    )

