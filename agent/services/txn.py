"""Validation of a transaction body from the kiosk application (``POST /v1/transactions``, docs/api.md)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from agent.journal import DATA_REFUSED
from agent.runtime.logs import mask_text
from drivers.base.sensitive import pan_shaped

MAX_DATA_BYTES = 16 * 1024
MAX_AMOUNT = 10**12
# fullmatch, never ``^...$``: ``$`` also matches before a trailing newline, so "nl-1\n" passed
# and became a second transaction beside "nl-1"
_TXN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_WORD = re.compile(r"[a-z][a-z0-9_]{0,31}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_SENSITIVE = "looks like a card or ID number; sensitive values belong in data (sealed)"
_FIELDS = {"txn_id", "kind", "amount", "currency", "method", "ref", "data", "outcome", "reason"}
#: what became of the customer's business: the fleet's transaction success rate counts these, with
#: the reason (a device failure such as note_rejected, card_read_failed, receipt_failed, or
#: customer_cancelled, timeout, ...) behind every attempt that did not complete
OUTCOMES = ("completed", "failed", "cancelled")


class InvalidTxn(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class DataRefused(InvalidTxn):
    """``data`` without a fleet key to seal it and without ``[seal] allow_clear``: nothing recorded."""

    def __init__(self) -> None:
        super().__init__([DATA_REFUSED])


def validate(body: Any) -> dict[str, Any]:
    """Return the normalised transaction (txn_id generated when absent). Raises InvalidTxn with
    every problem, in the order of the fields below."""
    if not isinstance(body, dict):
        raise InvalidTxn(["body must be a JSON object"])
    problems = [f"{k}: unknown field" for k in body if k not in _FIELDS]
    for check in (_check_words, _check_amount, _check_ids, _check_data, _check_outcome, _check_sensitive):
        problems += check(body)
    if problems:
        raise InvalidTxn(problems)
    outcome, reason = body.get("outcome", "completed"), body.get("reason")
    txn = {"txn_id": body.get("txn_id") or f"tx-{uuid.uuid4().hex}", "kind": body["kind"], "amount": body["amount"],
           "currency": body.get("currency", "CNY"), "method": body["method"], "ref": body.get("ref"),
           "data": body.get("data")}
    if "outcome" in body:  # only when given: the body hash (idempotency) of older clients' retries is unchanged
        txn["outcome"] = outcome
    if reason is not None:
        txn["reason"] = reason
    return txn


def _check_words(body: dict[str, Any]) -> list[str]:
    problems = []
    kind, method = body.get("kind"), body.get("method")
    if not isinstance(kind, str) or not _WORD.fullmatch(kind):
        problems.append("kind: required, a lower-case word (payment, refund, cash_in, fee, ...)")
    if not isinstance(method, str) or not _WORD.fullmatch(method):
        problems.append("method: required, a lower-case word (cash, unionpay, qr, ...)")
    return problems


def _check_amount(body: dict[str, Any]) -> list[str]:
    problems = []
    amount = body.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int):
        problems.append("amount: required, an integer in minor units (fen)")
    elif not 0 <= amount <= MAX_AMOUNT:
        problems.append(f"amount: must be between 0 and {MAX_AMOUNT}")
    currency = body.get("currency", "CNY")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        problems.append("currency: an ISO 4217 code such as CNY")
    return problems


def _check_ids(body: dict[str, Any]) -> list[str]:
    problems = []
    txn_id = body.get("txn_id")
    if txn_id is not None and (not isinstance(txn_id, str) or not _TXN_ID.fullmatch(txn_id)):
        problems.append("txn_id: 1-64 characters of [A-Za-z0-9_-]")
    ref = body.get("ref")
    if ref is not None:
        if not isinstance(ref, str) or len(ref) > 128:
            problems.append("ref: a string of at most 128 characters")
        elif mask_text(ref) != ref or pan_shaped(ref):
            problems.append(f"ref: {_SENSITIVE}")
    return problems


def _check_data(body: dict[str, Any]) -> list[str]:
    data = body.get("data")
    if data is None:
        return []
    if not isinstance(data, dict):
        return ["data: must be a JSON object"]
    if len(json.dumps(data, ensure_ascii=False).encode()) > MAX_DATA_BYTES:
        return [f"data: at most {MAX_DATA_BYTES} bytes of JSON"]
    return []


def _check_outcome(body: dict[str, Any]) -> list[str]:
    problems = []
    outcome, reason = body.get("outcome", "completed"), body.get("reason")
    if outcome not in OUTCOMES:
        problems.append(f"outcome: one of {', '.join(OUTCOMES)} (default completed)")
    if reason is not None and (not isinstance(reason, str) or not _WORD.fullmatch(reason)):
        problems.append("reason: a lower-case code (note_rejected, card_read_failed, receipt_failed, "
                        "customer_cancelled, timeout, ...)")
    elif reason is None and outcome in ("failed", "cancelled"):
        problems.append(f"reason: required when outcome is {outcome}")
    elif reason is not None and outcome == "completed":
        problems.append("reason: only for an outcome of failed or cancelled")
    return problems


def _check_sensitive(body: dict[str, Any]) -> list[str]:
    """A PAN-shaped value (Luhn-valid 13-19 digits with a card prefix, any separators) or an ID
    number in a clear field would be journalled and published as is: refused, never masked."""
    return [f"{name}: {_SENSITIVE}" for name in ("txn_id", "kind", "method", "reason")
            if isinstance(body.get(name), str) and pan_shaped(body[name])]
