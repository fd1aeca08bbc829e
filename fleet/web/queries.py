"""Read queries the dashboard needs beyond the store's and ``fleet.ops``' own (SELECT only).

A terminal's availability over time is computed here the way ``fleet.report`` computes a month
(``fleet.availability`` over the terminal's ``device_state`` events, the same required devices), but
for one terminal and any window, so a terminal page never has to build the whole fleet's report.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fleet import ops, timeutil
from fleet.availability import USABLE, Change, terminal_figure
from fleet.store import Store
from fleet.store.base import ts_out

#: the overview's columns: an offline terminal is "offline" whatever its last health said
STATES = ("ok", "degraded", "out_of_service", "unknown", "offline")


def _json(v: Any) -> Any:
    if v is None:
        return None
    return json.loads(v) if isinstance(v, str) else v


def state_of(t: dict[str, Any]) -> str:
    if not t["online"]:
        return "offline"
    return t["state"] if t["state"] in STATES else "unknown"


def by_site_and_state(terminals: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """site -> Counter(state); terminals with no site are under ''."""
    out: dict[str, Counter[str]] = {}
    for t in terminals:
        out.setdefault(t["site"] or "", Counter())[state_of(t)] += 1
    return dict(sorted(out.items()))


def site_names(store: Store) -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in ops.sites(store)}


def terminal(store: Store, terminal_id: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM terminals WHERE terminal_id = ?", (terminal_id,))
    if not rows:
        return None
    r = rows[0]
    return {**r, "online": bool(r["online"]), "health": _json(r["health"]) or {},
            **{k: ts_out(r[k]) for k in ("last_seen", "last_health", "status_ts")}}


def recent_events(store: Store, terminal_id: str, limit: int = 50) -> list[dict[str, Any]]:
    rows = store.query("SELECT seq, ts, type, device, received, payload FROM events WHERE terminal_id = ? "
                       "ORDER BY ts DESC, seq DESC LIMIT ?", (terminal_id, limit))
    return [{"seq": int(r["seq"]), "ts": ts_out(r["ts"]), "type": r["type"], "device": r["device"],
             "received": ts_out(r["received"]), "data": (_json(r["payload"]) or {}).get("data") or {}}
            for r in rows]


def months(store: Store, terminal_id: str) -> dict[str, dict[str, Any]]:
    """month -> the terminal's own figures (from its last health document of that month)."""
    rows = store.query("SELECT month, ts, availability, devices, required FROM terminal_months "
                       "WHERE terminal_id = ?", (terminal_id,))
    return {r["month"]: {"ts": ts_out(r["ts"]), "availability": r["availability"],
                         "devices": _json(r["devices"]) or {}, "required": _json(r["required"])} for r in rows}


def changes(store: Store, terminal_id: str, since: str, until: str) -> list[Change]:
    """The terminal's device_state changes in [since, until), preceded by each device's last one before."""
    rows = store.query("SELECT device, seq, ts, payload FROM events WHERE terminal_id = ? AND type = ? "
                       "AND ts >= ? AND ts < ? ORDER BY seq", (terminal_id, "device_state", since, until))
    before = store.query(
        "SELECT e.device, e.seq, e.ts, e.payload FROM events e JOIN ("
        " SELECT device, MAX(seq) AS seq FROM events WHERE terminal_id = ? AND type = ? AND ts < ? GROUP BY device"
        ") m ON e.device = m.device AND e.seq = m.seq WHERE e.terminal_id = ? AND e.type = ?",
        (terminal_id, "device_state", since, terminal_id, "device_state"))
    out = []
    for r in sorted(before, key=lambda r: int(r["seq"])) + rows:
        state = ((_json(r["payload"]) or {}).get("data") or {}).get("state")
        out.append(Change(timeutil.parse(ts_out(r["ts"])).timestamp(), r["device"] or "-", state in USABLE))
    return out


@dataclass(frozen=True)
class History:
    days: list[tuple[str, float | None]]
    months: list[dict[str, Any]]


def _required(month_row: dict[str, Any] | None, health: dict[str, Any], seen: set[str]) -> list[str]:
    """As the report decides it: the terminal's own list for that month, else its health, else all seen."""
    if month_row and month_row.get("required"):
        return list(month_row["required"])
    req = [d for d, m in (health.get("devices") or {}).items() if isinstance(m, dict) and m.get("required")]
    return req or sorted(seen)


def _month_starts(now: datetime, count: int) -> list[datetime]:
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    out = [first]
    while len(out) < count:
        out.append((out[-1] - timedelta(days=1)).replace(day=1))
    return list(reversed(out))


def history(store: Store, term: dict[str, Any], now: datetime, days: int = 30, month_count: int = 6) -> History:
    """Daily availability over the last ``days`` days and monthly over the last ``month_count`` months,
    next to the terminal's own monthly figure."""
    tid = term["terminal_id"]
    starts = _month_starts(now, month_count)
    first_day = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    since = min(starts[0], first_day)
    ch = changes(store, tid, timeutil.iso(since), timeutil.iso(now + timedelta(seconds=1)))
    own = months(store, tid)
    health = term.get("health") or {}

    def figure(start: datetime, end: datetime) -> float | None:
        stop = min(end, now)
        if stop <= start:
            return None
        seen = {c.device for c in ch if c.t < stop.timestamp()}
        req = _required(own.get(start.strftime("%Y-%m")), health, seen)
        return terminal_figure(ch, req, start.timestamp(), stop.timestamp()).value

    day_points = []
    for i in range(days):
        d = first_day + timedelta(days=i)
        day_points.append((d.strftime("%m-%d"), figure(d, d + timedelta(days=1))))
    month_rows = []
    for s in starts:
        month = s.strftime("%Y-%m")
        _, end = timeutil.month_bounds(month)
        mine = own.get(month) or {}
        month_rows.append({"month": month, "availability": figure(s, end),
                           "terminal_reported": mine.get("availability"), "reported_at": mine.get("ts")})
    return History(day_points, month_rows)


def transactions_summary(store: Store, terminal_id: str, since: str, until: str) -> dict[str, int]:
    rows = store.query("SELECT outcome, COUNT(*) AS n FROM transactions WHERE terminal_id = ? AND ts >= ? "
                       "AND ts < ? GROUP BY outcome", (terminal_id, since, until))
    return {r["outcome"]: int(r["n"]) for r in rows}
