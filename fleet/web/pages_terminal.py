"""One terminal: presence and state, its devices, this month's availability (the report's figure),
availability over time (daily and monthly, next to the terminal's own), incidents, recent events, gaps.

Recent events show their data only for device_state events: other events (card reads, scanned codes,
notes) may carry personal or payment data, and a dashboard is no place for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fleet import ops, timeutil
from fleet.store import Store
from fleet.web import queries
from fleet.web.charts import line_chart
from fleet.web.html import Markup, age, badge, el, join, link, page, pct, query_href, table, when
from fleet.web.pages_overview import figure, incident_rows, state_badge

EVENTS_MAX = 50
INCIDENTS_MAX = 100


def _yes(v: Any) -> Markup | str:
    return badge("yes", "ok") if v else ""


def _header(t: dict[str, Any], site: dict[str, Any] | None, row: dict[str, Any] | None, now: datetime) -> Markup:
    st = queries.state_of(t)
    why = t["reason"] or ("never seen" if not t["last_seen"] else "unknown")
    presence = badge("online", "ok") if t["online"] else badge(f"offline ({why})", "bad")
    facts = [
        ("presence", presence), ("state", state_badge(st)),
        ("site", join([t["site"] or "", f" \u2013 {site['name']} ({site['class']})" if site else ""])),
        ("last seen", join([when(t["last_seen"]), " UTC, ", age(t["last_seen"], now), " ago"])
         if t["last_seen"] else "never"),
        ("last health", when(t["last_health"])), ("agent version", t["version"] or ""),
        ("boot id", el("code", t["boot_id"] or "")), ("queue backlog", "" if t["queue_pending"] is None
                                                       else t["queue_pending"]),
    ]
    dl = el("table", *(el("tr", el("th", k), el("td", v)) for k, v in facts), class_="facts", id="facts")
    row = row or {}
    ag = row.get("agreement") or {}
    agreement = ("" if not ag else "agrees" if ag.get("agrees") else ag.get("why") or "")
    txns = row.get("transactions") or {}
    figs = el("div",
              figure(pct(row.get("availability")), "availability this month (fleet)",
                     "bad" if row.get("met") is False else "ok" if row.get("met") else "", id_="fig-availability"),
              figure(pct(row.get("terminal_reported_availability")), "the terminal's own figure",
                     id_="fig-reported"),
              figure(pct(txns.get("success_rate")), f"transaction success ({txns.get('total', 0)} this month)",
                     id_="fig-success"),
              class_="figures")
    note = el("p", f"Agreement with the terminal's own figure: {agreement}.", class_="muted") if agreement else ""
    return join([figs, note, el("section", dl, class_="card")])


def _devices(t: dict[str, Any], row: dict[str, Any] | None) -> Markup:
    health = t["health"].get("devices") or {}
    fleet_dev = (row or {}).get("devices") or {}
    names = sorted(set(health) | set(fleet_dev))
    rows, classes = [], []
    for name in names:
        h = health.get(name) if isinstance(health.get(name), dict) else {}
        f = fleet_dev.get(name) or {}
        state = h.get("state") or ""
        usable = state in ("online", "deviceBusy")
        rows.append([name, h.get("class") or f.get("class") or "",
                     badge(state, "ok" if usable else "bad") if state else "",
                     ", ".join(h.get("faults") or []), h.get("action") or "", when(h.get("since")),
                     _yes(h.get("required", f.get("required"))), pct(f.get("availability")),
                     pct(h.get("availability_month")), pct(h.get("availability_24h")), pct(h.get("availability_30d")),
                     f.get("faults", "")])
        classes.append("bad" if state and not usable else None)
    return table(["device", "class", "state", "faults", "action", "since (UTC)", "required", "month (fleet)",
                  "month (own)", "24 h (own)", "30 d (own)", "faults this month"], rows, row_classes=classes,
                 empty="no device reported yet", id="devices")


def _history(store: Store, t: dict[str, Any], now: datetime, target: float) -> Markup:
    hist = queries.history(store, t, now)
    months = [[link(query_href("/report", month=m["month"]), m["month"]), pct(m["availability"]),
               pct(m["terminal_reported"]), when(m["reported_at"]) if m["reported_at"] else ""]
              for m in reversed(hist.months) if m["availability"] is not None or m["terminal_reported"] is not None]
    return join([
        el("section", line_chart(hist.days, target, "Daily availability, last 30 days"),
           el("p", "Daily availability over the last 30 days (UTC days), from the terminal's device events.",
              class_="muted"), class_="card", id="daily"),
        table(["month", "availability (fleet)", "terminal's own", "own figure as of (UTC)"], months,
              empty="no figures yet", id="months"),
    ])


def _event_summary(e: dict[str, Any]) -> str:
    if e["type"] != "device_state":
        return ""
    d = e["data"]
    prev = d.get("previous")
    parts = [f"{prev} \u2192 {d.get('state')}" if prev else f"{d.get('state')} (first report)"]
    if d.get("raised"):
        parts.append("raised " + ", ".join(map(str, d["raised"])))
    if d.get("cleared"):
        parts.append("cleared " + ", ".join(map(str, d["cleared"])))
    if d.get("action") and d.get("action") != "none":
        parts.append("action " + str(d["action"]))
    return "; ".join(parts)


def render(store: Store, terminal_id: str, doc: dict[str, Any], now: datetime) -> bytes | None:
    t = queries.terminal(store, terminal_id)
    if t is None:
        return None
    row = next((r for r in doc["terminals"] if r["terminal_id"] == terminal_id), None)
    site = queries.site_names(store).get(t["site"] or "")
    incs = sorted(ops.incidents(store, terminal=terminal_id), key=lambda i: (i["opened"], i["id"]), reverse=True)
    open_first = sorted(incs, key=lambda i: i["closed"] is not None)  # stable: newest first within each
    inc_rows = incident_rows(open_first[:INCIDENTS_MAX], now, with_terminal=False)
    classes = ["bad" if i["closed"] is None else None for i in open_first[:INCIDENTS_MAX]]
    events = queries.recent_events(store, terminal_id, EVENTS_MAX)
    ev_rows = [[when(e["ts"]), e["seq"], e["type"], e["device"] or "", _event_summary(e)] for e in events]
    gaps = store.gaps(terminal_id)
    month_start, _ = timeutil.month_bounds(now.strftime("%Y-%m"))
    txns = queries.transactions_summary(store, terminal_id, timeutil.iso(month_start),
                                        timeutil.iso(now + timedelta(days=1)))
    body = join([
        _header(t, site, row, now),
        el("h2", "Devices"), _devices(t, row),
        el("h2", "Availability over time"), _history(store, t, now, doc["target"]),
        el("h2", f"Incidents ({sum(1 for i in incs if i['closed'] is None)} open, {len(incs)} in all)"),
        table(["device", "fault", "action", "opened (UTC)", "open for / closed", "engineer responded", ""],
              inc_rows, row_classes=classes, empty="no incident", id="incidents"),
        el("h2", "Transactions this month"),
        table(["outcome", "count"], sorted(txns.items()), empty="no transaction this month", id="transactions"),
        el("h2", f"Recent events (last {EVENTS_MAX})"),
        table(["time (UTC)", "seq", "type", "device", "change"], ev_rows, empty="no event", id="events"),
        el("h2", "Missing records"),
        table(["first seq", "last seq", "missing"], [[g["first"], g["last"], g["missing"]] for g in gaps],
              empty="none: every seq up to the last one received is stored", id="gaps"),
    ])
    return page(f"Terminal {terminal_id}", body, now=now)
