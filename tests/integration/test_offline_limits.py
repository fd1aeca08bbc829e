"""Offline limits for money: per-method ceilings while the network is down, restricted mode in
health, nothing accepted ever evicted, and the ceilings lift as the backlog drains."""

from __future__ import annotations

from tests.support.waiting import wait_until


def _txn(i: int, method: str, amount: int) -> dict[str, object]:
    return {"txn_id": f"tx-{i:05d}", "kind": "payment", "amount": amount, "method": method}


def test_ceilings_refuse_the_method_not_the_terminal(agent_factory, mqtt_proxy, terminal_id):
    mqtt_proxy.refuse()
    agent = agent_factory(mqtt_proxy.port, terminal_id=terminal_id, sections={"offline_limits": {
        "unionpay": {"max_amount": 50000, "max_total": 100000},
        "qr": {"max_age_s": 0.5},
    }}).start()
    api = agent.client()
    code, doc = api.post("/v1/transactions", _txn(1, "unionpay", 60000))
    assert code == 403 and doc["error"]["code"] == "offline_amount_limit" and "500.00" in doc["error"]["message"]
    for i in range(2, 4):
        assert api.post("/v1/transactions", _txn(i, "unionpay", 50000))[0] == 201
    code, doc = api.post("/v1/transactions", _txn(4, "unionpay", 1))
    assert code == 403 and doc["error"]["code"] == "offline_total_limit"
    # a retry of an accepted transaction is still answered (idempotent), not refused
    assert api.post("/v1/transactions", _txn(2, "unionpay", 50000))[0] == 200
    # cash has no ceiling: the terminal keeps taking cash
    assert api.post("/v1/transactions", _txn(5, "cash", 10**7))[0] == 201
    # qr: the first is accepted, and once it is older than max_age_s qr is refused
    assert api.post("/v1/transactions", _txn(6, "qr", 100))[0] == 201
    qr_id = iter(range(100, 100_000))
    refused = wait_until(lambda: (r := api.post("/v1/transactions", _txn(next(qr_id), "qr", 100)))[0] == 403 and r, 5)
    assert refused[1]["error"]["code"] == "offline_age_limit"
    health = api.get("/v1/health")[1]
    assert health["limits"]["mode"] == "restricted"
    assert set(health["limits"]["refused_methods"]) == {"unionpay", "qr"}
    assert health["limits"]["methods"]["qr"]["offline_count"] >= 1
    assert health["limits"]["methods"]["unionpay"]["offline_total"] == 100000
    # nothing accepted was evicted; the refused ones were never recorded
    assert [api.get(f"/v1/transactions/tx-{i:05d}")[0] for i in (1, 2, 3, 4, 5, 6)] == [404, 200, 200, 404, 200, 200]

    mqtt_proxy.restore()
    wait_until(lambda: api.get("/v1/queue")[1]["pending_txns"] == 0, 20)
    assert api.get("/v1/health")[1]["limits"]["mode"] == "normal"
    assert api.post("/v1/transactions", _txn(8, "unionpay", 60000))[0] == 201  # online: no offline ceiling
