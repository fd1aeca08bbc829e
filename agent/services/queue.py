"""The journal as the API and the commands see it: queue figures, record summaries, events of a
device and the engineer's retry of dead letters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.journal import Journal, OutboxRecord

#: the fields ``kiosk-agent queue list`` shows when it reads the journal file without the daemon
BASIC_SUMMARY = ("seq", "id", "kind", "type", "device", "ts", "state", "attempts", "amount", "method")


def record_summary(r: OutboxRecord) -> dict[str, Any]:
    """A record as ``GET /v1/queue/records`` lists it (docs/api.md)."""
    p = r.payload
    return {"seq": r.seq, "id": r.record_id, "kind": r.kind, "type": r.type, "device": r.device,
            "ts": r.ts, "state": r.state, "attempts": r.attempts, "amount": p.get("amount"),
            "method": p.get("method"), "has_sealed_data": r.secret is not None, "crc_ok": r.crc_ok}


def basic_summary(r: OutboxRecord) -> dict[str, Any]:
    """The summary without the integrity fields (the daemon-less ``kiosk-agent queue list``)."""
    full = record_summary(r)
    return {k: full[k] for k in BASIC_SUMMARY}


class Queue:
    def __init__(self, journal: Journal, wake: Callable[[], None]) -> None:
        self.journal = journal
        #: tells the uplink the journal has something new (or requeued) to send
        self.wake = wake

    def stats(self) -> dict[str, Any]:
        return self.journal.stats()

    def records(self, state: str | None, after_seq: int, limit: int) -> list[dict[str, Any]]:
        return [record_summary(r) for r in self.journal.records(state=state, after_seq=after_seq, limit=limit)]

    def device_events(self, device: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
        recs = self.journal.records(kind="event", device=device, after_seq=after_seq, limit=limit)
        return [{"seq": r.seq, "type": r.type, "ts": r.ts, "data": r.payload.get("data", {})} for r in recs]

    def retry_dead(self, seqs: list[int] | None) -> int:
        """Requeue dead letters (all, or these seqs); the number requeued."""
        n = self.journal.retry_dead(seqs)
        self.wake()
        return n
