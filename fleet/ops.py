"""The operations queries behind ``terminals``, ``incidents``, ``transactions``, ``gaps``, ``sites``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from fleet import timeutil
from fleet.store import Store
from fleet.store.base import ts_out

SITE_CLASSES = ("urban", "suburban")


def terminals(store: Store) -> list[dict[str, Any]]:
    rows = store.query("SELECT terminal_id, site, online, reason, state, boot_id, session, last_seen, last_health, "
                       "queue_pending, version FROM terminals ORDER BY terminal_id")
    return [{**r, "online": bool(r["online"]), "last_seen": ts_out(r["last_seen"]),
             "last_health": ts_out(r["last_health"])} for r in rows]


def _seconds(a: Any, b: Any) -> float | None:
    if a is None or b is None:
        return None
    return round((timeutil.parse(ts_out(b)) - timeutil.parse(ts_out(a))).total_seconds(), 3)


def incident_row(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": int(r["id"]), "terminal_id": r["terminal_id"], "device": r["device"], "fault": r["fault"],
            "action": r["action"], "opened": ts_out(r["opened"]), "closed": ts_out(r["closed"]),
            "responded": ts_out(r["responded"]), "response_s": _seconds(r["opened"], r["responded"]),
            "repair_s": _seconds(r["opened"], r["closed"]), "repeat": bool(r["repeat"])}


def incidents(store: Store, *, open_only: bool = False, terminal: str | None = None,
              since: str | None = None, until: str | None = None) -> list[dict[str, Any]]:
    where, params = [], []
    if open_only:
        where.append("closed IS NULL")
    if terminal:
        where.append("terminal_id = ?")
        params.append(terminal)
    if since:
        where.append("opened >= ?")
        params.append(timeutil.norm(since))
    if until:
        where.append("opened < ?")
        params.append(timeutil.norm(until))
    sql = "SELECT * FROM incidents" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY opened, id"
    return [incident_row(r) for r in store.query(sql, params)]


def transactions(store: Store, *, terminal: str | None = None, txn_id: str | None = None,
                 since: str | None = None, until: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    where, params = [], []
    for cond, val in (("terminal_id = ?", terminal), ("txn_id = ?", txn_id),
                      ("ts >= ?", timeutil.norm(since) if since else None),
                      ("ts < ?", timeutil.norm(until) if until else None)):
        if val is not None:
            where.append(cond)
            params.append(val)
    sql = ("SELECT txn_id, terminal_id, site, boot_id, seq, ts, kind, amount, currency, method, outcome, offline, "
           "received FROM transactions" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY terminal_id, seq LIMIT ?")
    rows = store.query(sql, [*params, limit])
    return [{**r, "seq": int(r["seq"]), "ts": ts_out(r["ts"]), "received": ts_out(r["received"]),
             "offline": None if r["offline"] is None else bool(r["offline"])} for r in rows]


def quarantine(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    rows = store.query("SELECT id, received, topic, reason, payload FROM quarantine ORDER BY id DESC LIMIT ?", (limit,))
    return [{**r, "id": int(r["id"]), "received": ts_out(r["received"])} for r in rows]


def sites(store: Store) -> list[dict[str, Any]]:
    return store.query("SELECT code, name, class FROM sites ORDER BY code")


def set_site(store: Store, code: str, name: str, klass: str) -> None:
    if klass not in SITE_CLASSES:
        raise ValueError(f"site class is one of {', '.join(SITE_CLASSES)}, got {klass!r}")
    with store.transaction():
        store.execute("INSERT INTO sites (code, name, class) VALUES (?, ?, ?) ON CONFLICT (code) DO UPDATE SET "
                      "name = excluded.name, class = excluded.class", (code, name, klass))


def import_sites(store: Store, path: Path) -> int:
    """CSV with a header ``code,name,class``; or a JSON array of such objects. All or nothing."""
    text = path.read_text(encoding="utf-8")
    rows = json.loads(text) if path.suffix == ".json" else list(csv.DictReader(text.splitlines()))
    problems = []
    for i, r in enumerate(rows, 1):
        if not isinstance(r, dict) or not r.get("code") or not r.get("name") or r.get("class") not in SITE_CLASSES:
            problems.append(f"row {i}: needs code, name and class (urban|suburban): {r!r}")
    if problems:
        raise ValueError("; ".join(problems))
    with store.transaction():
        for r in rows:
            set_site(store, r["code"], r["name"], r["class"])
    return len(rows)
