"""Outbox -> MQTT pump with a bounded in-flight window.

Only ``window`` records are handed to paho at a time (paho's own queue is memory-only and, on
reconnect, flushes everything at once). A record leaves ``queued`` only on a PUBACK whose
reason code is < 0x80 (taken from ``on_publish``), or in fleet-ack mode on the fleet's ack.
A PUBACK >= 0x80 (0x87 not authorised, ...) keeps the record queued, raises a fault and pauses
the drain with backoff, so a denied terminal never spins.

Records in flight when the link drops stay in paho's session and are re-sent by paho after
the reconnect with the same mid; the journal ids (seq, txn_id) never change, so consumers
dedupe on them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from agent.journal import Journal, OutboxRecord
from agent.uplink.payloads import encode, wire_document
from agent.uplink.topics import Topics

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class InFlight:
    seq: int
    kind: str
    published_mono: float


@dataclass(slots=True)
class DrainStats:
    published: int = 0
    delivered: int = 0
    redelivered: int = 0
    rejected: int = 0
    last_reject: str = ""
    #: (monotonic, cumulative delivered) samples for the drain rate
    samples: list[tuple[float, int]] = field(default_factory=list)

    def rate(self, now: float, span_s: float = 60.0) -> float:
        recent = [(t, n) for t, n in self.samples if now - t <= span_s]
        if len(recent) < 2 or recent[-1][0] == recent[0][0]:
            return 0.0
        return (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])


class Forwarder:
    def __init__(self, journal: Journal, topics: Topics, publish: Callable[[str, bytes], int | None], *,
                 window: int, fleet_ack: bool, drain_rate: float = 0.0, max_attempts: int = 10,
                 unacked_resend_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.journal = journal
        self.topics = topics
        self.publish = publish
        self.window = window
        self.fleet_ack = fleet_ack
        self.drain_rate = drain_rate
        self.max_attempts = max_attempts
        self.unacked_resend_s = unacked_resend_s
        self.clock = clock
        self.inflight: dict[int, InFlight] = {}
        self._cursor = 0
        self._epoch = journal.requeue_epoch
        self._acked: list[int] = []
        self._tokens = float(window)
        self._last_refill = clock()
        self._paused_until = 0.0
        self._pause_s = 1.0
        self._last_unacked_scan = 0.0
        self.stats = DrainStats()
        #: set when the broker refused a publish (reason code >= 0x80); cleared by the next success
        self.denied: str | None = None

    def reset_cursor(self) -> None:
        self._cursor = 0

    def free_slots(self) -> int:
        return max(0, self.window - len(self.inflight))

    def _take_tokens(self, wanted: int) -> int:
        if self.drain_rate <= 0:
            return wanted
        now = self.clock()
        self._tokens = min(float(self.window), self._tokens + (now - self._last_refill) * self.drain_rate)
        self._last_refill = now
        n = min(wanted, int(self._tokens))
        self._tokens -= n
        return n

    def fill(self) -> int:
        """Hand the next queued records to paho, up to the window. Returns how many."""
        now = self.clock()
        if now < self._paused_until:
            return 0
        if self._epoch != self.journal.requeue_epoch:
            self._epoch = self.journal.requeue_epoch
            self._cursor = 0
        slots = self._take_tokens(self.free_slots())
        if slots <= 0:
            return 0
        busy = {e.seq for e in self.inflight.values()}
        records = self.journal.lease(self._cursor, slots, exclude=busy)
        if self.fleet_ack and len(records) < slots and now - self._last_unacked_scan > 5.0:
            self._last_unacked_scan = now
            extra = self.journal.lease_unacked(self.unacked_resend_s, slots - len(records))
            records += [r for r in extra if r.seq not in busy]
        sent = 0
        for rec in records:
            if not self._send(rec, now):
                break
            sent += 1
        return sent

    def _send(self, rec: OutboxRecord, now: float) -> bool:
        if not rec.crc_ok:
            # a record whose bytes no longer match its checksum is never published as if valid
            self.journal.mark_failed(rec.seq, "record checksum mismatch", final=True, max_attempts=0)
            log.error("record_corrupt", seq=rec.seq, record_id=rec.record_id)
            return True
        payload = encode(wire_document(rec, self.journal.sealer))
        mid = self.publish(self.topics.for_record(rec.kind), payload)
        if mid is None:
            return False
        self.inflight[mid] = InFlight(rec.seq, rec.kind, now)
        self._cursor = max(self._cursor, rec.seq)
        self.stats.published += 1
        if rec.attempts > 1 or rec.state == "sent":
            self.stats.redelivered += 1
        return True

    def on_puback(self, mid: int, code: int, reason: str) -> bool:
        """A PUBACK for ``mid``. Returns False when the mid is not one of ours."""
        entry = self.inflight.pop(mid, None)
        if entry is None:
            return False
        if code >= 0x80:
            self.stats.rejected += 1
            self.stats.last_reject = f"{reason} (0x{code:02X})"
            self.journal.mark_failed(entry.seq, f"broker refused the publish: {reason} (0x{code:02X})",
                                     final=False, max_attempts=self.max_attempts)
            if self.denied is None:
                log.error("publish_denied", seq=entry.seq, reason=reason, code=code)
            self.denied = self.stats.last_reject
            self._paused_until = self.clock() + self._pause_s
            self._pause_s = min(self._pause_s * 2, 60.0)
            self._cursor = 0
            return True
        if self.denied is not None:
            log.info("publish_allowed_again")
        self.denied = None
        self._pause_s = 1.0
        self._acked.append(entry.seq)
        return True

    def flush_acks(self) -> int:
        """Commit the PUBACKs collected so far in one journal transaction."""
        if not self._acked:
            return 0
        acked, self._acked = self._acked, []
        self.journal.mark_delivered(acked, fleet_ack=self.fleet_ack)
        self.stats.delivered += len(acked)
        self.stats.samples.append((self.clock(), self.stats.delivered))
        if len(self.stats.samples) > 120:
            del self.stats.samples[:60]
        return len(acked)

    def expire_stale(self, connected_since: float, timeout_s: float) -> int:
        """Forget in-flight entries unanswered for ``timeout_s`` on a live link (re-leased later)."""
        now = self.clock()
        stale = [mid for mid, e in self.inflight.items()
                 if now - max(e.published_mono, connected_since) > timeout_s]
        for mid in stale:
            del self.inflight[mid]
        if stale:
            self._cursor = 0
            log.warning("inflight_expired", count=len(stale))
        return len(stale)
