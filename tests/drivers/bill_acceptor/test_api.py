"""The protocol-independent layer: options, denomination table and the NoteFlow money rules."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import UnsupportedCommand
from drivers.bill_acceptor.api import DenominationTable, parse_code
from drivers.bill_acceptor.id003.constants import DEFAULT_RMB_DENOMINATIONS
from drivers.bill_acceptor.id003.driver import Id003Driver
from drivers.bill_acceptor.notes import CreditOutcome, NoteFlow


class Journal:
    """An emit() that records events and can be told to fail."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.attempts: list[tuple[str, dict[str, Any]]] = []
        self.fail_next = 0

    def emit(self, kind: str, data: dict[str, Any]) -> int:
        self.attempts.append((kind, dict(data)))
        if self.fail_next:
            self.fail_next -= 1
            raise OSError("disk I/O error")
        self.events.append((kind, dict(data)))
        return len(self.events)

    def kinds(self) -> list[str]:
        return [k for k, _ in self.events]


def _flow(journal: Journal, **options: Any) -> tuple[NoteFlow, dict[str, int]]:
    counters: dict[str, int] = {}

    def count(key: str, n: int) -> None:
        counters[key] = counters.get(key, 0) + n

    table = DenominationTable.from_options(options, DEFAULT_RMB_DENOMINATIONS)
    return NoteFlow(table, journal.emit, count), counters


@pytest.mark.parametrize(("key", "code"), [(99, 99), ("99", 99), ("0x63", 0x63), ("0X6f", 0x6F)])
def test_parse_code(key: Any, code: int) -> None:
    assert parse_code(key) == code


@pytest.mark.parametrize("key", ["x", "0x100", -1, True, 1.5, "0xZZ"])
def test_parse_code_rejects(key: Any) -> None:
    with pytest.raises(ValueError):
        parse_code(key)


def test_check_options_accepts_good_config() -> None:
    assert Id003Driver.check_options({}) == []
    assert Id003Driver.check_options({"denominations": {"0x63": 10, "0x65": 50}, "accept": [50],
                                      "currency": "CNY", "interactive_timeout_s": 30}) == []
    assert Id003Driver.check_options({"accept": [10, 100]}) == []


@pytest.mark.parametrize(("options", "key"), [
    ({"bogus": 1}, "bogus"),
    ({"denominations": {}}, "denominations"),
    ({"denominations": {"0x63": 0}}, "denominations.0x63"),
    ({"denominations": {"zz": 10}}, "denominations.zz"),
    ({"denominations": {"0x63": "ten"}}, "denominations.0x63"),
    ({"denominations": {"0x63": 10}, "accept": [50]}, "accept"),
    ({"accept": [7]}, "accept"),
    ({"accept": "50"}, "accept"),
    ({"currency": "yuan"}, "currency"),
    ({"interactive_timeout_s": 0}, "interactive_timeout_s"),
])
def test_check_options_reports_key(options: dict[str, Any], key: str) -> None:
    problems = Id003Driver.check_options(options)
    assert problems and any(p.startswith(key + ":") for p in problems), problems


def test_default_table_is_rmb() -> None:
    table = DenominationTable.from_options({}, DEFAULT_RMB_DENOMINATIONS)
    assert sorted(table.values.values()) == [1, 5, 10, 20, 50, 100]
    assert table.value_of(0x63) == 10 and table.accepts(0x66)
    assert table.enabled_codes == frozenset(range(0x61, 0x67))
    only = DenominationTable.from_options({"accept": [50, 100]}, DEFAULT_RMB_DENOMINATIONS)
    assert only.enabled_codes == {0x65, 0x66} and not only.accepts(0x63)


def test_escrow_then_credit_once() -> None:
    journal = Journal()
    flow, counters = _flow(journal)
    decision = flow.escrow(0x65, accepting=True)
    assert decision.stack and decision.value_yuan == 50
    assert journal.kinds() == ["note_escrowed"]  # no credit at escrow
    assert flow.escrow(0x65, accepting=True).note_id == decision.note_id  # repeated escrow report
    assert journal.kinds() == ["note_escrowed"]
    assert flow.credit() is CreditOutcome.CREDITED
    assert flow.credit() is CreditOutcome.ALREADY_CREDITED  # ACK lost: re-reported, not re-emitted
    flow.settle()
    assert journal.kinds() == ["note_escrowed", "note_stacked"]
    stacked = journal.events[1][1]
    assert stacked == {"note_id": decision.note_id, "value_fen": 5000, "currency": "CNY",
                       "denomination_code": "0x65"}
    assert counters == {"notes_stacked": 1, "notes_stacked_50": 1}
    assert not flow.in_flight


def test_credit_emit_failure_retries_with_same_note_id() -> None:
    journal = Journal()
    flow, counters = _flow(journal)
    flow.escrow(0x63, accepting=True)
    journal.fail_next = 1
    with pytest.raises(OSError):
        flow.credit()
    assert flow.credit() is CreditOutcome.CREDITED
    stacked = [d for k, d in journal.attempts if k == "note_stacked"]
    assert len(stacked) == 2 and stacked[0] == stacked[1]
    assert [k for k in journal.kinds() if k == "note_stacked"] == ["note_stacked"]
    assert counters["notes_stacked"] == 1


@pytest.mark.parametrize(("code", "options", "accepting", "reason"), [
    (0x68, {}, True, "unknown_denomination"),
    (0x61, {"accept": [50]}, True, "denomination_disabled"),
    (0x65, {}, False, "acceptance_disabled"),
])
def test_escrow_returns(code: int, options: dict[str, Any], accepting: bool, reason: str) -> None:
    journal = Journal()
    flow, counters = _flow(journal, **options)
    decision = flow.escrow(code, accepting=accepting)
    assert not decision.stack and decision.reason == reason
    flow.returned()
    flow.returned()  # RETURNING reported after the ACK: still one event
    assert journal.kinds() == ["note_returned"]
    assert journal.events[0][1]["reason"] == reason
    assert counters == {"notes_returned": 1}


def test_return_decided_then_idle_is_reported_returned() -> None:
    journal = Journal()
    flow, _ = _flow(journal, accept=[100])
    flow.escrow(0x61, accepting=True)  # RETURN sent, its ACK lost; the next report is idle
    flow.settle()
    assert journal.kinds() == ["note_returned"]
    flow.settle()
    assert journal.kinds() == ["note_returned"]


def test_credit_without_escrow_is_reconciled_not_credited() -> None:
    journal = Journal()
    flow, counters = _flow(journal)
    assert flow.credit() is CreditOutcome.RECONCILE
    assert flow.credit() is CreditOutcome.ALREADY_CREDITED
    assert journal.kinds() == ["note_reconcile"]
    assert journal.events[0][1]["reason"] == "credit_without_escrow"
    assert journal.events[0][1]["credited"] is False
    assert "notes_stacked" not in counters


def test_stack_not_confirmed_is_reconciled() -> None:
    journal = Journal()
    flow, _ = _flow(journal)
    flow.escrow(0x64, accepting=True)
    flow.settle()
    assert journal.kinds() == ["note_escrowed", "note_reconcile"]
    assert journal.events[1][1]["reason"] == "stack_not_confirmed"
    assert journal.events[1][1]["value_fen"] == 2000


def test_acceptor_returned_note_on_its_own() -> None:
    journal = Journal()
    flow, _ = _flow(journal)
    decision = flow.escrow(0x64, accepting=True)
    flow.returned()
    assert journal.kinds() == ["note_escrowed", "note_returned"]
    assert journal.events[1][1]["reason"] == "returned_by_acceptor"
    assert journal.events[1][1]["note_id"] == decision.note_id
    flow.settle()
    assert journal.kinds() == ["note_escrowed", "note_returned"]


def test_power_up_with_bill_reports_pending_note() -> None:
    journal = Journal()
    flow, counters = _flow(journal)
    decision = flow.escrow(0x66, accepting=True)
    flow.credit()
    flow.power_up_with_bill("stacker")
    event = journal.events[-1]
    assert event[0] == "note_reconcile"
    assert event[1]["reason"] == "power_up_with_bill_in_stacker"
    assert event[1]["note_id"] == decision.note_id and event[1]["credited"] is True
    assert counters["power_up_with_bill"] == 1


def test_rejected() -> None:
    journal = Journal()
    flow, counters = _flow(journal)
    flow.rejected("mag_err", 0x72)
    assert journal.events == [("note_rejected", {"reason": "mag_err", "reason_code": "0x72"})]
    assert counters == {"notes_rejected": 1}


def test_poll_interval_and_unknown_operation() -> None:
    drv = Id003Driver(DeviceSpec("ba", "bill_acceptor", "id003", "/dev/null", poll_interval_s=5.0), DriverContext())
    assert drv.poll_interval_s == 5.0
    drv.wants_accepting = True
    assert drv.poll_interval_s == pytest.approx(0.2)
    with pytest.raises(UnsupportedCommand):
        drv.operation("dispense", {})
