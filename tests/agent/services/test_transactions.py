"""Admission and the storage-fault policy of Transactions, with fakes for the journal and the link."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.journal import StorageFull, SubmitOutcome
from agent.services.transactions import Transactions


@dataclass
class Link:
    connected: bool = True
    notified: int = 0
    health_requests: int = 0

    def notify_journal(self) -> None:
        self.notified += 1

    def request_health(self) -> None:
        self.health_requests += 1


@dataclass
class Health:
    storage_fault: str | None = None


class Ledger:
    def __init__(self) -> None:
        self.shed = 0

    def shed_health_samples(self) -> None:
        self.shed += 1


@dataclass
class Journal:
    error: Exception | None = None
    status: str = "created"
    calls: list[tuple[bool, Any]] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)

    def submit_txn(self, txn: dict[str, Any], *, offline: bool, check: Any) -> SubmitOutcome:
        self.calls.append((offline, check))
        if check is not None:
            check()
        if self.error is not None:
            raise self.error
        return SubmitOutcome(self.status, 1, txn["txn_id"], "queued")


class Limits:
    def __init__(self) -> None:
        self.checked: list[tuple[str, int]] = []

    def check(self, method: str, amount: int) -> None:
        self.checked.append((method, amount))


TXN = {"txn_id": "t-1", "method": "cash", "amount": 500}


def _make(**journal: Any) -> tuple[Transactions, Journal, Link, Health, Limits]:
    j, link, health, limits = Journal(**journal), Link(), Health(), Limits()
    return Transactions(j, link, health, limits), j, link, health, limits  # type: ignore[arg-type]


def test_online_no_ceiling_check_and_the_uplink_is_woken() -> None:
    svc, j, link, _, limits = _make()
    assert svc.submit(TXN).status == "created"
    assert j.calls == [(False, None)] and limits.checked == [] and link.notified == 1


def test_offline_the_ceiling_is_checked_inside_the_commit() -> None:
    svc, j, link, _, limits = _make()
    link.connected = False
    svc.submit(TXN)
    assert j.calls[0][0] is True and limits.checked == [("cash", 500)]


def test_a_duplicate_wakes_nothing() -> None:
    svc, _, link, _, _ = _make(status="duplicate")
    svc.submit(TXN)
    assert link.notified == 0


def test_storage_full_raises_the_fault_once_and_the_next_write_clears_it() -> None:
    svc, j, link, health, _ = _make(error=StorageFull("only 3 MB free"))
    for _ in range(2):
        with pytest.raises(StorageFull):
            svc.submit(TXN)
    assert health.storage_fault == "only 3 MB free" and link.health_requests == 1 and j.ledger.shed == 0
    j.error = None
    svc.submit(TXN)
    assert health.storage_fault is None and link.health_requests == 2


def test_sqlite_full_sheds_health_samples() -> None:
    svc, j, _, _, _ = _make(error=StorageFull("database or disk is full"))
    with pytest.raises(StorageFull):
        svc.submit(TXN)
    assert j.ledger.shed == 1
