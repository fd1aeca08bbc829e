"""Validation of a transaction body: the normalised document, every problem named in field order."""

from __future__ import annotations

from typing import Any

import pytest

from agent.services.txn import MAX_AMOUNT, InvalidTxn, validate

GOOD = {"kind": "payment", "amount": 100, "method": "cash"}


def _problems(body: Any) -> list[str]:
    with pytest.raises(InvalidTxn) as err:
        validate(body)
    return err.value.problems


def test_the_normalised_transaction() -> None:
    txn = validate(GOOD)
    assert txn["txn_id"].startswith("tx-") and len(txn["txn_id"]) == 35
    assert {k: v for k, v in txn.items() if k != "txn_id"} == {"kind": "payment", "amount": 100, "currency": "CNY",
                                                                 "method": "cash", "ref": None, "data": None}
    assert list(txn) == ["txn_id", "kind", "amount", "currency", "method", "ref", "data"]


def test_outcome_and_reason_only_when_given() -> None:
    assert "outcome" not in validate(GOOD)
    assert validate({**GOOD, "outcome": "failed", "reason": "note_rejected"})["reason"] == "note_rejected"
    assert validate({**GOOD, "outcome": "completed"})["outcome"] == "completed"


def test_every_problem_in_field_order() -> None:
    problems = _problems({"kind": "PAY", "amount": True, "currency": "cny", "txn_id": "a b", "ref": "x" * 129,
                          "data": [], "outcome": "failed", "extra": 1})
    assert [p.split(":")[0] for p in problems] == ["extra", "kind", "method", "amount", "currency", "txn_id", "ref",
                                                   "data", "reason"]


@pytest.mark.parametrize(("body", "field"), [
    ({**GOOD, "amount": MAX_AMOUNT + 1}, "amount"),
    ({**GOOD, "amount": -1}, "amount"),
    ({**GOOD, "txn_id": "nl-1\n"}, "txn_id"),
    ({**GOOD, "reason": "timeout"}, "reason"),
    ({**GOOD, "outcome": "lost"}, "outcome"),
    ({**GOOD, "data": {"x": "y" * 20000}}, "data"),
    ({**GOOD, "ref": "card 4111 1111 1111 1111"}, "ref"),
    ({**GOOD, "txn_id": "4111111111111111"}, "txn_id"),
])
def test_refused(body: dict[str, Any], field: str) -> None:
    assert [p.split(":")[0] for p in _problems(body)] == [field]


def test_not_an_object() -> None:
    assert _problems([GOOD]) == ["body must be a JSON object"]
