"""Escaping by default: every value is escaped when it is put into a page, unless it is :class:`Markup`.

Terminal ids, site codes, device names, fault codes and versions come from the network (and a store
may hold rows another tool wrote), so pages are built only through :func:`esc`, :func:`el`,
:func:`table` and :func:`page`, which escape whatever is not already ``Markup``.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from fleet import timeutil


class Markup(str):
    """Text that is already HTML (built by the helpers here): not escaped again."""

    __slots__ = ()


def esc(v: Any) -> Markup:
    if isinstance(v, Markup):
        return v
    return Markup(html.escape("" if v is None else str(v), quote=True))


def join(parts: Iterable[Any], sep: str = "") -> Markup:
    return Markup(esc(sep).join(esc(p) for p in parts))


def attrs(**kw: Any) -> Markup:
    """``class_="x"`` -> ``class="x"``; None and False are left out; True is a bare attribute."""
    out = []
    for k, v in kw.items():
        name = k.rstrip("_").replace("_", "-")
        if v is None or v is False:
            continue
        out.append(f" {name}" if v is True else f' {name}="{esc(v)}"')
    return Markup("".join(out))


def el(tag: str, *children: Any, **kw: Any) -> Markup:
    return Markup(f"<{tag}{attrs(**kw)}>{join(children)}</{tag}>")


def link(href: str, text: Any, **kw: Any) -> Markup:
    return el("a", text, href=href, **kw)


def terminal_href(terminal_id: str) -> str:
    """The terminal page's path; the id is percent-encoded (it comes from the network)."""
    return "/terminal/" + quote(str(terminal_id), safe="")


def query_href(path: str, **params: Any) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return path + ("?" + urlencode(kept) if kept else "")


def table(headers: Sequence[Any], rows: Iterable[Sequence[Any]], *, empty: str = "none",
          row_classes: Sequence[str | None] | None = None, **kw: Any) -> Markup:
    body = []
    rows = list(rows)
    for i, row in enumerate(rows):
        cls = row_classes[i] if row_classes else None
        body.append(el("tr", *(el("td", c) for c in row), class_=cls))
    if not rows:
        body.append(el("tr", el("td", empty, colspan=len(headers), class_="empty")))
    return el("table", el("thead", el("tr", *(el("th", h) for h in headers))), el("tbody", *body), **kw)


def pct(v: float | None, digits: int = 2) -> str:
    """A fraction as a percentage; an unknown figure is a dash, never 0."""
    return "\u2013" if v is None else f"{v * 100:.{digits}f}%"


def when(ts: Any) -> str:
    """A stored time as ``YYYY-MM-DD HH:MM:SS`` UTC (the page says UTC once)."""
    if ts is None or ts == "":
        return "\u2013"
    return timeutil.parse(ts).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "\u2013"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def age(ts: Any, now: datetime) -> str:
    if ts is None:
        return "\u2013"
    return duration((now - timeutil.parse(ts)).total_seconds())


def badge(text: str, kind: str) -> Markup:
    return el("span", text, class_=f"badge {kind}")


NAV = (("/", "Fleet"), ("/report", "Monthly report"))

CSS = """
:root{--fg:#1d2430;--muted:#5d6778;--line:#d7dce4;--bg:#f6f7f9;--ok:#1f7a3d;--bad:#b3261e;--warn:#9a6700}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#1d2430;color:#fff;padding:.6em 1.5em;display:flex;gap:2em;align-items:baseline}
header a{color:#cfd8e6;text-decoration:none;margin-right:1.2em}header a.here,header a:hover{color:#fff}
header .brand{font-weight:600;color:#fff}
main{padding:1em 1.5em 3em;max-width:1400px}
h1{font-size:1.5em;margin:.3em 0 .5em}h2{font-size:1.15em;margin:1.6em 0 .5em}
section.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:.8em 1em;margin:.8em 0}
.figures{display:flex;gap:1em;flex-wrap:wrap}
.figure{background:#fff;border:1px solid var(--line);border-radius:6px;padding:.6em 1em;min-width:10em}
.figure .n{font-size:1.8em;font-weight:600}.figure .l{color:var(--muted)}
.figure.bad .n{color:var(--bad)}.figure.ok .n{color:var(--ok)}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid var(--line);padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}table.facts th{width:12em}td.empty{color:var(--muted);font-style:italic}
tr.bad td{background:#fdecea}tr.warn td{background:#fff6e0}
.badge{display:inline-block;padding:0 .5em;border-radius:3px;font-size:.9em;white-space:nowrap}
.badge.ok{background:#dcf1e3;color:var(--ok)}.badge.bad{background:#fbdad7;color:var(--bad)}
.badge.warn{background:#fdefc8;color:var(--warn)}.badge.muted{background:#e8ebf0;color:var(--muted)}
.muted{color:var(--muted)}code{font-size:.92em}
svg.chart{background:#fff;border:1px solid var(--line);border-radius:6px;max-width:100%;height:auto}
svg.chart text{font:11px system-ui,sans-serif;fill:#5d6778}
svg.chart .bar{fill:#3b7dd8}svg.chart .bar.below{fill:#d9534f}svg.chart .target{stroke:#b3261e;stroke-dasharray:4 3}
svg.chart .axis{stroke:#9aa4b2}svg.chart .grid{stroke:#eceff3}svg.chart .line{fill:none;stroke:#3b7dd8;stroke-width:2}
svg.chart .point{fill:#3b7dd8}svg.chart .point.below{fill:#d9534f}
nav.months a{margin-right:1em}
@media print{header{display:none}body{background:#fff}}
"""


def page(title: str, body: Any, *, here: str = "", now: datetime | None = None) -> bytes:
    nav = join(link(href, text, class_="here" if href == here else None) for href, text in NAV)
    stamp = f"as of {when(now)} UTC" if now else ""
    doc = Markup("<!doctype html>\n") + el(
        "html",
        el("head", Markup('<meta charset="utf-8">'),
           Markup('<meta name="viewport" content="width=device-width, initial-scale=1">'),
           el("title", f"{title} \u2013 kiosk-fleet"), Markup('<link rel="stylesheet" href="/static/dash.css">')),
        el("body", el("header", el("span", "kiosk-fleet", class_="brand"), el("nav", nav),
                      el("span", stamp, class_="muted")),
           el("main", el("h1", title), body)),
        lang="en")
    return doc.encode("utf-8")
