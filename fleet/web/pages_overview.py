"""The fleet at a glance: headline figures, this month's availability chart, terminals by site and
state, who is offline now, the open incidents, and the terminal table (filterable by site and state)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fleet import ops
from fleet.store import Store
from fleet.web import queries
from fleet.web.charts import Bar, bar_chart
from fleet.web.html import Markup, age, badge, el, join, link, page, pct, query_href, table, terminal_href, when

#: bars in the overview chart (the lowest figures; the report page has every terminal)
CHART_MAX = 40
#: rows in the terminal table before the page asks for a filter
TABLE_MAX = 500
LIST_MAX = 200

STATE_LABEL = {"ok": "ok", "degraded": "degraded", "out_of_service": "out of service", "unknown": "no health yet",
               "offline": "offline"}
STATE_KIND = {"ok": "ok", "degraded": "warn", "out_of_service": "bad", "unknown": "muted", "offline": "bad"}


def state_badge(state: str) -> Markup:
    return badge(STATE_LABEL.get(state, state), STATE_KIND.get(state, "muted"))


def figure(n: Any, label: str, kind: str = "", id_: str | None = None) -> Markup:
    return el("div", el("div", n, class_="n"), el("div", label, class_="l"), class_=f"figure {kind}".strip(), id=id_)


def availability_bars(doc: dict[str, Any], limit: int | None = None) -> list[Bar]:
    """Terminals with a figure, lowest first (ties by id)."""
    known = [t for t in doc["terminals"] if t["availability"] is not None]
    known.sort(key=lambda t: (t["availability"], t["terminal_id"]))
    bars = [Bar(t["terminal_id"], t["availability"], terminal_href(t["terminal_id"])) for t in known]
    return bars[:limit] if limit else bars


def _headline(terms: list[dict[str, Any]], open_incs: list[dict[str, Any]], doc: dict[str, Any]) -> Markup:
    offline = sum(1 for t in terms if not t["online"])
    figs = [t["availability"] for t in doc["terminals"] if t["availability"] is not None]
    mean = sum(figs) / len(figs) if figs else None
    below = len(doc["below_target"])
    return el("div",
              figure(len(terms), "terminals", id_="fig-terminals"),
              figure(len(terms) - offline, "online", "ok", id_="fig-online"),
              figure(offline, "offline now", "bad" if offline else "ok", id_="fig-offline"),
              figure(len(open_incs), "open incidents", "bad" if open_incs else "ok", id_="fig-open-incidents"),
              figure(pct(mean), "mean availability this month", id_="fig-availability"),
              figure(below, f"below the {pct(doc['target'], 0)} target", "bad" if below else "ok",
                     id_="fig-below-target"),
              class_="figures")


def _matrix(terms: list[dict[str, Any]], sites: dict[str, dict[str, Any]]) -> Markup:
    rows = []
    for site, counts in queries.by_site_and_state(terms).items():
        meta = sites.get(site) or {}
        cells: list[Any] = [site or "(none)", meta.get("name") or "", meta.get("class") or ""]
        for s in queries.STATES:
            n = counts.get(s, 0)
            cells.append(link(query_href("/", site=site, state=s) + "#terminals", n) if n else "0")
        cells.append(link(query_href("/", site=site) + "#terminals", sum(counts.values())))
        rows.append(cells)
    headers = ["site", "name", "class", *(STATE_LABEL[s] for s in queries.STATES), "total"]
    return table(headers, rows, empty="no terminals yet", id="by-site")


def _offline(terms: list[dict[str, Any]], now: datetime) -> Markup:
    off = sorted((t for t in terms if not t["online"]), key=lambda t: (t["last_seen"] or "", t["terminal_id"]))
    rows = [[link(terminal_href(t["terminal_id"]), t["terminal_id"]), t["site"] or "", t["reason"] or "",
             age(t["last_seen"], now), when(t["last_seen"])] for t in off[:LIST_MAX]]
    note = el("p", f"{len(off) - LIST_MAX} more not shown.", class_="muted") if len(off) > LIST_MAX else ""
    return join([table(["terminal", "site", "reason", "silent for", "last seen (UTC)"], rows,
                       empty="every terminal is online", id="offline"), note])


def incident_rows(incs: list[dict[str, Any]], now: datetime, with_terminal: bool = True) -> list[list[Any]]:
    rows = []
    for i in incs:
        row: list[Any] = [link(terminal_href(i["terminal_id"]), i["terminal_id"])] if with_terminal else []
        row += [i["device"], i["fault"], i["action"] or "", when(i["opened"]),
                age(i["opened"], now) if i["closed"] is None else badge("closed " + when(i["closed"]), "muted"),
                when(i["responded"]) if i["responded"] else "", badge("repeat", "warn") if i["repeat"] else ""]
        rows.append(row)
    return rows


def _terminal_table(terms: list[dict[str, Any]], doc: dict[str, Any], open_incs: list[dict[str, Any]],
                    now: datetime, site: str | None, state: str | None) -> Markup:
    month = {t["terminal_id"]: t for t in doc["terminals"]}
    n_open: dict[str, int] = {}
    for i in open_incs:
        n_open[i["terminal_id"]] = n_open.get(i["terminal_id"], 0) + 1
    shown = [t for t in terms if (site is None or (t["site"] or "") == site)
             and (state is None or queries.state_of(t) == state)]
    rows, classes = [], []
    for t in shown[:TABLE_MAX]:
        m = month.get(t["terminal_id"]) or {}
        st = queries.state_of(t)
        rows.append([link(terminal_href(t["terminal_id"]), t["terminal_id"]), t["site"] or "", state_badge(st),
                     pct(m.get("availability")), pct(m.get("terminal_reported_availability")),
                     n_open.get(t["terminal_id"], 0), "" if t["queue_pending"] is None else t["queue_pending"],
                     age(t["last_seen"], now), t["version"] or ""])
        classes.append("bad" if m.get("met") is False else None)
    parts: list[Any] = []
    if site is not None or state is not None:
        what = ", ".join(f"{k} {v!r}" for k, v in (("site", site), ("state", state)) if v is not None)
        parts.append(el("p", f"Showing {len(shown)} of {len(terms)} terminals ({what}). ", link("/", "Show all.")))
    parts.append(table(["terminal", "site", "state", "availability (month)", "terminal's own", "open incidents",
                        "queue", "last seen", "version"], rows, row_classes=classes, empty="no terminal matches",
                       id="terminals"))
    if len(shown) > TABLE_MAX:
        parts.append(el("p", f"First {TABLE_MAX} of {len(shown)}: choose a site or a state above to narrow the list.",
                        class_="muted"))
    return join(parts)


def render(store: Store, doc: dict[str, Any], now: datetime, site: str | None, state: str | None) -> bytes:
    terms = ops.terminals(store)
    open_incs = ops.incidents(store, open_only=True)
    sites = queries.site_names(store)
    bars = availability_bars(doc, CHART_MAX)
    charted = sum(1 for t in doc["terminals"] if t["availability"] is not None)
    unknown = len(terms) - charted
    chart_note = (f"The {len(bars)} lowest of {charted} terminals with a figure"
                  if charted > len(bars) else f"All {charted} terminals with a figure")
    chart_note += f"; {unknown} without device events this month." if unknown else "."
    chart_note += f" Computed {when(doc['generated'])} UTC."
    open_incs_sorted = sorted(open_incs, key=lambda i: (i["opened"], i["id"]))
    inc_table = table(["terminal", "device", "fault", "action", "opened (UTC)", "open for", "engineer responded",
                       ""], incident_rows(open_incs_sorted[:LIST_MAX], now), empty="no open incident",
                      id="open-incidents")
    body = join([
        _headline(terms, open_incs, doc),
        el("h2", f"Availability this month ({doc['month']}), lowest first"),
        el("section", bar_chart(bars, doc["target"], f"Availability {doc['month']}"),
           el("p", chart_note, " ", link(query_href("/report", month=doc["month"]), "The monthly report"),
              " has every terminal and device.", class_="muted"), class_="card", id="availability"),
        el("h2", "Terminals by site and state"), _matrix(terms, sites),
        el("h2", f"Offline now ({sum(1 for t in terms if not t['online'])})"), _offline(terms, now),
        el("h2", f"Open incidents ({len(open_incs)})"), inc_table,
        el("h2", "Terminals"), _terminal_table(terms, doc, open_incs, now, site, state),
    ])
    return page("Fleet", body, here="/", now=now)
