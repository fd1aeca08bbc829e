"""Queue, counters and the recovery alarm over a real journal in a temporary directory."""

from __future__ import annotations

from typing import Any

from agent.journal import Journal
from agent.services.counters import Counters
from agent.services.queue import BASIC_SUMMARY, Queue, basic_summary, record_summary
from agent.services.recovery import RecoveryAlarm, raise_recovery_alarm


def test_record_summaries(journal: Journal) -> None:
    journal.submit_txn({"txn_id": "t-1", "kind": "payment", "amount": 5, "currency": "CNY", "method": "cash",
                        "ref": None, "data": None}, offline=False)
    rec = journal.records(limit=10)[-1]
    full = record_summary(rec)
    assert (full["id"], full["kind"], full["amount"], full["method"]) == ("t-1", "txn", 5, "cash")
    assert full["has_sealed_data"] is False and full["crc_ok"] is True
    assert basic_summary(rec) == {k: full[k] for k in BASIC_SUMMARY}
    assert list(basic_summary(rec)) == ["seq", "id", "kind", "type", "device", "ts", "state", "attempts", "amount",
                                        "method"]


def test_queue_events_and_retry_wake_the_uplink(journal: Journal) -> None:
    woken: list[int] = []
    queue = Queue(journal, wake=lambda: woken.append(1))
    journal.append_event("paper_low", {"level": 1}, device="printer")
    events = queue.device_events("printer", 0, 10)
    assert [(e["type"], e["data"]) for e in events] == [("paper_low", {"level": 1})]
    assert queue.retry_dead(None) == 0 and woken == [1]


class Driver:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def counters(self) -> dict[str, int]:
        return dict(self.values)


class Poller:
    def __init__(self) -> None:
        self.driver = Driver()


def test_counters_are_persisted_once(journal: Journal) -> None:
    pollers: dict[str, Any] = {"printer": Poller()}
    counters = Counters(journal, lambda: pollers)
    pollers["printer"].driver.values = {"cuts": 3}
    assert counters.device("printer") == {"cuts": 3}
    counters.persist()
    counters.persist()  # nothing new: nothing added twice
    assert journal.ledger.counters() == {"printer": {"cuts": 3}}
    pollers["printer"].driver.values = {"cuts": 5}
    assert counters.device("printer") == {"cuts": 5}
    del pollers["printer"]
    assert counters.all() == {"printer": {"cuts": 3}}


def test_the_recovery_alarm_until_acknowledged(journal: Journal) -> None:
    changed: list[int] = []
    alarm = RecoveryAlarm(journal, on_change=lambda: changed.append(1))
    assert alarm.faults() == [] and alarm.acknowledge() is False and changed == []
    raise_recovery_alarm(journal, {"salvaged": 4, "unreadable": 1, "quarantine": "/q"}, "bad page")
    [fault] = alarm.faults()
    assert fault["code"] == "journal_recovered" and "4 records salvaged, 1 unreadable; evidence in /q" in fault["text"]
    assert [r.type for r in journal.records(kind="event", limit=10)] == ["journal_recovered"]
    assert alarm.acknowledge() is True and changed == [1] and alarm.faults() == []
