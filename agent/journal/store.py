"""The outbox: transactions, events and reports, committed before anyone is told.

State machine of a record (only forward)::

    queued --PUBACK--> settled                      (settle = "puback", or any event/report)
    queued --PUBACK--> sent --fleet ack--> settled  (settle = "fleet-ack", transactions)
    queued|sent --final rejection, attempts spent--> dead --(engineer: queue retry)--> queued

``dead -> queued`` is the one backward move, and only by an explicit engineer action.
Everything goes through one connection guarded by one lock: SQLite has a single writer
anyway, and a single connection keeps ``synchronous=FULL`` commits strictly ordered. New records
(transactions, events, reports) are group-committed (agent/journal/group.py): concurrent writers
share one transaction and one fsync, each answered after it; WAL checkpoints run on a background
connection (agent/journal/checkpoint.py), never inside a writer's commit.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from agent.journal.checkpoint import BACKSTOP_PAGES, Checkpointer
from agent.journal.db import JournalError, StorageFull, open_db
from agent.journal.group import GroupCommitter
from agent.journal.jclock import META_KEY as JCLOCK_KEY
from agent.journal.jclock import JournalClock, Reading, age_s
from agent.journal.ledger import Ledger, kernel_boot_id
from agent.journal.sealkid import check_legacy_kid
from agent.runtime.crypto import LegacySealer, Sealing
from agent.services.txn import DataRefused
from drivers.base.clock import Clock, SystemClock

log = structlog.get_logger(__name__)

PENDING = ("queued", "sent")


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def body_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    seq: int
    record_id: str
    kind: str
    type: str
    device: str | None
    boot_id: str
    ts: str
    payload: dict[str, Any]
    secret: bytes | None
    state: str
    attempts: int
    crc_ok: bool = True

    def document(self, sealer: Sealing | None) -> dict[str, Any]:
        """The published JSON: the public payload plus seq, and the sealed part as an envelope
        (the payload keeps the HPKE header, alg and kid; the secret column enc || ciphertext)."""
        doc = {**self.payload, "seq": self.seq}
        if self.secret is not None and sealer is not None:
            doc["data_enc"] = sealer.envelope(self.payload, self.secret)
        return doc


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    status: str  # created | duplicate | conflict
    seq: int
    txn_id: str
    state: str


class Journal:
    def __init__(self, path: str | Path, key: bytes, *, terminal_id: str, site: str, boot_id: str,
                 sealing: Sealing | None = None,
                 clock: Clock | None = None, max_pending: int = 1_000_000, min_free_mb: int = 64,
                 retention_days: float = 30.0, health_samples_max: int = 10_000,
                 clock_synced: Any = None, kboot: str | None = None) -> None:
        self.path = Path(path)
        self.terminal_id, self.site, self.boot_id = terminal_id, site, boot_id
        self.clock = clock or SystemClock()
        self.max_pending = max_pending
        self.min_free_mb = min_free_mb
        self.retention = timedelta(days=retention_days)
        #: seals new data to the fleet; publishes old (legacy) records under their own kid
        self.sealer = sealing or Sealing()
        self._legacy = LegacySealer(key)
        self._clock_synced = clock_synced or (lambda: False)
        self.lock = threading.RLock()
        self.db = open_db(self.path)
        self.conn = self.db.conn
        #: every durable record goes through it: concurrent writers share one commit (one fsync)
        self.checkpointer = Checkpointer(self.path)
        self.conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")  # the thread checkpoints
        self.committer = GroupCommitter(self.conn, self.lock, on_commit=self.checkpointer.committed)
        self.kboot = kboot or kernel_boot_id()
        self.ledger = Ledger(self, health_samples_max)
        #: ages are measured on this, not on the wall clock (see agent/journal/jclock.py)
        self.jclock = JournalClock(self.clock, self.kboot, Reading.loads(self.ledger.meta_get(JCLOCK_KEY)))
        try:
            self.save_clock()
        except sqlite3.OperationalError as exc:  # a full disk must not stop the start; heartbeats retry
            log.warning("journal_clock_not_saved", error=str(exc))
        self._pending_txns = self._count("kind = 'txn' AND state IN ('queued', 'sent')")
        self.seal_problem = check_legacy_kid(self.conn, self.ledger, self._legacy, self.sealer)
        self._closed = False
        self._free_mb, self._free_at = 0.0, -1e9
        #: bytes committed since start, for the "written to flash per day" figure
        self.bytes_written = 0
        #: bumped whenever a record goes back to queued (refusal, engineer retry), so a
        #: forwarder reading forward from a cursor knows to look behind it again
        self.requeue_epoch = 0

    # -- plumbing ----------------------------------------------------------------------------
    def close(self) -> None:
        with self.lock:
            if not self._closed:
                self._closed = True
                self.checkpointer.stop()
                try:
                    self.save_clock()
                except (sqlite3.Error, JournalError):
                    pass
                try:
                    self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error:
                    pass
                self.conn.close()

    def _count(self, where: str, params: Iterable[Any] = ()) -> int:
        return int(self.conn.execute(f"SELECT COUNT(*) FROM outbox WHERE {where}", tuple(params)).fetchone()[0])

    @contextmanager
    def relaxed(self) -> Iterator[None]:
        """Commits inside skip the fsync (``synchronous=NORMAL``; the WAL stays consistent).

        Only for writes that are safe to lose in a power cut because they are redone:
        delivery state (a lost "settled" means one redelivery, deduplicated by id), attempt
        counts, heartbeats, health samples. Creating a record is always ``FULL``, and the next
        FULL commit makes everything before it durable too.
        """
        with self.lock:
            self.conn.execute("PRAGMA synchronous=NORMAL")
            try:
                yield
            finally:
                self.conn.execute("PRAGMA synchronous=FULL")
                self.checkpointer.committed()

    def now(self) -> str:
        return iso(self.clock.now())

    def save_clock(self, extra: Mapping[str, str] | None = None) -> None:
        """Persist the journal clock's reading (and ``extra`` meta keys) in one relaxed commit:
        where the journal clock resumes after a restart or a reboot."""
        items = [(JCLOCK_KEY, self.jclock.reading().dumps()), *(extra or {}).items()]
        with self.relaxed(), self.db.atomic():
            self.conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?) "
                                  "ON CONFLICT(key) DO UPDATE SET value = excluded.value", items)

    def age_of(self, jt: float | None, ts: str | None) -> float:
        """Seconds since a moment the journal recorded as (journal time, wall timestamp)."""
        if jt is None and ts is None:
            return 0.0
        wall_age = 0.0
        if ts:
            wall_age = (self.clock.now() - datetime.fromisoformat(ts.replace("Z", "+00:00"))).total_seconds()
        return age_s(self.jclock.now(), jt, wall_age_s=wall_age)

    def free_mb(self, max_age_s: float = 0.0) -> float:
        """Free space on the journal's filesystem; ``max_age_s`` allows a recent reading."""
        now = self.clock.monotonic()
        if max_age_s and now - self._free_at < max_age_s:
            return self._free_mb
        try:
            self._free_mb = shutil.disk_usage(self.path.parent).free / 1_048_576
        except OSError:
            self._free_mb = 0.0
        self._free_at = now
        return self._free_mb

    def _insert(self, *, record_id: str, kind: str, type_: str, device: str | None, payload: dict[str, Any],
                secret: bytes | None = None, bhash: str | None = None, amount: int | None = None,
                method: str | None = None, offline: bool = False, ts: str) -> int:
        """Insert one record in a durable commit of its own (or the caller's transaction)."""
        row = self._row(record_id=record_id, kind=kind, type_=type_, device=device, payload=payload,
                        secret=secret, bhash=bhash, amount=amount, method=method, offline=offline, ts=ts)
        return self.committer.run(lambda: self._insert_row(row), lambda _seq: self._wrote(row))

    def _row(self, *, record_id: str, kind: str, type_: str, device: str | None, payload: dict[str, Any],
             secret: bytes | None = None, bhash: str | None = None, amount: int | None = None,
             method: str | None = None, offline: bool = False, ts: str) -> list[Any]:
        """The column values of a new record (all but ``jt``, taken at insert time)."""
        text = dumps(payload)
        raw = text.encode()
        size = len(raw) + (len(secret) if secret else 0)
        crc = zlib.crc32(raw + (secret or b""))
        return [record_id, kind, type_, device, self.boot_id, ts, int(bool(payload.get("clock_synced"))),
                int(offline), bhash, text, secret, amount, method, size, crc]

    def _insert_row(self, row: list[Any]) -> int:
        """INSERT inside the committer's transaction (no transaction control here)."""
        cur = self.conn.execute(
            "INSERT INTO outbox (record_id, kind, type, device, boot_id, ts, clock_synced, offline, "
            "body_hash, payload, secret, amount, method, size, crc, jt) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*row, self.jclock.now()))
        seq = cur.lastrowid
        assert seq is not None
        return seq

    def _wrote(self, row: list[Any]) -> None:
        self.bytes_written += row[13]

    def _base(self, ts: str) -> dict[str, Any]:
        return {"terminal_id": self.terminal_id, "site": self.site, "boot_id": self.boot_id, "ts": ts,
                "clock_synced": bool(self._clock_synced())}

    # -- writing -----------------------------------------------------------------------------
    def submit_txn(self, txn: Mapping[str, Any], *, offline: bool,
                   check: Callable[[], None] | None = None) -> SubmitOutcome:
        """Record a validated transaction durably (idempotent on ``txn_id``).

        ``txn`` holds the client's fields (txn_id, kind, amount, currency, method, ref, data).
        ``check`` (offline ceilings) runs for a new transaction in the same transaction as its
        insert, after the records committed before it, so concurrent submits cannot both slip
        under a ceiling; it raises to refuse. Answered after the group commit holding the record.
        Raises StorageFull (max_pending, disk floor, SQLITE_FULL).
        """
        txn_id = txn["txn_id"]
        bhash = body_hash({k: v for k, v in txn.items() if k != "txn_id"})
        # the CPU work (sealing, JSON, crc) outside the lock, so batch-mates do not wait for it
        ts = self.now()
        payload = {**self._base(ts), "txn_id": txn_id, "kind": txn["kind"], "amount": txn["amount"],
                   "currency": txn.get("currency", "CNY"), "method": txn["method"],
                   "ref": txn.get("ref"), "offline": offline, "outcome": txn.get("outcome", "completed")}
        if txn.get("reason") is not None:
            payload["reason"] = txn["reason"]
        secret = None
        if txn.get("data") is not None:
            fleet = self.sealer.fleet
            if fleet is not None:
                secret = fleet.seal(dumps(txn["data"]).encode(), txn_id)
                payload["data_enc"] = fleet.header()
            elif self.sealer.allow_clear:
                payload["data"] = txn["data"]
            else:
                raise DataRefused()
        row = self._row(record_id=txn_id, kind="txn", type_=txn["kind"], device=None, payload=payload,
                        secret=secret, bhash=bhash, amount=txn["amount"], method=txn["method"],
                        offline=offline, ts=ts)

        def work() -> SubmitOutcome:
            found = self.conn.execute("SELECT seq, body_hash, state FROM outbox WHERE record_id = ?",
                                      (txn_id,)).fetchone()
            if found is not None:
                status = "duplicate" if found[1] == bhash else "conflict"
                return SubmitOutcome(status, found[0], txn_id, found[2])
            pending = self._kept_pending_txns()  # batch-mates included: same transaction
            if pending >= self.max_pending:
                raise StorageFull(f"{pending} transactions pending, the limit is "
                                  f"storage.max_pending = {self.max_pending}")
            free = self.free_mb(max_age_s=1.0)  # a statvfs per second is plenty for a floor of MBs
            if free < self.min_free_mb:
                free = self.free_mb()  # never refuse on a stale reading: space may just have returned
            if free < self.min_free_mb:
                raise StorageFull(f"only {free:.0f} MB free on the journal's disk, the floor is "
                                  f"storage.min_free_mb = {self.min_free_mb}")
            if check is not None:
                check()
            return SubmitOutcome("created", self._insert_row(row), txn_id, "queued")

        def after(out: SubmitOutcome) -> None:
            if out.status == "created":
                self._pending_txns += 1
                self._wrote(row)
        return self.committer.run(work, after)

    def _kept_pending_txns(self) -> int:
        return int(self.conn.execute(
            "SELECT COALESCE(SUM(n), 0) FROM outbox_counts WHERE kind = 'txn' AND state IN ('queued', 'sent')"
        ).fetchone()[0])

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction around several appends: one durable commit when the block ends
        (the appends inside become savepoints). Nothing inside is durable before that."""
        with self.lock, self.db.atomic():
            yield

    def append_event(self, type_: str, data: Mapping[str, Any], *, device: str | None = None,
                     kind: str = "event") -> int:
        """Journal a device/terminal event (or, with kind="report", a self-test report).

        Events are not refused at max_pending or the disk floor (a stacked note must be
        recorded); only a really full disk (SQLITE_FULL) raises StorageFull.
        """
        ts = self.now()
        record_id = f"{'evt' if kind == 'event' else 'rpt'}-{uuid.uuid4().hex}"
        payload = {**self._base(ts), "event_id": record_id, "type": type_, "device": device,
                   "data": dict(data)}
        return self._insert(record_id=record_id, kind=kind, type_=type_, device=device,
                            payload=payload, ts=ts)

    # -- delivery ----------------------------------------------------------------------------
    def _record(self, row: sqlite3.Row | tuple[Any, ...]) -> OutboxRecord:
        (seq, record_id, kind, type_, device, boot_id, ts, payload, secret, state, attempts, crc) = row
        raw = payload.encode()
        ok = zlib.crc32(raw + (secret or b"")) == crc
        try:
            doc = json.loads(payload)
        except ValueError:
            doc, ok = {}, False
        return OutboxRecord(seq, record_id, kind, type_, device, boot_id, ts, doc, secret, state,
                            attempts, ok)

    _COLS = "seq, record_id, kind, type, device, boot_id, ts, payload, secret, state, attempts, crc"

    def lease(self, after_seq: int, limit: int, exclude: Iterable[int] = ()) -> list[OutboxRecord]:
        """The next queued records after ``after_seq`` in seq order; counts an attempt for each."""
        skip = set(exclude)
        with self.lock:
            rows = self.conn.execute(
                f"SELECT {self._COLS} FROM outbox WHERE state = 'queued' AND seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit + len(skip))).fetchall()
            records = [self._record(r) for r in rows if r[0] not in skip][:limit]
            if records:
                with self.relaxed(), self.db.atomic():
                    self.conn.executemany("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?",
                                          [(r.seq,) for r in records])
            return records

    def lease_unacked(self, older_than_s: float, limit: int) -> list[OutboxRecord]:
        """Transactions PUBACKed but not acked by the fleet within ``older_than_s`` (fleet-ack mode)."""
        cutoff = iso(self.clock.now() - timedelta(seconds=older_than_s))
        jcut = self.jclock.now() - older_than_s
        with self.lock:
            rows = self.conn.execute(
                f"SELECT {self._COLS} FROM outbox WHERE state = 'sent' AND (sent_jt < ? OR "
                "(sent_jt IS NULL AND sent_at < ?)) ORDER BY seq LIMIT ?", (jcut, cutoff, limit)).fetchall()
            return [self._record(r) for r in rows]

    def mark_delivered(self, seqs: Iterable[int], *, fleet_ack: bool) -> None:
        """PUBACK (success) for these records: settled, or sent (awaiting the fleet) for txns."""
        seqs = list(seqs)
        if not seqs:
            return
        now, jt = self.now(), self.jclock.now()
        with self.relaxed(), self.db.atomic():
            if fleet_ack:
                self.conn.executemany(
                    "UPDATE outbox SET state = CASE WHEN kind = 'txn' THEN 'sent' ELSE 'settled' END, "
                    "sent_at = ?, sent_jt = ?, settled_at = CASE WHEN kind = 'txn' THEN NULL ELSE ? END, "
                    "settled_jt = CASE WHEN kind = 'txn' THEN NULL ELSE ? END, "
                    "last_error = NULL WHERE seq = ? AND state IN ('queued', 'sent')",
                    [(now, jt, now, jt, s) for s in seqs])
            else:
                before = self._pending_in(seqs)
                self.conn.executemany(
                    "UPDATE outbox SET state = 'settled', sent_at = ?, sent_jt = ?, settled_at = ?, settled_jt = ?, "
                    "last_error = NULL WHERE seq = ? AND state IN ('queued', 'sent')",
                    [(now, jt, now, jt, s) for s in seqs])
                self._pending_txns -= before

    def _pending_in(self, seqs: list[int]) -> int:
        marks = ",".join("?" * len(seqs))
        return self._count(f"kind = 'txn' AND state IN ('queued', 'sent') AND seq IN ({marks})", seqs)

    def settle_txns(self, txn_ids: Iterable[str]) -> int:
        """The fleet's ack: these transactions are settled. Returns how many moved."""
        ids = [t for t in txn_ids if isinstance(t, str)]
        if not ids:
            return 0
        now, jt = self.now(), self.jclock.now()
        with self.relaxed(), self.db.atomic():
            moved = 0
            for txn_id in ids:
                cur = self.conn.execute(
                    "UPDATE outbox SET state = 'settled', settled_at = ?, settled_jt = ? WHERE record_id = ? "
                    "AND kind = 'txn' AND state IN ('queued', 'sent')", (now, jt, txn_id))
                moved += cur.rowcount
            self._pending_txns -= moved
            return moved

    def mark_failed(self, seq: int, error: str, *, final: bool, max_attempts: int) -> str:
        """A delivery failure. A final rejection after ``max_attempts`` makes the record dead.

        Returns the record's new state.
        """
        with self.relaxed(), self.db.atomic():
            row = self.conn.execute("SELECT attempts, state, kind FROM outbox WHERE seq = ?", (seq,)).fetchone()
            if row is None or row[1] in ("settled", "dead"):
                return row[1] if row else "missing"
            attempts, _state, kind = row
            if final and attempts >= max_attempts:
                self.conn.execute("UPDATE outbox SET state = 'dead', last_error = ? WHERE seq = ?", (error, seq))
                if kind == "txn":
                    self._pending_txns -= 1
                log.warning("record_dead_lettered", seq=seq, attempts=attempts, error=error)
                return "dead"
            self.conn.execute("UPDATE outbox SET state = 'queued', last_error = ? WHERE seq = ?", (error, seq))
            self.requeue_epoch += 1
            return "queued"

    def reject_txn(self, txn_id: str, error: str, *, final: bool, max_attempts: int) -> str:
        """The fleet rejected a transaction (``down/txn-ack`` ``rejected``)."""
        with self.lock:
            row = self.conn.execute("SELECT seq FROM outbox WHERE record_id = ? AND kind = 'txn'",
                                    (txn_id,)).fetchone()
            if row is None:
                return "missing"
            return self.mark_failed(row[0], error, final=final, max_attempts=max_attempts)

    def count_by_kind(self, after_seq: int, upto_seq: int | None = None) -> dict[str, int]:
        """Records appended in (after_seq, upto_seq], by kind (what an outage queued)."""
        q = "SELECT kind, COUNT(*) FROM outbox WHERE seq > ?"
        params: list[Any] = [after_seq]
        if upto_seq is not None:
            q += " AND seq <= ?"
            params.append(upto_seq)
        with self.lock:
            rows = self.conn.execute(q + " GROUP BY kind", params).fetchall()
        return {k: int(n) for k, n in rows}

    _OLDEST_PENDING = ("SELECT seq, jt, ts FROM outbox WHERE seq = (SELECT MIN(s) FROM ("
                       "SELECT MIN(seq) AS s FROM outbox WHERE state = 'queued' UNION ALL "
                       "SELECT MIN(seq) FROM outbox WHERE state = 'sent'))")

    _LAST_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'outbox'"

    def last_seq(self) -> int:
        """The highest seq ever given (AUTOINCREMENT's own record: still right when pruning has
        removed the newest rows, so a seq is never reported, or reused, twice)."""
        with self.lock:
            return int(self.conn.execute(self._LAST_SEQ).fetchone()[0])

    def retry_dead(self, seqs: Iterable[int] | None = None) -> int:
        """Engineer action: dead letters back to queued (all, or the given seqs)."""
        with self.lock, self.db.atomic():
            if seqs is None:
                cur = self.conn.execute("UPDATE outbox SET state = 'queued', attempts = 0 WHERE state = 'dead'")
            else:
                cur = self.conn.executemany(
                    "UPDATE outbox SET state = 'queued', attempts = 0 WHERE state = 'dead' AND seq = ?",
                    [(s,) for s in seqs])
            self._pending_txns = self._count("kind = 'txn' AND state IN ('queued', 'sent')")
            self.requeue_epoch += 1
            return cur.rowcount

    # -- reading -----------------------------------------------------------------------------
    def get_txn(self, txn_id: str) -> dict[str, Any] | None:
        with self.lock:
            row = self.conn.execute(
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
        with self.lock:
            rows = self.conn.execute(f"SELECT {self._COLS} FROM outbox WHERE {' AND '.join(where)} "
                                     f"ORDER BY seq LIMIT ?", (*params, limit)).fetchall()
        return [self._record(r) for r in rows]

    def offline_exposure(self, method: str) -> tuple[int, int, float]:
        """(count, total amount, age in seconds of the oldest) of unsettled offline transactions.

        O(1) in the size of the backlog: count and total are kept by triggers (migration 0005),
        the oldest is one seek on the 0002 index."""
        with self.lock:
            kept = self.conn.execute("SELECT n, total FROM offline_exposure WHERE method = ?",
                                     (method,)).fetchone()
            n, total = kept if kept else (0, 0)
            oldest = None
            if n:
                # the oldest is the lowest seq, its age on the journal clock (a wall-clock step neither
                # ages nor rejuvenates it); one seek per pending state on (method, state, seq)
                oldest = self.conn.execute(
                    "SELECT seq, jt, ts FROM outbox WHERE seq = (SELECT MIN(s) FROM ("
                    "SELECT MIN(seq) AS s FROM outbox WHERE kind = 'txn' AND offline = 1 AND method = ? "
                    "AND state = 'queued' UNION ALL SELECT MIN(seq) FROM outbox WHERE kind = 'txn' "
                    "AND offline = 1 AND method = ? AND state = 'sent'))", (method, method)).fetchone()
        age = self.age_of(oldest[1], oldest[2]) if oldest is not None else 0.0
        return int(n), int(total), age

    def event_payloads(self, type_: str, since_ts: str) -> list[str]:
        """The raw payloads of events of one type journalled at or after ``since_ts``, in order."""
        with self.lock:
            rows = self.conn.execute("SELECT payload FROM outbox WHERE kind = 'event' AND type = ? "
                                     "AND ts >= ? ORDER BY seq", (type_, since_ts)).fetchall()
        return [payload for (payload,) in rows]

    def responsive(self, timeout_s: float) -> bool:
        """Whether the journal's lock can be taken within ``timeout_s`` (the watchdog's wedge check)."""
        if not self.lock.acquire(timeout=timeout_s):
            return False
        self.lock.release()
        return True

    def stats(self) -> dict[str, Any]:
        """Counts and bytes by state and kind, the oldest pending record, dead letters."""
        with self.lock:
            # kept by triggers (migration 0004): a few rows, whatever the size of the journal
            rows = self.conn.execute("SELECT state, kind, n, bytes FROM outbox_counts WHERE n > 0").fetchall()
            # the oldest is the lowest seq (seq follows real time; ts may have jumped): one index
            # seek per pending state (MIN over "state IN (...)" would visit every pending row)
            oldest = self.conn.execute(self._OLDEST_PENDING).fetchone() or (None, None, None)
            last_seq = self.conn.execute(self._LAST_SEQ).fetchone()[0]
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
                "pending_txns": self._pending_txns, "by_kind": by_kind, "oldest_age_s": round(age, 1),
                "last_seq": last_seq}

    def pending_txns(self) -> int:
        return self._pending_txns

    def prune(self, batch: int = 1000) -> int:
        """Delete settled records settled longer ago than the retention period, measured on the
        journal clock (a wall-clock jump neither prunes nor keeps them). Rows settled before
        migration 0003 have no journal time: their wall age counts, and they are at least as old
        as the journal clock. Never anything unsettled. Returns how many went."""
        now_jt = self.jclock.now()
        keep_s = self.retention.total_seconds()
        cutoff = iso(self.clock.now() - self.retention)
        old_rows = now_jt > keep_s  # rows without a journal time are older than now_jt
        with self.lock:
            try:
                with self.db.atomic():
                    cur = self.conn.execute(
                        "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE state = 'settled' "
                        "AND (settled_jt < ? OR (settled_jt IS NULL AND (settled_at < ? OR ?))) "
                        "ORDER BY seq LIMIT ?)", (now_jt - keep_s, cutoff, int(old_rows), batch))
            except sqlite3.Error as exc:
                raise JournalError(f"prune failed: {exc}") from exc
            return cur.rowcount

    def integrity_check(self) -> list[str]:
        with self.lock:
            return [r[0] for r in self.conn.execute("PRAGMA integrity_check").fetchall()]
