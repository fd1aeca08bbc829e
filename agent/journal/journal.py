"""The Journal: one terminal's durable record, opened, closed, and used through one object.

It composes the parts of the package, each in its own module, and is the only one outside code
uses:

* db.py (``JournalDb``): the connection, its lock, the group committer and the checkpoint thread;
* txns.py: new transactions (with the storage limits), events and reports;
* outbox.py: a record's state machine, from queued to settled or dead, and pruning;
* queries.py: records, one transaction's state, figures;
* ledger.py: device intervals, health samples, counters and meta values (``Journal.ledger``);
* jclock.py: the journal clock that ages are measured on;
* cmdids.py: the ids of the fleet commands run, so a repeat is not run again.

Nothing outside agent/journal/ sees the connection or the lock. The journal returns records;
the uplink builds their MQTT documents (agent/uplink/payloads.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog

from agent.journal import meta
from agent.journal.cmdids import CommandIds
from agent.journal.db import JournalDb
from agent.journal.errors import JournalError
from agent.journal.jclock import META_KEY as JCLOCK_KEY
from agent.journal.jclock import JournalClock, Reading
from agent.journal.ledger import Ledger, kernel_boot_id
from agent.journal.outbox import Outbox
from agent.journal.queries import Queries
from agent.journal.records import OutboxRecord, SubmitOutcome, iso
from agent.journal.sealkid import check_legacy_kid
from agent.journal.txns import Admission, Writer
from agent.runtime.crypto import LegacySealer, Sealing
from drivers.base.clock import Clock, SystemClock

log = structlog.get_logger(__name__)


class Journal:
    def __init__(self, path: str | Path, key: bytes, *, terminal_id: str, site: str, boot_id: str,
                 sealing: Sealing | None = None,
                 clock: Clock | None = None, max_pending: int = 1_000_000, min_free_mb: int = 64,
                 retention_days: float = 30.0, health_samples_max: int = 10_000,
                 clock_synced: Any = None, kboot: str | None = None) -> None:
        self.path = Path(path)
        self.terminal_id, self.site, self.boot_id = terminal_id, site, boot_id
        self.clock = clock or SystemClock()
        #: seals new data to the fleet; publishes old (legacy) records under their own kid
        self.sealer = sealing or Sealing()
        self.kboot = kboot or kernel_boot_id()
        self._db = JournalDb(self.path)
        #: ages are measured on this, not on the wall clock (see agent/journal/jclock.py)
        self.jclock = JournalClock(self.clock, self.kboot, Reading.loads(meta.get(self._db, JCLOCK_KEY)))
        self.ledger = Ledger(self._db, clock=self.clock, jclock=self.jclock, boot_id=boot_id, kboot=self.kboot,
                             health_samples_max=health_samples_max)
        try:
            self.save_clock()
        except sqlite3.OperationalError as exc:  # a full disk must not stop the start; heartbeats retry
            log.warning("journal_clock_not_saved", error=str(exc))
        self._outbox = Outbox(self._db, clock=self.clock, jclock=self.jclock,
                              retention=timedelta(days=retention_days))
        self._admission = Admission(self.path, self.clock, max_pending=max_pending, min_free_mb=min_free_mb)
        self._writer = Writer(self._db, self._outbox, self._admission, clock=self.clock, terminal_id=terminal_id,
                              site=site, boot_id=boot_id, sealer=self.sealer,
                              clock_synced=clock_synced or (lambda: False))
        self._queries = Queries(self._db, clock=self.clock, jclock=self.jclock)
        self._command_ids = CommandIds(self._db, self.clock)
        self.seal_problem = check_legacy_kid(self._db, LegacySealer(key), self.sealer)

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Save the journal clock, checkpoint the WAL away and close (idempotent)."""
        with self._db.lock:
            if self._db.closed:
                return
            self._db.checkpointer.stop()  # first: the save's commit must not start it again
            try:
                self.save_clock()
            except (sqlite3.Error, JournalError):
                pass
            self._db.close()

    def abandon(self) -> None:
        """Drop the journal as a kill -9 leaves it: no journal-clock reading or anything else of a
        clean stop is saved (what crash tests emulate; see JournalDb.abandon)."""
        self._db.abandon()

    @contextmanager
    def relaxed(self) -> Iterator[None]:
        """Commits inside skip the fsync (see agent/journal/db.py ``JournalDb.relaxed``)."""
        with self._db.relaxed():
            yield

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction around several appends: one durable commit when the block ends
        (the appends inside become savepoints). Nothing inside is durable before that."""
        with self._db.atomic():
            yield

    def responsive(self, timeout_s: float) -> bool:
        """Whether the journal's lock can be taken within ``timeout_s`` (the watchdog's wedge check)."""
        return self._db.responsive(timeout_s)

    def now(self) -> str:
        return iso(self.clock.now())

    def save_clock(self, extra: Mapping[str, str] | None = None) -> None:
        """Persist the journal clock's reading (and ``extra`` meta keys) in one relaxed commit."""
        self.ledger.save_clock(extra)

    def age_of(self, jt: float | None, ts: str | None) -> float:
        """Seconds since a moment the journal recorded as (journal time, wall timestamp)."""
        return self._queries.age_of(jt, ts)

    def free_mb(self, max_age_s: float = 0.0) -> float:
        """Free space on the journal's filesystem; ``max_age_s`` allows a recent reading."""
        return self._admission.free_mb(max_age_s)

    @property
    def retention(self) -> timedelta:
        """How long settled records are kept (measured on the journal clock)."""
        return self._outbox.retention

    @property
    def max_pending(self) -> int:
        return self._admission.max_pending

    @property
    def min_free_mb(self) -> int:
        return self._admission.min_free_mb

    @property
    def bytes_written(self) -> int:
        """Bytes committed since start, for the "written to flash per day" figure."""
        return self._outbox.bytes_written

    @property
    def requeue_epoch(self) -> int:
        """Bumped whenever a record goes back to queued, so a forwarder reading forward from a
        cursor knows to look behind it again."""
        return self._outbox.requeue_epoch

    def checkpoint_figures(self) -> dict[str, float]:
        """The checkpoint thread's figures: checkpoints run, the longest (s)."""
        cp = self._db.checkpointer
        return {"runs": cp.runs, "longest_s": cp.longest_s}

    def commit_figures(self) -> dict[str, int]:
        """The group committer's figures: durable commits, and the pieces they carried."""
        gc = self._db.committer
        return {"commits": gc.commits, "pieces": gc.pieces}

    # -- writing -----------------------------------------------------------------------------
    def submit_txn(self, txn: Mapping[str, Any], *, offline: bool,
                   check: Callable[[], None] | None = None) -> SubmitOutcome:
        """Record a validated transaction durably (idempotent on ``txn_id``); see txns.py."""
        return self._writer.submit_txn(txn, offline=offline, check=check)

    def append_event(self, type_: str, data: Mapping[str, Any], *, device: str | None = None,
                     kind: str = "event") -> int:
        """Journal a device/terminal event (or, with kind="report", a self-test report)."""
        return self._writer.append_event(type_, data, device=device, kind=kind)

    def claim_command(self, cmd_id: str, cmd: str, *, keep: int = 10_000, max_age_days: float = 30.0) -> bool:
        """Durably record a fleet command as run; False when its id already was (see cmdids.py)."""
        return self._command_ids.claim(cmd_id, cmd, keep=keep, max_age=timedelta(days=max_age_days))

    def command_seen(self, cmd_id: str) -> bool:
        return self._command_ids.seen(cmd_id)

    def command_ids_count(self) -> int:
        return self._command_ids.count()

    # -- delivery (outbox.py) ------------------------------------------------------------------
    def lease(self, after_seq: int, limit: int, exclude: Iterable[int] = ()) -> list[OutboxRecord]:
        return self._outbox.lease(after_seq, limit, exclude)

    def lease_unacked(self, older_than_s: float, limit: int) -> list[OutboxRecord]:
        return self._outbox.lease_unacked(older_than_s, limit)

    def mark_delivered(self, seqs: Iterable[int], *, fleet_ack: bool) -> None:
        self._outbox.mark_delivered(seqs, fleet_ack=fleet_ack)

    def settle_txns(self, txn_ids: Iterable[str]) -> int:
        return self._outbox.settle_txns(txn_ids)

    def mark_failed(self, seq: int, error: str, *, final: bool, max_attempts: int) -> str:
        return self._outbox.mark_failed(seq, error, final=final, max_attempts=max_attempts)

    def reject_txn(self, txn_id: str, error: str, *, final: bool, max_attempts: int) -> str:
        return self._outbox.reject_txn(txn_id, error, final=final, max_attempts=max_attempts)

    def retry_dead(self, seqs: Iterable[int] | None = None) -> int:
        return self._outbox.retry_dead(seqs)

    def prune(self, batch: int = 1000) -> int:
        return self._outbox.prune(batch)

    def pending_txns(self) -> int:
        return self._outbox.pending_txns

    # -- reading (queries.py) ------------------------------------------------------------------
    def last_seq(self) -> int:
        return self._queries.last_seq()

    def count_by_kind(self, after_seq: int, upto_seq: int | None = None) -> dict[str, int]:
        return self._queries.count_by_kind(after_seq, upto_seq)

    def get_txn(self, txn_id: str) -> dict[str, Any] | None:
        return self._queries.get_txn(txn_id)

    def records(self, *, state: str | None = None, kind: str | None = None, device: str | None = None,
                after_seq: int = 0, limit: int = 100) -> list[OutboxRecord]:
        return self._queries.records(state=state, kind=kind, device=device, after_seq=after_seq, limit=limit)

    def offline_exposure(self, method: str) -> tuple[int, int, float]:
        return self._queries.offline_exposure(method)

    def event_payloads(self, type_: str, since_ts: str) -> list[str]:
        return self._queries.event_payloads(type_, since_ts)

    def stats(self) -> dict[str, Any]:
        return self._queries.stats(self._outbox.pending_txns)

    def integrity_check(self) -> list[str]:
        return self._queries.integrity_check()

