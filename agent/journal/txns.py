"""Writing new records: transactions (idempotent, admitted against the storage limits) and
events and self-test reports, each committed durably before its writer is answered.

Every new record is group-committed (agent/journal/group.py): concurrent writers share one
transaction and one fsync, and each is answered after the commit that holds its record. The CPU
work (sealing, JSON, crc) is done before the record queues for the commit, so batch-mates do not
wait for it.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agent.journal.db import JournalDb
from agent.journal.errors import ClearDataRefused, StorageFull
from agent.journal.outbox import Outbox
from agent.journal.records import NewRow, SubmitOutcome, body_hash, dumps, iso, new_row
from agent.runtime.crypto import Sealing
from drivers.base.clock import Clock


class Admission:
    """The storage limits a new transaction must pass: ``max_pending`` and the free-space floor."""

    def __init__(self, path: Path, clock: Clock, *, max_pending: int, min_free_mb: int) -> None:
        self.path = path
        self.clock = clock
        self.max_pending = max_pending
        self.min_free_mb = min_free_mb
        self._free_mb, self._free_at = 0.0, -1e9

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

    def check(self, pending: int) -> None:
        """Raise StorageFull when one more transaction would break a limit."""
        if pending >= self.max_pending:
            raise StorageFull(f"{pending} transactions pending, the limit is "
                              f"storage.max_pending = {self.max_pending}")
        free = self.free_mb(max_age_s=1.0)  # a statvfs per second is plenty for a floor of MBs
        if free < self.min_free_mb:
            free = self.free_mb()  # never refuse on a stale reading: space may just have returned
        if free < self.min_free_mb:
            raise StorageFull(f"only {free:.0f} MB free on the journal's disk, the floor is "
                              f"storage.min_free_mb = {self.min_free_mb}")


class Writer:
    """Builds and commits new records of one terminal's run."""

    def __init__(self, db: JournalDb, outbox: Outbox, admission: Admission, *, clock: Clock, terminal_id: str,
                 site: str, boot_id: str, sealer: Sealing, clock_synced: Callable[[], Any]) -> None:
        self._db = db
        self.outbox = outbox
        self.admission = admission
        self.clock = clock
        self.terminal_id, self.site, self.boot_id = terminal_id, site, boot_id
        self.sealer = sealer
        self._clock_synced = clock_synced

    def _base(self, ts: str) -> dict[str, Any]:
        return {"terminal_id": self.terminal_id, "site": self.site, "boot_id": self.boot_id, "ts": ts,
                "clock_synced": bool(self._clock_synced())}

    def _txn_row(self, txn: Mapping[str, Any], *, offline: bool, bhash: str) -> NewRow:
        """A transaction's record: the public payload, and its data sealed to the fleet (or in
        clear where the config allows it; refused otherwise)."""
        txn_id = txn["txn_id"]
        ts = iso(self.clock.now())
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
                raise ClearDataRefused()
        return new_row(record_id=txn_id, kind="txn", type_=txn["kind"], device=None, boot_id=self.boot_id,
                       ts=ts, payload=payload, secret=secret, bhash=bhash, amount=txn["amount"],
                       method=txn["method"], offline=offline)

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
        row = self._txn_row(txn, offline=offline, bhash=bhash)

        def work() -> SubmitOutcome:
            found = self._db.conn.execute("SELECT seq, body_hash, state FROM outbox WHERE record_id = ?",
                                          (txn_id,)).fetchone()
            if found is not None:
                status = "duplicate" if found[1] == bhash else "conflict"
                return SubmitOutcome(status, found[0], txn_id, found[2])
            self.admission.check(self.outbox.kept_pending_txns())  # batch-mates included
            if check is not None:
                check()
            return SubmitOutcome("created", self.outbox.insert(row), txn_id, "queued")

        def after(out: SubmitOutcome) -> None:
            if out.status == "created":
                self.outbox.inserted(row, txn=True)
        return self._db.committer.run(work, after)

    def append_event(self, type_: str, data: Mapping[str, Any], *, device: str | None = None,
                     kind: str = "event") -> int:
        """Journal a device/terminal event (or, with kind="report", a self-test report).

        Events are not refused at max_pending or the disk floor (a stacked note must be
        recorded); only a really full disk (SQLITE_FULL) raises StorageFull.
        """
        ts = iso(self.clock.now())
        record_id = f"{'evt' if kind == 'event' else 'rpt'}-{uuid.uuid4().hex}"
        payload = {**self._base(ts), "event_id": record_id, "type": type_, "device": device,
                   "data": dict(data)}
        row = new_row(record_id=record_id, kind=kind, type_=type_, device=device, boot_id=self.boot_id,
                      ts=ts, payload=payload)
        return self._db.committer.run(lambda: self.outbox.insert(row),
                                      lambda _seq: self.outbox.inserted(row, txn=False))
