"""``kiosk-fleet serve``: a small read-only dashboard, server-rendered, no scripts, no build step.

Pages: ``/`` the fleet at a glance (terminals by state and site, offline now, open incidents, this
month's availability as bars), ``/terminal/ID`` (devices from its last health, incidents, recent
events, availability), ``/report/YYYY-MM`` (the printable monthly report). Loopback by default;
every value is HTML-escaped; each request opens its own store connection.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import structlog

from fleet import ops, report
from fleet.report_html import render
from fleet.store import Store
from fleet.store.base import ts_out

log = structlog.get_logger(__name__)

STYLE = """body{font:14px sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}.bar{background:#4a8;height:12px;display:inline-block}
.low{background:#c44}.off{color:#c00;font-weight:bold}nav a{margin-right:1em}"""


def _page(title: str, body: str) -> str:
    month = datetime.now(UTC).strftime("%Y-%m")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><nav><a href='/'>Fleet</a><a href='/report/{month}'>"
            f"Report {month}</a></nav><h1>{escape(title)}</h1>{body}</body></html>")


def _table(rows: list[dict[str, Any]], cols: list[str], link: str | None = None) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = escape("" if r.get(c) is None else str(r.get(c)))
            if c == link:
                v = f"<a href='/terminal/{escape(str(r[c]))}'>{v}</a>"
            cells.append(f"<td>{v}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _bar(v: float | None) -> str:
    if v is None:
        return "n/a"
    cls = "bar" + ("" if v >= report.TARGET else " low")
    return f"<span class='{cls}' style='width:{max(1, round(v * 200))}px'></span> {v * 100:.2f}%"


def fleet_page(store: Store) -> str:
    terms = ops.terminals(store)
    month = datetime.now(UTC).strftime("%Y-%m")
    rep = report.build(store, month)
    avail = {t["terminal_id"]: t["availability"] for t in rep["terminals"]}
    states = Counter("offline" if not t["online"] else (t["state"] or "unknown") for t in terms)
    sites = Counter(t["site"] or "?" for t in terms)
    offline = [t for t in terms if not t["online"]]
    incs = ops.incidents(store, open_only=True)
    bars = "".join(f"<tr><td><a href='/terminal/{escape(t)}'>{escape(t)}</a></td><td>{_bar(v)}</td></tr>"
                   for t, v in sorted(avail.items()))
    body = (f"<p>{len(terms)} terminals, {len(terms) - len(offline)} online, {len(offline)} offline, "
            f"{len(incs)} open incidents.</p>"
            "<h2>By state</h2>" + _table([{"state": k, "terminals": v} for k, v in sorted(states.items())],
                                         ["state", "terminals"])
            + "<h2>By site</h2>" + _table([{"site": k, "terminals": v} for k, v in sorted(sites.items())],
                                          ["site", "terminals"])
            + "<h2>Offline now</h2>" + _table(offline, ["terminal_id", "site", "reason", "last_seen"], "terminal_id")
            + "<h2>Open incidents</h2>" + _table(incs, ["terminal_id", "device", "fault", "action", "opened",
                                                        "responded", "repeat"], "terminal_id")
            + f"<h2>Availability {escape(month)} (target {report.TARGET:.0%})</h2><table>{bars}</table>")
    return _page("Kiosk fleet", body)


def terminal_page(store: Store, terminal_id: str) -> str | None:
    row = next((t for t in ops.terminals(store) if t["terminal_id"] == terminal_id), None)
    if row is None:
        return None
    health_rows = store.query("SELECT health FROM terminals WHERE terminal_id = ?", (terminal_id,))
    raw = health_rows[0]["health"] if health_rows else None
    health = (json.loads(raw) if isinstance(raw, str) else raw) or {}
    devices = [{"device": n, "class": d.get("class"), "state": d.get("state"),
                "faults": ", ".join(d.get("faults", [])), "action": d.get("action"), "since": d.get("since")}
               for n, d in sorted((health.get("devices") or {}).items())]
    month = datetime.now(UTC).strftime("%Y-%m")
    rep = next((t for t in report.build(store, month)["terminals"] if t["terminal_id"] == terminal_id), None)
    events = store.query("SELECT seq, ts, type, device FROM events WHERE terminal_id = ? ORDER BY seq DESC LIMIT 50",
                         (terminal_id,))
    events = [{**e, "ts": ts_out(e["ts"])} for e in events]
    status = "online" if row["online"] else f"offline ({row['reason']})"
    body = (f"<p class='{'' if row['online'] else 'off'}'>{escape(status)}; state {escape(str(row['state']))}; "
            f"site {escape(str(row['site']))}; last seen {escape(str(row['last_seen']))}; "
            f"queue {escape(str(row['queue_pending']))}</p>"
            f"<p>Availability {escape(month)}: {_bar(rep['availability'] if rep else None)} (the terminal's own: "
            f"{escape(str(rep['terminal_reported_availability'] if rep else None))})</p>"
            "<h2>Devices</h2>" + _table(devices, ["device", "class", "state", "faults", "action", "since"])
            + "<h2>Incidents</h2>" + _table(ops.incidents(store, terminal=terminal_id),
                                            ["device", "fault", "action", "opened", "closed", "response_s", "repair_s",
                                             "repeat"])
            + "<h2>Recent events</h2>" + _table(events, ["seq", "ts", "type", "device"]))
    return _page(f"Terminal {terminal_id}", body)


def make_handler(open_store: Callable[[], Store]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = unquote(self.path.split("?", 1)[0])
            store = open_store()
            try:
                if path == "/":
                    page: str | None = fleet_page(store)
                elif m := re.fullmatch(r"/terminal/([A-Za-z0-9_.-]{1,64})", path):
                    page = terminal_page(store, m.group(1))
                elif m := re.fullmatch(r"/report/(\d{4}-(?:0[1-9]|1[0-2]))", path):
                    page = render(report.build(store, m.group(1)))
                else:
                    page = None
            except Exception:
                log.exception("page_failed", path=path)
                self._send(500, _page("Error", "<p>The page could not be built; see the log.</p>"))
                return
            finally:
                store.close()
            if page is None:
                self._send(404, _page("Not found", f"<p>{escape(path)}</p>"))
            else:
                self._send(200, page)

        def _send(self, code: int, page: str) -> None:
            data = page.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("http", request=fmt % args)

    return Handler


def serve(open_store: Callable[[], Store], host: str, port: int) -> None:
    server = ThreadingHTTPServer((host, port), make_handler(open_store))
    log.info("serving", url=f"http://{host}:{server.server_address[1]}/")
    try:
        server.serve_forever()
    finally:
        server.server_close()
