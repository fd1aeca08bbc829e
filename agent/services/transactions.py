"""Recording a transaction: admission (the offline limits, agent/services/limits.py), the journal's
commit, and the storage-fault policy (a refused write raises the ``storage_full`` terminal fault,
sheds health samples when SQLite itself is full, and clears the fault on the next good write)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import structlog

from agent.health.document import HealthModel
from agent.journal import ClearDataRefused, Journal, StorageFull, SubmitOutcome
from agent.services.limits import OfflineLimits
from agent.services.txn import DataRefused

log = structlog.get_logger(__name__)


class Link(Protocol):
    """What the transactions need of the uplink."""

    @property
    def connected(self) -> bool: ...

    def notify_journal(self) -> None: ...

    def request_health(self) -> None: ...


class Transactions:
    def __init__(self, journal: Journal, link: Link, health: HealthModel, limits: OfflineLimits) -> None:
        self.journal = journal
        self.link = link
        self.health = health
        self.limits = limits

    def submit(self, txn: Mapping[str, Any]) -> SubmitOutcome:
        """Record a validated transaction (agent/services/txn.py). Raises StorageFull, LimitExceeded
        (an offline ceiling), DataRefused (data without a fleet key)."""
        offline = not self.link.connected
        # the ceiling check runs inside the commit of a new transaction (one step, group-committed)
        check = (lambda: self.limits.check(txn["method"], txn["amount"])) if offline else None
        try:
            outcome = self.journal.submit_txn(txn, offline=offline, check=check)
        except StorageFull as exc:
            self._storage_refused(exc)
            raise
        except ClearDataRefused:
            raise DataRefused() from None
        if self.health.storage_fault is not None:
            self.health.storage_fault = None
            log.info("storage_available_again")
            self.link.request_health()
        if outcome.status == "created":
            self.link.notify_journal()
            log.info("txn_recorded", txn_id=outcome.txn_id, seq=outcome.seq, amount=txn["amount"],
                     method=txn["method"], offline=not self.link.connected)
        return outcome

    def get(self, txn_id: str) -> dict[str, Any] | None:
        return self.journal.get_txn(txn_id)

    def _storage_refused(self, exc: StorageFull) -> None:
        if self.health.storage_fault is None:
            log.error("storage_full", error=str(exc))
            self.link.request_health()
        self.health.storage_fault = str(exc)
        if "full" in str(exc):  # SQLite's own: make room by shedding health samples
            self.journal.ledger.shed_health_samples()
