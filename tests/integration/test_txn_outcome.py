"""A transaction's outcome (completed, failed, cancelled with a reason) through the running daemon: the
kiosk application records attempts that did not complete, so the fleet can report the success rate."""

from __future__ import annotations

from tests.support.waiting import wait_until


def _txn(n: int, **extra: object) -> dict[str, object]:
    return {"txn_id": f"oc-{n:03d}", "kind": "payment", "amount": 100 * n, "method": "cash", **extra}


def test_outcomes_are_recorded_published_and_checked(agent_factory, broker, recorder, terminal_id):
    rec = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/up/txn")  # validates every payload against the contract
    api = agent_factory(broker.port, terminal_id=terminal_id).start().client()
    assert api.post("/v1/transactions", _txn(1))[0] == 201
    assert api.post("/v1/transactions", _txn(2, outcome="failed", reason="note_rejected"))[0] == 201
    assert api.post("/v1/transactions", _txn(3, outcome="cancelled", reason="customer_cancelled"))[0] == 201
    assert api.post("/v1/transactions", _txn(4, outcome="completed"))[0] == 201
    # the same failed attempt again is the same transaction; another outcome under its id is a conflict
    assert api.post("/v1/transactions", _txn(2, outcome="failed", reason="note_rejected"))[0] == 200
    assert api.post("/v1/transactions", _txn(2, outcome="completed"))[0] == 409
    for body in (_txn(5, outcome="failed"), _txn(6, outcome="completed", reason="timeout"),
                 _txn(7, outcome="refunded", reason="x"), _txn(8, outcome="failed", reason="Not A Code"),
                 _txn(9, outcome="cancelled", reason="6228480000000000009")):
        code, doc = api.post("/v1/transactions", body)
        assert code == 422 and doc["error"]["code"] == "invalid_transaction", (body, code, doc)
    got = {m.json()["txn_id"]: m.json() for m in rec.wait_count(f"kiosk/v1/TEST-SITE/{terminal_id}/up/txn", 4, 20)}
    assert {k: (v["outcome"], v.get("reason")) for k, v in got.items()} == {
        "oc-001": ("completed", None), "oc-002": ("failed", "note_rejected"),
        "oc-003": ("cancelled", "customer_cancelled"), "oc-004": ("completed", None)}
    wait_until(lambda: api.get("/v1/queue")[1]["pending"] == 0, 10)
