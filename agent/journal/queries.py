"""Reading the outbox: records, one transaction's state, figures for health and the limits.

Ages are measured on the journal clock (agent/journal/jclock.py), never on the wall clock alone.
The figures that must stay cheap whatever the backlog (counts by state and kind, the offline
exposure) are kept by triggers (migrations 0004 and 0005) and read here in a few rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent.journal.db import JournalDb
from agent.journal.jclock import JournalClock, age_s
from agent.journal.records import COLS, PENDING, OutboxRecord, from_row
from drivers.base.clock import Clock

_OLDEST_PENDING = ("SELECT seq, jt, ts FROM outbox WHERE seq = (SELECT MIN(s) FROM ("
                   "SELECT MIN(seq) AS s FROM outbox WHERE state = 'queued' UNION ALL "
                   "SELECT MIN(seq) FROM outbox WHERE state = 'sent'))")

_LAST_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'outbox'"

_OLDEST_OFFLINE = ("SELECT seq, jt, ts FROM outbox WHERE seq = (SELECT MIN(s) FROM ("
                   "SELECT MIN(seq) AS s FROM outbox WHERE kind = 'txn' AND offline = 1 AND method = ? "
                   "AND state = 'queued' UNION ALL SELECT MIN(seq) FROM outbox WHERE kind = 'txn' "
                   "AND offline = 1 AND method = ? AND state = 'sent'))")


class Queries:
    def __init__(self, db: JournalDb, *, clock: Clock, jclock: JournalClock) -> None:
        self._db = db
        self.clock = clock
        self.jclock = jclock

    def age_of(self, jt: float | None, ts: str | None) -> float:
        """Seconds since a moment the journal recorded as (journal time, wall timestamp)."""
        if jt is None and ts is None:
            return 0.0
        wall_age = 0.0
        if ts:
            wall_age = (self.clock.now() - datetime.fromisoformat(ts.replace("Z", "+00:00"))).total_seconds()
        return age_s(self.jclock.now(), jt, wall_age_s=wall_age)

    def last_seq(self) -> int:
        """The highest seq ever given (AUTOINCREMENT's own record: still right when pruning has
        removed the newest rows, so a seq is never reported, or reused, twice)."""
        with self._db.lock:
            return int(self._db.conn.execute(_LAST_SEQ).fetchone()[0])

    def count_by_kind(self, after_seq: int, upto_seq: int | None = None) -> dict[str, int]:
        """Records appended in (after_seq, upto_seq], by kind (what an outage queued)."""
        q = "SELECT kind, COUNT(*) FROM outbox WHERE seq > ?"
        params: list[Any] = [after_seq]
        if upto_seq is not None:
            q += " AND seq <= ?"
            params.append(upto_seq)
        with self._db.lock:
            rows = self._db.conn.execute(q + " GROUP BY kind", params).fetchall()
        return {k: int(n) for k, n in rows}

    def get_txn(self, txn_id: str) -> dict[str, Any] | None:
        with self._db.lock:
            row = self._db.conn.execute(
                "SELECT seq, state, attempts, ts, sent_at, settled_at, last_error FROM outbox "
                "WHERE record_id = ? AND kind = 'txn'", (txn_id,)).fetchone()
        if row is None:
            return None
        keys = ("seq", "state", "attempts", "ts", "sent_at", "settled_at", "last_error")
        return {"txn_id": txn_id, **dict(zip(keys, row, strict=True))}

    def records(self, *, state: str | None = None, kind: str | None = None, device: str | None = None,
                after_seq: int = 0, limit: int = 100) -> list[OutboxRecord]:
        where, params = ["seq > ?"], [after_seq]
        for col, val in (("state", state), ("kind", kind), ("device", device)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        with self._db.lock:
            rows = self._db.conn.execute(f"SELECT {COLS} FROM outbox WHERE {' AND '.join(where)} "
                                         f"ORDER BY seq LIMIT ?", (*params, limit)).fetchall()
        return [from_row(r) for r in rows]

    def offline_exposure(self, method: str) -> tuple[int, int, float]:
        """(count, total amount, age in seconds of the oldest) of unsettled offline transactions.

        O(1) in the size of the backlog: count and total are kept by triggers (migration 0005),
        the oldest is one seek on the 0002 index."""
        with self._db.lock:
            kept = self._db.conn.execute("SELECT n, total FROM offline_exposure WHERE method = ?",
                                         (method,)).fetchone()
            n, total = kept if kept else (0, 0)
            oldest = None
            if n:
                # the oldest is the lowest seq, its age on the journal clock (a wall-clock step neither
                # ages nor rejuvenates it); one seek per pending state on (method, state, seq)
                oldest = self._db.conn.execute(_OLDEST_OFFLINE, (method, method)).fetchone()
        age = self.age_of(oldest[1], oldest[2]) if oldest is not None else 0.0
        return int(n), int(total), age

    def event_payloads(self, type_: str, since_ts: str) -> list[str]:
        """The raw payloads of events of one type journalled at or after ``since_ts``, in order."""
        with self._db.lock:
            rows = self._db.conn.execute("SELECT payload FROM outbox WHERE kind = 'event' AND type = ? "
                                         "AND ts >= ? ORDER BY seq", (type_, since_ts)).fetchall()
        return [payload for (payload,) in rows]

    def stats(self, pending_txns: int) -> dict[str, Any]:
        """Counts and bytes by state and kind, the oldest pending record, dead letters."""
        with self._db.lock:
            # kept by triggers (migration 0004): a few rows, whatever the size of the journal
            rows = self._db.conn.execute(
                "SELECT state, kind, n, bytes FROM outbox_counts WHERE n > 0").fetchall()
            # the oldest is the lowest seq (seq follows real time; ts may have jumped): one index
            # seek per pending state (MIN over "state IN (...)" would visit every pending row)
            oldest = self._db.conn.execute(_OLDEST_PENDING).fetchone() or (None, None, None)
            last_seq = self._db.conn.execute(_LAST_SEQ).fetchone()[0]
        by_state = {s: 0 for s in ("queued", "sent", "settled", "dead")}
        by_kind: dict[str, dict[str, int]] = {}
        for state, kind, n, size in rows:
            by_state[state] += n
            if state in PENDING:
                k = by_kind.setdefault(kind, {"count": 0, "bytes": 0})
                k["count"] += n
                k["bytes"] += size
        age = self.age_of(oldest[1], oldest[2]) if oldest[0] is not None else 0.0
        return {"pending": by_state["queued"] + by_state["sent"], **by_state,
                "pending_txns": pending_txns, "by_kind": by_kind, "oldest_age_s": round(age, 1),
                "last_seq": last_seq}

    def integrity_check(self) -> list[str]:
        with self._db.lock:
            return [r[0] for r in self._db.conn.execute("PRAGMA integrity_check").fetchall()]
