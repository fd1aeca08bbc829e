"""The monthly service report (``fleet.report.build``, the same document ``kiosk-fleet report`` prints),
rendered as a page: availability per terminal against the target and next to the terminal's own
figure, devices, faults by class and action, incidents against the response targets, inspections and
the transaction success rate. Links lead to its JSON and to the printable page."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from fleet import timeutil
from fleet.report import RESPONSE_TARGET_S
from fleet.web.charts import bar_chart
from fleet.web.html import Markup, badge, duration, el, join, link, page, pct, query_href, table, terminal_href, when
from fleet.web.pages_overview import availability_bars, figure


def as_json(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _nav(month: str, now: datetime) -> Markup:
    start, nxt = timeutil.month_bounds(month)
    prev_m = (start - timedelta(days=1)).strftime("%Y-%m")
    next_m = nxt.strftime("%Y-%m")
    parts = [link(query_href("/report", month=prev_m), f"\u2190 {prev_m}")]
    if next_m <= now.strftime("%Y-%m"):
        parts.append(link(query_href("/report", month=next_m), f"{next_m} \u2192"))
    parts.append(link(query_href("/report.json", month=month), "JSON"))
    parts.append(link(query_href("/report/print", month=month), "Printable page"))
    return el("nav", *parts, class_="months")


def _met(v: bool | None) -> Markup | str:
    return "" if v is None else badge("met", "ok") if v else badge("below", "bad")


def _terminals(doc: dict[str, Any]) -> Markup:
    rows, classes = [], []
    for t in doc["terminals"]:
        ag = t.get("agreement") or {}
        agreement = "" if not ag else ("agrees" if ag.get("agrees") else ag.get("why") or "differs")
        if ag and ag.get("diff_pp") is not None and not ag.get("agrees"):
            agreement = f"{ag['diff_pp']:+.2f} pp: {agreement}"
        tx = t["transactions"]
        rows.append([link(terminal_href(t["terminal_id"]), t["terminal_id"]), t["site"] or "", t["site_class"] or "",
                     pct(t["availability"]), _met(t["met"]), pct(t["terminal_reported_availability"]), agreement,
                     len(t["incidents"]), t["repeat_faults"], t["inspections"],
                     f"{pct(tx['success_rate'])} of {tx['total']}" if tx["total"] else "\u2013"])
        classes.append("bad" if t["met"] is False else None)
    return table(["terminal", "site", "class", "availability", f"target {pct(doc['target'], 0)}", "terminal's own",
                  "agreement", "incidents", "repeat faults", "inspections", "transactions completed"], rows,
                 row_classes=classes, empty="no terminal reported this month", id="report-terminals")


def _devices(doc: dict[str, Any]) -> Markup:
    """Devices that had a fault or fell below target (every device is in the JSON: a large fleet has
    tens of thousands)."""
    rows = []
    total = 0
    for t in doc["terminals"]:
        for name, d in t["devices"].items():
            total += 1
            if not d["faults"] and (d["availability"] is None or d["availability"] >= doc["target"]):
                continue
            rows.append([link(terminal_href(t["terminal_id"]), t["terminal_id"]), name, d.get("class") or "",
                         badge("required", "muted") if d.get("required") else "", pct(d["availability"]),
                         d["faults"]])
    note = el("p", f"{len(rows)} of {total} devices had a fault or were below target; ",
              link(query_href("/report.json", month=doc["month"]), "the JSON"), " has them all.", class_="muted")
    return join([table(["terminal", "device", "class", "", "availability", "faults"], rows,
                       empty="every device met the target without a fault", id="report-devices"), note])


def _faults(doc: dict[str, Any]) -> Markup:
    total: Counter[str] = Counter()
    for t in doc["terminals"]:
        total.update(t["faults_by_class_action"])
    rows = [[*key.split("/", 2), n] for key, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))]
    return table(["class", "fault", "action", "count"], rows, empty="no fault", id="report-faults")


def _incidents(doc: dict[str, Any]) -> Markup:
    rows, classes = [], []
    for t in doc["terminals"]:
        for i in t["incidents"]:
            met = i.get("response_met")
            target = i.get("response_target_s")
            rows.append([link(terminal_href(i["terminal_id"]), i["terminal_id"]), i["device"], i["fault"],
                         i["action"] or "", when(i["opened"]),
                         when(i["closed"]) if i["closed"] else badge("open", "bad"),
                         duration(i["response_s"]), "\u2013" if target is None else duration(target),
                         "" if met is None else badge("met", "ok") if met else badge("missed", "bad"),
                         duration(i["repair_s"]), badge("repeat", "warn") if i["repeat"] else ""])
            classes.append("bad" if met is False else None)
    return table(["terminal", "device", "fault", "action", "opened (UTC)", "closed (UTC)", "response",
                  "response target", "", "repair", ""], rows, row_classes=classes, empty="no incident this month",
                 id="report-incidents")


def render(doc: dict[str, Any], now: datetime) -> bytes:
    bars = availability_bars(doc)
    unknown = len(doc["terminals"]) - len(bars)
    incs = doc["incidents"]
    targets = ", ".join(f"{k} {duration(v)}" for k, v in sorted(RESPONSE_TARGET_S.items()))
    below = doc["below_target"]
    body = join([
        _nav(doc["month"], now),
        el("p", f"Figures from the terminals' device events, {doc['month']} to {when(doc['window_end'])} UTC; "
                f"availability target {pct(doc['target'], 0)}; response targets by site class: {targets}.",
           class_="muted"),
        el("div", figure(len(doc["terminals"]), "terminals", id_="fig-terminals"),
           figure(len(below), "below target", "bad" if below else "ok", id_="fig-below-target"),
           figure(incs["total"], "incidents", id_="fig-incidents"),
           figure(incs["open"], "still open", "bad" if incs["open"] else "ok", id_="fig-open"),
           figure(incs["repeat"], "repeat faults", "bad" if incs["repeat"] else "ok", id_="fig-repeat"),
           class_="figures"),
        el("p", "Below target: ", join([link(terminal_href(t), t) for t in below], ", ") if below else "none",
           id="below-target"),
        el("section", bar_chart(bars, doc["target"], f"Availability {doc['month']}"),
           el("p", f"{unknown} without a figure (no device events) this month." if unknown else "", class_="muted"),
           class_="card", id="availability"),
        el("h2", "Terminals"), _terminals(doc),
        el("h2", "Incidents"), _incidents(doc),
        el("h2", "Faults by class and action"), _faults(doc),
        el("h2", "Devices with faults or below target"), _devices(doc),
    ])
    return page(f"Service report {doc['month']}", body, here="/report", now=now)
