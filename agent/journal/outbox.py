"""The outbox: the state machine of a record, from its insert to its pruning.

State machine of a record (only forward)::

    queued --PUBACK--> settled                      (settle = "puback", or any event/report)
    queued --PUBACK--> sent --fleet ack--> settled  (settle = "fleet-ack", transactions)
    queued|sent --final rejection, attempts spent--> dead --(engineer: queue retry)--> queued
    settled --retention passed on the journal clock--> (deleted)

``dead -> queued`` is the one backward move, and only by an explicit engineer action. Delivery
state is written in relaxed commits (agent/journal/db.py ``relaxed``): a power cut that loses a
"settled" costs one redelivery, which consumers deduplicate by id.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import structlog

from agent.journal.db import JournalDb
from agent.journal.errors import JournalError
from agent.journal.jclock import JournalClock
from agent.journal.records import COLS, INSERT, NewRow, OutboxRecord, from_row, iso
from drivers.base.clock import Clock

log = structlog.get_logger(__name__)

_PENDING_TXNS = "kind = 'txn' AND state IN ('queued', 'sent')"


class Outbox:
    def __init__(self, db: JournalDb, *, clock: Clock, jclock: JournalClock, retention: timedelta) -> None:
        self._db = db
        self.clock = clock
        self.jclock = jclock
        self.retention = retention
        self.pending_txns = self._count(_PENDING_TXNS)
        #: bytes committed since start, for the "written to flash per day" figure
        self.bytes_written = 0
        #: bumped whenever a record goes back to queued (refusal, engineer retry), so a
        #: forwarder reading forward from a cursor knows to look behind it again
        self.requeue_epoch = 0

    def _count(self, where: str, params: Iterable[Any] = ()) -> int:
        return int(self._db.conn.execute(f"SELECT COUNT(*) FROM outbox WHERE {where}",
                                         tuple(params)).fetchone()[0])

    def _now(self) -> str:
        return iso(self.clock.now())

    # -- new records (inside the group committer's transaction) --------------------------------
    def insert(self, row: NewRow) -> int:
        """INSERT a new, queued record (no transaction control here); its seq."""
        seq = self._db.conn.execute(INSERT, (*row.values, self.jclock.now())).lastrowid
        assert seq is not None
        return seq

    def inserted(self, row: NewRow, *, txn: bool) -> None:
        """Told once the commit holding ``row`` succeeded."""
        self.bytes_written += row.size
        if txn:
            self.pending_txns += 1

    def kept_pending_txns(self) -> int:
        """Pending transactions as the triggers keep them (batch-mates in this transaction included)."""
        return int(self._db.conn.execute(
            "SELECT COALESCE(SUM(n), 0) FROM outbox_counts WHERE kind = 'txn' AND state IN ('queued', 'sent')"
        ).fetchone()[0])

    # -- delivery --------------------------------------------------------------------------------
    def lease(self, after_seq: int, limit: int, exclude: Iterable[int] = ()) -> list[OutboxRecord]:
        """The next queued records after ``after_seq`` in seq order; counts an attempt for each."""
        skip = set(exclude)
        with self._db.lock:
            rows = self._db.conn.execute(
                f"SELECT {COLS} FROM outbox WHERE state = 'queued' AND seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit + len(skip))).fetchall()
            records = [from_row(r) for r in rows if r[0] not in skip][:limit]
            if records:
                with self._db.relaxed(), self._db.atomic():
                    self._db.conn.executemany("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?",
                                              [(r.seq,) for r in records])
            return records

    def lease_unacked(self, older_than_s: float, limit: int) -> list[OutboxRecord]:
        """Transactions PUBACKed but not acked by the fleet within ``older_than_s`` (fleet-ack mode)."""
        cutoff = iso(self.clock.now() - timedelta(seconds=older_than_s))
        jcut = self.jclock.now() - older_than_s
        with self._db.lock:
            rows = self._db.conn.execute(
                f"SELECT {COLS} FROM outbox WHERE state = 'sent' AND (sent_jt < ? OR "
                "(sent_jt IS NULL AND sent_at < ?)) ORDER BY seq LIMIT ?", (jcut, cutoff, limit)).fetchall()
            return [from_row(r) for r in rows]

    def mark_delivered(self, seqs: Iterable[int], *, fleet_ack: bool) -> None:
        """PUBACK (success) for these records: settled, or sent (awaiting the fleet) for txns."""
        seqs = list(seqs)
        if not seqs:
            return
        now, jt = self._now(), self.jclock.now()
        with self._db.relaxed(), self._db.atomic():
            if fleet_ack:
                self._db.conn.executemany(
                    "UPDATE outbox SET state = CASE WHEN kind = 'txn' THEN 'sent' ELSE 'settled' END, "
                    "sent_at = ?, sent_jt = ?, settled_at = CASE WHEN kind = 'txn' THEN NULL ELSE ? END, "
                    "settled_jt = CASE WHEN kind = 'txn' THEN NULL ELSE ? END, "
                    "last_error = NULL WHERE seq = ? AND state IN ('queued', 'sent')",
                    [(now, jt, now, jt, s) for s in seqs])
            else:
                marks = ",".join("?" * len(seqs))
                before = self._count(f"{_PENDING_TXNS} AND seq IN ({marks})", seqs)
                self._db.conn.executemany(
                    "UPDATE outbox SET state = 'settled', sent_at = ?, sent_jt = ?, settled_at = ?, "
                    "settled_jt = ?, last_error = NULL WHERE seq = ? AND state IN ('queued', 'sent')",
                    [(now, jt, now, jt, s) for s in seqs])
                self.pending_txns -= before

    def settle_txns(self, txn_ids: Iterable[str]) -> int:
        """The fleet's ack: these transactions are settled. Returns how many moved."""
        ids = [t for t in txn_ids if isinstance(t, str)]
        if not ids:
            return 0
        now, jt = self._now(), self.jclock.now()
        with self._db.relaxed(), self._db.atomic():
            moved = 0
            for txn_id in ids:
                cur = self._db.conn.execute(
                    "UPDATE outbox SET state = 'settled', settled_at = ?, settled_jt = ? WHERE record_id = ? "
                    "AND kind = 'txn' AND state IN ('queued', 'sent')", (now, jt, txn_id))
                moved += cur.rowcount
            self.pending_txns -= moved
            return moved

    def mark_failed(self, seq: int, error: str, *, final: bool, max_attempts: int) -> str:
        """A delivery failure. A final rejection after ``max_attempts`` makes the record dead.

        Returns the record's new state.
        """
        with self._db.relaxed(), self._db.atomic():
            row = self._db.conn.execute("SELECT attempts, state, kind FROM outbox WHERE seq = ?",
                                        (seq,)).fetchone()
            if row is None or row[1] in ("settled", "dead"):
                return row[1] if row else "missing"
            attempts, _state, kind = row
            if final and attempts >= max_attempts:
                self._db.conn.execute("UPDATE outbox SET state = 'dead', last_error = ? WHERE seq = ?",
                                      (error, seq))
                if kind == "txn":
                    self.pending_txns -= 1
                log.warning("record_dead_lettered", seq=seq, attempts=attempts, error=error)
                return "dead"
            self._db.conn.execute("UPDATE outbox SET state = 'queued', last_error = ? WHERE seq = ?", (error, seq))
            self.requeue_epoch += 1
            return "queued"

    def reject_txn(self, txn_id: str, error: str, *, final: bool, max_attempts: int) -> str:
        """The fleet rejected a transaction (``down/txn-ack`` ``rejected``)."""
        with self._db.lock:
            row = self._db.conn.execute("SELECT seq FROM outbox WHERE record_id = ? AND kind = 'txn'",
                                        (txn_id,)).fetchone()
            if row is None:
                return "missing"
            return self.mark_failed(row[0], error, final=final, max_attempts=max_attempts)

    def retry_dead(self, seqs: Iterable[int] | None = None) -> int:
        """Engineer action: dead letters back to queued (all, or the given seqs)."""
        with self._db.atomic():
            if seqs is None:
                cur = self._db.conn.execute("UPDATE outbox SET state = 'queued', attempts = 0 WHERE state = 'dead'")
            else:
                cur = self._db.conn.executemany(
                    "UPDATE outbox SET state = 'queued', attempts = 0 WHERE state = 'dead' AND seq = ?",
                    [(s,) for s in seqs])
            self.pending_txns = self._count(_PENDING_TXNS)
            self.requeue_epoch += 1
            return cur.rowcount

    # -- retention -------------------------------------------------------------------------------
    def prune(self, batch: int = 1000) -> int:
        """Delete settled records settled longer ago than the retention period, measured on the
        journal clock (a wall-clock jump neither prunes nor keeps them). Rows settled before
        migration 0003 have no journal time: their wall age counts, and they are at least as old
        as the journal clock. Never anything unsettled. Returns how many went."""
        now_jt = self.jclock.now()
        keep_s = self.retention.total_seconds()
        cutoff = iso(self.clock.now() - self.retention)
        old_rows = now_jt > keep_s  # rows without a journal time are older than now_jt
        with self._db.lock:
            try:
                with self._db.atomic():
                    cur = self._db.conn.execute(
                        "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE state = 'settled' "
                        "AND (settled_jt < ? OR (settled_jt IS NULL AND (settled_at < ? OR ?))) "
                        "ORDER BY seq LIMIT ?)", (now_jt - keep_s, cutoff, int(old_rows), batch))
            except sqlite3.Error as exc:
                raise JournalError(f"prune failed: {exc}") from exc
            return cur.rowcount
