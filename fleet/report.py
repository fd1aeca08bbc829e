"""``kiosk-fleet report --month YYYY-MM``: the monthly service report the contracts are written in."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from fleet import timeutil
from fleet.availability import USABLE, Change, device_figure, terminal_figure
from fleet.ops import incidents
from fleet.store import Store
from fleet.store.base import ts_out

TARGET = 0.98
#: response targets by site class (seconds)
RESPONSE_TARGET_S = {"urban": 2 * 3600, "suburban": 4 * 3600}
AGREE_PP = 0.1


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 6)


#: device events that stand behind a business transaction that did not complete
DEVICE_FAILURE_EVENTS = ("note_rejected", "card_read_failed", "receipt_failed", "receipt_unverified")


def _json(v: Any) -> Any:
    return json.loads(v) if isinstance(v, str) else v


def _changes(store: Store, month_start: str, month_end: str) -> dict[str, list[Change]]:
    """Per terminal: every device_state in the window, plus each device's last one before it."""
    rows = store.query("SELECT terminal_id, device, seq, ts, payload FROM events WHERE type = ? AND ts < ? "
                       "AND ts >= ? ORDER BY terminal_id, seq", ("device_state", month_end, month_start))
    before = store.query(
        "SELECT e.terminal_id, e.device, e.seq, e.ts, e.payload FROM events e JOIN ("
        " SELECT terminal_id, device, MAX(seq) AS seq FROM events WHERE type = ? AND ts < ? "
        " GROUP BY terminal_id, device) m ON e.terminal_id = m.terminal_id AND e.device = m.device AND e.seq = m.seq "
        "WHERE e.type = ?", ("device_state", month_start, "device_state"))
    since: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for r in store.query("SELECT terminal_id, device, state, since FROM device_since WHERE since < ?", (month_end,)):
        since[(r["terminal_id"], r["device"], r["state"])].append(timeutil.parse(ts_out(r["since"])).timestamp())
    out: dict[str, list[Change]] = defaultdict(list)
    prev: dict[tuple[str, str], float] = {}
    for r in sorted(before, key=lambda r: (r["terminal_id"], int(r["seq"]))) + rows:
        state = (_json(r["payload"]).get("data") or {}).get("state")
        device = r["device"] or "-"
        t = timeutil.parse(ts_out(r["ts"])).timestamp()
        # the state began when the terminal's health says (devices.NAME.since), if that lies between the
        # device's previous event and this one: the event itself is stamped when it was journalled. A
        # device's first event keeps its ts: the terminal's ledger (its observed span) starts there,
        # while the snapshot's since of "starting" predates it
        lo = prev.get((r["terminal_id"], device))
        began = [x for x in since.get((r["terminal_id"], device, str(state)), ())
                 if lo is not None and lo < x <= t]
        prev[(r["terminal_id"], device)] = t
        out[r["terminal_id"]].append(Change(max(began) if began else t, device, state in USABLE))
    return out


def build(store: Store, month: str, now: datetime | None = None) -> dict[str, Any]:
    start_dt, end_dt = timeutil.month_bounds(month)
    now = now or datetime.now(UTC)
    stop_dt = min(end_dt, now)
    start, stop = start_dt.timestamp(), stop_dt.timestamp()
    s_iso, e_iso = timeutil.iso(start_dt), timeutil.iso(end_dt)
    changes = _changes(store, s_iso, e_iso)
    months = {r["terminal_id"]: r for r in store.query("SELECT * FROM terminal_months WHERE month = ?", (month,))}
    terms = {r["terminal_id"]: r for r in store.query("SELECT terminal_id, site, health FROM terminals")}
    site_class = {r["code"]: r["class"] for r in store.query("SELECT code, class FROM sites")}
    incs = incidents(store, since=s_iso, until=e_iso)
    by_terminal: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for i in incs:
        by_terminal[i["terminal_id"]].append(i)
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    for r in store.query("SELECT terminal_id, outcome, COUNT(*) AS n FROM transactions WHERE ts >= ? AND ts < ? "
                         "GROUP BY terminal_id, outcome", (s_iso, e_iso)):
        outcomes[r["terminal_id"]][r["outcome"]] = int(r["n"])
    # why the attempts that did not complete failed (the transaction's reason, read from its payload:
    # few rows), and the device failures of the month behind them
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for r in store.query("SELECT terminal_id, payload FROM transactions WHERE ts >= ? AND ts < ? "
                         "AND outcome <> 'completed'", (s_iso, e_iso)):
        reasons[r["terminal_id"]][str((_json(r["payload"]) or {}).get("reason") or "unknown")] += 1
    device_failures: dict[str, Counter[str]] = defaultdict(Counter)
    for r in store.query("SELECT terminal_id, type, COUNT(*) AS n FROM events WHERE ts >= ? AND ts < ? AND type IN "
                         "(?, ?, ?, ?) GROUP BY terminal_id, type", (s_iso, e_iso, *DEVICE_FAILURE_EVENTS)):
        device_failures[r["terminal_id"]][r["type"]] = int(r["n"])
    reports = Counter(r["terminal_id"] for r in store.query(
        "SELECT terminal_id FROM reports WHERE ts >= ? AND ts < ? AND type = ?", (s_iso, e_iso, "inspection")))
    out_terms = []
    ids = sorted(set(changes) | set(months) | set(by_terminal))
    for tid in ids:
        ch = changes.get(tid, [])
        own = months.get(tid)
        health = _json((terms.get(tid) or {}).get("health")) or {}
        dev_meta = health.get("devices") or {}
        required = _json(own["required"]) if own and own.get("required") else [
            d for d, m in dev_meta.items() if isinstance(m, dict) and m.get("required")]
        required = required or sorted({c.device for c in ch})
        site = (terms.get(tid) or {}).get("site")
        klass = site_class.get(site or "")
        devices: dict[str, Any] = {}
        for dev in sorted({c.device for c in ch} | set(dev_meta)):
            dfig = device_figure(ch, dev, start, stop)
            faults = [i for i in by_terminal.get(tid, []) if i["device"] == dev]
            devices[dev] = {"class": (dev_meta.get(dev) or {}).get("class"), "availability": _r(dfig.value),
                            "faults": len(faults), "required": dev in required}
        fig = terminal_figure(ch, required, start, stop)
        reported = own["availability"] if own else None
        agreement = None
        if own and reported is not None:
            at = timeutil.parse(ts_out(own["ts"]))
            same = terminal_figure(ch, required, start, min(at, stop_dt).timestamp())
            diff = None if same.value is None else round((same.value - reported) * 100, 4)
            why = None
            if diff is None:
                why = "no device_state events from this terminal in the month"
            elif abs(diff) > AGREE_PP:
                restarts = _restarts(store, tid, s_iso, e_iso)
                why = ("the terminal counts the time its agent was stopped or crashed against itself; the events "
                       f"show {restarts} agent start(s) this month" if restarts > 1 else
                       "the events and the terminal's ledger disagree (events lost or not yet ingested?)")
            agreement = {"at": timeutil.iso(at), "fleet_at": _r(same.value), "diff_pp": diff,
                         "agrees": diff is not None and abs(diff) <= AGREE_PP, "why": why}
        tincs = by_terminal.get(tid, [])
        target = RESPONSE_TARGET_S.get(klass or "")
        for i in tincs:
            i["response_target_s"] = target
            i["response_met"] = None if target is None or i["response_s"] is None else i["response_s"] <= target
        oc = outcomes.get(tid, Counter())
        total = sum(oc.values())
        out_terms.append({
            "terminal_id": tid, "site": site, "site_class": klass, "availability": _r(fig.value),
            "target": TARGET, "met": None if fig.value is None else fig.value >= TARGET,
            "terminal_reported_availability": reported, "agreement": agreement, "devices": devices,
            "incidents": tincs,
            "faults_by_class_action": _faults(tincs, dev_meta),
            "repeat_faults": sum(1 for i in tincs if i["repeat"]),
            "inspections": reports.get(tid, 0),
            "transactions": {"total": total, "by_outcome": dict(oc),
                             "success_rate": _r(oc.get("completed", 0) / total) if total else None,
                             "by_reason": dict(reasons.get(tid, Counter())),
                             "device_failures": dict(device_failures.get(tid, Counter()))},
        })
    below = [t["terminal_id"] for t in out_terms if t["met"] is False]
    return {"month": month, "generated": timeutil.iso(now), "window_end": timeutil.iso(stop_dt), "target": TARGET,
            "terminals": out_terms, "below_target": below,
            "incidents": {"total": len(incs), "open": sum(1 for i in incs if i["closed"] is None),
                          "repeat": sum(1 for i in incs if i["repeat"])}}


def _faults(incs: list[dict[str, Any]], dev_meta: dict[str, Any]) -> dict[str, int]:
    c: Counter[str] = Counter()
    for i in incs:
        klass = (dev_meta.get(i["device"]) or {}).get("class") or i["device"]
        c[f"{klass}/{i['fault']}/{i['action']}"] += 1
    return dict(sorted(c.items()))


def _restarts(store: Store, terminal: str, s_iso: str, e_iso: str) -> int:
    rows = store.query("SELECT payload FROM events WHERE terminal_id = ? AND type = ? AND ts >= ? AND ts < ?",
                       (terminal, "device_state", s_iso, e_iso))
    return len({(_json(r["payload"]) or {}).get("boot_id") for r in rows})
