"""What both stores share: batched idempotent writes, presence, incidents, queries.

SQL is written once with ``?`` placeholders and the dialect both engines accept (``ON CONFLICT``,
``RETURNING``, partial unique indexes); PostgreSQL's store swaps in ``%s``. Times are passed as
ISO 8601 text (PostgreSQL casts them to timestamptz) and read back through :func:`ts_out`.
"""

from __future__ import annotations

import abc
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import structlog

from fleet import timeutil
from fleet.records import Event, Health, Parsed, Quarantined, Report, Status, Txn
from fleet.store import incidents as inc

log = structlog.get_logger(__name__)

TXN_COLS = ("terminal_id", "txn_id", "site", "boot_id", "seq", "ts", "kind", "amount", "currency", "method",
            "outcome", "offline", "received", "payload")
EVENT_COLS = ("terminal_id", "boot_id", "seq", "ts", "event_id", "type", "device", "received", "payload")
REPORT_COLS = ("terminal_id", "boot_id", "seq", "ts", "type", "received", "payload")
#: rows per multi-row INSERT (keeps the bound parameters under both engines' limits)
CHUNK = 500


@dataclass
class BatchResult:
    new: dict[str, int] = field(default_factory=lambda: {"txn": 0, "events": 0, "selftest": 0})
    duplicates: dict[str, int] = field(default_factory=lambda: {"txn": 0, "events": 0, "selftest": 0})
    quarantined: int = 0
    #: (site, terminal) -> txn ids now committed (new and duplicates: a re-sent one lost our ack)
    acks: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    opened: int = 0
    closed: int = 0


def ts_out(v: Any) -> str | None:
    if v is None:
        return None
    return timeutil.iso(v) if isinstance(v, datetime) else str(v)


@dataclass
class _Sorted:
    """One batch sorted by kind, deduplicated by key (the last copy wins), before its transaction."""

    txns: dict[tuple[str, str], Txn] = field(default_factory=dict)
    events: dict[tuple[str, str, int], Event] = field(default_factory=dict)
    reports: dict[tuple[str, str, int], Report] = field(default_factory=dict)
    presence: list[Status | Health] = field(default_factory=list)
    quarantine: list[Quarantined] = field(default_factory=list)
    in_batch_dups: dict[str, int] = field(default_factory=lambda: {"txn": 0, "events": 0, "selftest": 0})

    @classmethod
    def of(cls, items: Sequence[Parsed], res: BatchResult) -> _Sorted:
        b = cls()
        for it in items:
            if isinstance(it, Txn):
                k = (it.terminal_id, it.txn_id)
                b.in_batch_dups["txn"] += k in b.txns
                b.txns[k] = it
                res.acks[(it.site, it.terminal_id)].append(it.txn_id)
            elif isinstance(it, Event | Report):
                table, kind = (b.events, "events") if isinstance(it, Event) else (b.reports, "selftest")
                k3 = (it.terminal_id, it.boot_id, it.seq)
                b.in_batch_dups[kind] += k3 in table
                table[k3] = it  # type: ignore[assignment]
            elif isinstance(it, Quarantined):
                b.quarantine.append(it)
            else:
                b.presence.append(it)
        return b

    def last_seen(self) -> dict[str, tuple[str, str]]:
        """terminal -> (latest received, its site where a transaction names one)."""
        seen: dict[str, tuple[str, str]] = {}
        for t in self.txns.values():
            seen[t.terminal_id] = max(seen.get(t.terminal_id, ("", "")), (t.received, t.site))
        for r in (*self.events.values(), *self.reports.values()):
            seen[r.terminal_id] = max(seen.get(r.terminal_id, ("", "")), (r.received, ""))
        return seen


class Store(abc.ABC):
    """The fleet's own store; the engines (sqlite.py, postgres.py) supply the connection, the
    transaction, and the migration bookkeeping."""

    ph = "?"
    dialect = "sqlite"

    def __init__(self) -> None:
        self.conn: Any = None

    # -- plumbing ------------------------------------------------------------------------------
    def sql(self, text: str) -> str:
        return text if self.ph == "?" else text.replace("?", "%s")

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        cur = self.conn.cursor()
        cur.execute(self.sql(text), tuple(params))
        return cur

    def query(self, text: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.execute(text, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    @abc.abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One database transaction: commit on a clean exit, roll back on an exception."""

    def close(self) -> None:
        self.conn.close()

    def healthy(self) -> bool:
        """True when the store answers a trivial query (a refused batch is then the data's fault)."""
        try:
            self.execute("SELECT 1").fetchall()
            return True
        except Exception:
            return False

    def reconnect(self) -> None:
        """Open a new connection after the store went away (PostgreSQL; SQLite has nothing to do)."""
        return None  # an optional hook, not abstract: the default is right for SQLite

    @abc.abstractmethod
    def applied_versions(self) -> set[int]:
        """The migration numbers already applied."""

    @abc.abstractmethod
    def _apply_script(self, version: int, script: str) -> None:
        """Run one migration script and record its number, atomically."""

    def migrate(self) -> list[int]:
        """Apply the numbered migrations not yet applied; returns their numbers."""
        done = self.applied_versions()
        folder = resources.files("fleet.store") / "migrations" / self.dialect
        applied = []
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if not entry.name.endswith(".sql"):
                continue
            version = int(entry.name.split("_", 1)[0])
            if version in done:
                continue
            self._apply_script(version, entry.read_text(encoding="utf-8"))
            applied.append(version)
            log.info("store_migrated", version=version, store=self.dialect)
        return applied

    def prepare_batch(self, items: Sequence[Parsed]) -> None:
        """Hook run before a batch's transaction (PostgreSQL creates month partitions here)."""
        return None  # an optional hook, not abstract: SQLite has no partitions

    def _insert(self, table: str, cols: Sequence[str], rows: list[tuple[Any, ...]], key: Sequence[str]) -> set[tuple]:
        """Multi-row INSERT .. ON CONFLICT DO NOTHING; returns the keys actually inserted."""
        inserted: set[tuple] = set()
        one = "(" + ",".join("?" * len(cols)) + ")"
        for i in range(0, len(rows), CHUNK):
            chunk = rows[i:i + CHUNK]
            text = (f"INSERT INTO {table} ({','.join(cols)}) VALUES {','.join([one] * len(chunk))} "
                    f"ON CONFLICT DO NOTHING RETURNING {','.join(key)}")
            params = [v for row in chunk for v in row]
            inserted.update(tuple(r) for r in self.execute(text, params).fetchall())
        return inserted

    def _bump(self, name: str, by: int) -> None:
        if by:
            self.execute("INSERT INTO counters (name, value) VALUES (?, ?) "
                         "ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value", (name, by))

    # -- the batch -----------------------------------------------------------------------------
    def write_batch(self, items: Sequence[Parsed]) -> BatchResult:
        """Store one batch in one transaction; idempotent (a redelivered batch changes nothing)."""
        self.prepare_batch(items)
        res = BatchResult()
        b = _Sorted.of(items, res)
        with self.transaction():
            new_t = self._insert("transactions", TXN_COLS,
                                 [tuple(getattr(t, c) for c in TXN_COLS) for t in b.txns.values()],
                                 ("terminal_id", "txn_id"))
            new_e = self._insert("events", EVENT_COLS,
                                 [tuple(getattr(e, c) for c in EVENT_COLS) for e in b.events.values()],
                                 ("terminal_id", "boot_id", "seq"))
            new_r = self._insert("reports", REPORT_COLS,
                                 [tuple(getattr(r, c) for c in REPORT_COLS) for r in b.reports.values()],
                                 ("terminal_id", "boot_id", "seq"))
            for kind, new, total in (("txn", new_t, b.txns), ("events", new_e, b.events),
                                     ("selftest", new_r, b.reports)):
                res.new[kind] = len(new)
                res.duplicates[kind] = len(total) - len(new) + b.in_batch_dups[kind]
                self._bump(f"duplicates_{kind}", res.duplicates[kind])
                self._bump(f"stored_{kind}", len(new))
            for q in b.quarantine:
                self.execute("INSERT INTO quarantine (received, topic, reason, payload) VALUES (?, ?, ?, ?)",
                             (q.received, q.topic, q.reason, q.payload))
            res.quarantined = len(b.quarantine)
            self._bump("quarantined", len(b.quarantine))
            for p in b.presence:
                if isinstance(p, Status):
                    self._apply_status(p, res)
                else:
                    self._apply_health(p, res)
            self._seen_many(b.last_seen(), res)
            self._apply_incidents(b, new_e, new_r, res)
        return res

    def _apply_incidents(self, b: _Sorted, new_e: set[tuple], new_r: set[tuple], res: BatchResult) -> None:
        """Newly stored device-state events open and close incidents; new reports answer them."""
        state_events = sorted((e for k, e in b.events.items() if k in new_e and e.type == "device_state"),
                              key=lambda e: (e.terminal_id, e.seq))
        for e in state_events:
            o, c = inc.apply_device_state(self, e)
            res.opened += o
            res.closed += c
        for r in sorted((r for k, r in b.reports.items() if k in new_r), key=lambda r: (r.terminal_id, r.seq)):
            inc.apply_response(self, r)

    # -- presence --------------------------------------------------------------------------------
    def _terminal(self, terminal_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM terminals WHERE terminal_id = ?", (terminal_id,))
        return rows[0] if rows else None

    def _ensure_terminal(self, terminal_id: str, site: str | None) -> None:
        self.execute("INSERT INTO terminals (terminal_id, site) VALUES (?, ?) ON CONFLICT (terminal_id) DO NOTHING",
                     (terminal_id, site))
        if site:
            self.execute("UPDATE terminals SET site = ? WHERE terminal_id = ? AND (site IS NULL OR site <> ?)",
                         (site, terminal_id, site))

    def _seen(self, terminal_id: str, site: str | None, received: str, res: BatchResult) -> None:
        """Anything from a terminal proves it is up: last_seen, and a silent-offline mark is lifted."""
        self._ensure_terminal(terminal_id, site)
        row = self._terminal(terminal_id)
        assert row is not None
        if ts_out(row["last_seen"]) is None or ts_out(row["last_seen"]) < received:  # type: ignore[operator]
            self.execute("UPDATE terminals SET last_seen = ? WHERE terminal_id = ?", (received, terminal_id))
        if not row["online"] and row["reason"] == "silent":
            self.execute("UPDATE terminals SET online = ?, reason = NULL WHERE terminal_id = ?", (True, terminal_id))
        res.closed += inc.close_offline(self, terminal_id, received)

    def _seen_many(self, seen: dict[str, tuple[str, str]], res: BatchResult) -> None:
        """``_seen`` for every terminal of a batch in a few statements (not a few per terminal)."""
        if not seen:
            return
        items = sorted(seen.items())
        for i in range(0, len(items), CHUNK):
            chunk = items[i:i + CHUNK]
            self.execute(
                "INSERT INTO terminals (terminal_id, site, last_seen) VALUES "
                + ",".join(["(?, ?, ?)"] * len(chunk))
                + " ON CONFLICT (terminal_id) DO UPDATE SET site = COALESCE(excluded.site, terminals.site), "
                "last_seen = CASE WHEN terminals.last_seen IS NULL OR terminals.last_seen < excluded.last_seen "
                "THEN excluded.last_seen ELSE terminals.last_seen END",
                [v for t, (received, site) in chunk for v in (t, site or None, received)])
            marks = ",".join("?" * len(chunk))
            back = self.query(f"SELECT terminal_id FROM terminals WHERE reason = ? AND terminal_id IN ({marks})",
                              ["silent", *(t for t, _ in chunk)])
            for r in back:
                self.execute("UPDATE terminals SET online = ?, reason = NULL WHERE terminal_id = ?",
                             (True, r["terminal_id"]))
                res.closed += inc.close_offline(self, r["terminal_id"], seen[r["terminal_id"]][0])

    def _apply_status(self, s: Status, res: BatchResult) -> None:
        """A status counts only if it is not older than the one we hold: the same boot and a session
        no lower, or another boot with a later ts. A stale will (session k after session k+1's
        online) is therefore discarded and never marks a live terminal offline."""
        self._ensure_terminal(s.terminal_id, s.site)
        row = self._terminal(s.terminal_id)
        assert row is not None
        cur_boot, cur_session, cur_ts = row["boot_id"], row["session"], ts_out(row["status_ts"])
        if cur_ts is not None:
            if s.boot_id is not None and s.boot_id == cur_boot:
                if s.session is not None and cur_session is not None and s.session < cur_session:
                    log.info("stale_status_ignored", terminal_id=s.terminal_id, session=s.session, current=cur_session)
                    return
            elif s.ts < cur_ts:
                log.info("stale_status_ignored", terminal_id=s.terminal_id, boot_id=s.boot_id, ts=s.ts)
                return
        online = s.state == "online"
        self.execute("UPDATE terminals SET online = ?, reason = ?, boot_id = ?, session = ?, status_ts = ? "
                     "WHERE terminal_id = ?",
                     (online, None if online else (s.reason or "offline"), s.boot_id, s.session, s.ts, s.terminal_id))
        if online:
            self._seen(s.terminal_id, s.site, s.received, res)

    def _apply_health(self, h: Health, res: BatchResult) -> None:
        self._ensure_terminal(h.terminal_id, h.site)
        row = self._terminal(h.terminal_id)
        assert row is not None
        last = ts_out(row["last_health"])
        if last is not None and h.ts < last:
            return
        doc = h.doc
        queue = doc.get("queue") or {}
        agent = doc.get("agent") or {}
        self.execute("UPDATE terminals SET state = ?, last_health = ?, queue_pending = ?, version = ?, health = ? "
                     "WHERE terminal_id = ?",
                     (doc.get("state"), h.ts, queue.get("pending"), agent.get("version"),
                      json.dumps(doc, separators=(",", ":")), h.terminal_id))
        month = doc.get("availability_month") or {}
        devices = doc.get("devices") or {}
        for name, d in devices.items():
            if isinstance(d, dict) and d.get("since") and d.get("state"):
                self.execute("INSERT INTO device_since (terminal_id, device, state, since) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT DO NOTHING", (h.terminal_id, name, d["state"], timeutil.norm(d["since"])))
        self.execute(
            "INSERT INTO terminal_months (terminal_id, month, ts, availability, devices, required) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (terminal_id, month) DO UPDATE SET ts = excluded.ts, "
            "availability = excluded.availability, devices = excluded.devices, required = excluded.required "
            "WHERE excluded.ts >= terminal_months.ts",
            (h.terminal_id, timeutil.month_of(h.ts), h.ts, month.get("terminal"),
             json.dumps({n: d.get("availability_month") for n, d in devices.items() if isinstance(d, dict)}),
             json.dumps(sorted(n for n, d in devices.items() if isinstance(d, dict) and d.get("required")))))
        self._seen(h.terminal_id, h.site, h.received, res)

    def mark_silent(self, now: datetime, default_interval: float, factor: float) -> list[str]:
        """Terminals online but unheard for longer than interval x factor: offline, with an incident."""
        gone = []
        with self.transaction():
            for row in self.query("SELECT terminal_id, last_seen, health_interval FROM terminals "
                                  "WHERE online = ? AND last_seen IS NOT NULL", (True,)):
                interval = row["health_interval"] or default_interval
                last = timeutil.parse(ts_out(row["last_seen"]))
                if now - last > timedelta(seconds=interval * factor):
                    self.execute("UPDATE terminals SET online = ?, reason = 'silent' WHERE terminal_id = ?",
                                 (False, row["terminal_id"]))
                    inc.open_offline(self, row["terminal_id"], timeutil.iso(last))
                    gone.append(row["terminal_id"])
        return gone

    def max_seq(self, terminal_id: str) -> int:
        rows = self.query("SELECT MAX(m) AS m FROM (SELECT MAX(seq) AS m FROM transactions WHERE terminal_id = ? "
                          "UNION ALL SELECT MAX(seq) FROM events WHERE terminal_id = ? "
                          "UNION ALL SELECT MAX(seq) FROM reports WHERE terminal_id = ?) x", (terminal_id,) * 3)
        return int(rows[0]["m"] or 0) if rows else 0

    # -- queries -------------------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        return {r["name"]: int(r["value"]) for r in self.query("SELECT name, value FROM counters")}

    def gaps(self, terminal_id: str | None = None, floor: int = 0) -> list[dict[str, Any]]:
        """Missing seq ranges per terminal between the records received (all kinds share one seq);
        ``floor``: only above this seq (one terminal's known-contiguous prefix is not scanned again)."""
        where = "WHERE terminal_id = ? AND seq >= ?" if terminal_id else ""
        params = (terminal_id, floor) * 3 if terminal_id else ()
        rows = self.query(
            "SELECT terminal_id, seq + 1 AS first, nxt - 1 AS last FROM ("
            " SELECT terminal_id, seq, LEAD(seq) OVER (PARTITION BY terminal_id ORDER BY seq) AS nxt FROM ("
            f"  SELECT terminal_id, seq FROM transactions {where} UNION"
            f"  SELECT terminal_id, seq FROM events {where} UNION"
            f"  SELECT terminal_id, seq FROM reports {where}) u) s "
            "WHERE nxt > seq + 1 ORDER BY terminal_id, first", params)
        return [{"terminal_id": r["terminal_id"], "first": int(r["first"]), "last": int(r["last"]),
                 "missing": int(r["last"]) - int(r["first"]) + 1} for r in rows]
