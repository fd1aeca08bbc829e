"""Store-and-forward end to end: the real daemon, a real Mosquitto, a TCP proxy that cuts the link.

The uplink tests run under both MQTT versions (the ``protocol`` fixture); the minute-long flapping
test runs a shorter 3.1.1 form, since the drain code is shared and only the session differs, and
the blackholed will runs under 3.1.1 in test_broker_matrix.py (against Mosquitto and NATS).
"""

from __future__ import annotations

import json
import random
import time

import pytest

from tests.support.recorder import Received
from tests.support.waiting import wait_until


def _txn(i: int, **extra: object) -> dict[str, object]:
    return {"txn_id": f"tx-{i:05d}", "kind": "payment", "amount": 100 + i, "method": "cash", **extra}


def _delivered(rec, terminal_id: str, leaf: str) -> list[dict]:
    return [m.json() for m in rec.messages(f"kiosk/v1/TEST-SITE/{terminal_id}/up/{leaf}")]


def test_offline_submit_then_link_back_delivers_everything_in_order_health_first(
        agent_factory, broker, mqtt_proxy, recorder, terminal_id, protocol):
    rec = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/#")
    mqtt_proxy.refuse()
    agent = agent_factory(mqtt_proxy.port, terminal_id=terminal_id, mqtt={"protocol": protocol}).start()
    api = agent.client()
    for i in range(30):
        code, doc = api.post("/v1/transactions", _txn(i, data={"name": "张三", "id_number": "11010519491231002X"}))
        assert code == 201, doc
        assert doc["state"] == "queued" and doc["seq"] == i + 1
    assert not rec.messages(f"kiosk/v1/TEST-SITE/{terminal_id}/up/txn")
    code, health = api.get("/v1/health")
    assert health["connectivity"]["online"] is False and health["queue"]["pending"] == 30

    mqtt_proxy.restore()
    rec.wait_count(f"kiosk/v1/TEST-SITE/{terminal_id}/up/txn", 30, 20)
    order = [m.topic.rsplit("/", 1)[1] for m in rec.messages()]
    assert order[0] == "status" and order[1] == "health", order[:5]
    txns = _delivered(rec, terminal_id, "txn")
    assert [t["seq"] for t in txns] == list(range(1, 31))
    assert all(t["offline"] is True and t["terminal_id"] == terminal_id for t in txns)
    # sensitive data is sealed: the name and ID number never appear in clear on the wire
    raw = b"".join(m.payload for m in rec.messages())
    assert "张三".encode() not in raw and b"11010519491231002X" not in raw
    assert txns[0]["data_enc"]["alg"] == "HPKE-v1-X25519-SHA256-A256GCM"
    outage = [e for e in _delivered(rec, terminal_id, "events") if e["type"] == "outage"]
    assert outage and outage[0]["data"]["queued"]["txn"] == 30
    wait_until(lambda: api.get("/v1/transactions/tx-00029")[1]["state"] == "settled", 10)
    wait_until(lambda: api.get("/v1/health")[1]["queue"]["pending"] == 0, 10)
    assert broker.client_protocols(terminal_id) == {protocol}  # the broker saw the version we asked for


def test_kill9_between_commit_and_puback_resends_after_restart(
        agent_factory, mqtt_proxy, recorder, terminal_id, protocol):
    rec = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/up/txn")
    mqtt_proxy.blackhole()  # publishes leave the agent but no PUBACK ever comes back
    agent = agent_factory(mqtt_proxy.port, terminal_id=terminal_id,
                          mqtt={"keepalive": 60, "protocol": protocol}).start()
    api = agent.client()
    # the agent connects only if CONNACK arrives, so let it connect first, then blackhole
    mqtt_proxy.restore()
    wait_until(lambda: api.get("/v1/health")[1]["connectivity"]["online"], 15)
    mqtt_proxy.blackhole()
    for i in range(5):
        assert api.post("/v1/transactions", _txn(i))[0] == 201
    wait_until(lambda: api.get("/v1/queue")[1]["pending_txns"] == 5, 5)
    agent.kill()
    mqtt_proxy.restore()
    agent.start()
    rec.wait_count(f"kiosk/v1/TEST-SITE/{terminal_id}/up/txn", 5, 20)
    ids = sorted({t["txn_id"] for t in _delivered(rec, terminal_id, "txn")})
    assert ids == [f"tx-{i:05d}" for i in range(5)]
    api = agent.client()
    wait_until(lambda: api.get("/v1/queue")[1]["pending"] == 0, 10)


def test_idempotent_submit_conflict_and_bad_bodies(agent_factory, broker, terminal_id):
    agent = agent_factory(broker.port, terminal_id=terminal_id).start()
    api = agent.client()
    assert api.post("/v1/transactions", _txn(1))[0] == 201
    code, doc = api.post("/v1/transactions", _txn(1))
    assert code == 200 and doc["txn_id"] == "tx-00001"
    code, doc = api.post("/v1/transactions", _txn(1, amount=5))
    assert code == 409 and doc["error"]["code"] == "txn_id_conflict"
    bad_bodies = [[], "x", 5, {"kind": "payment"}, _txn(2, amount=-1), _txn(3, amount=1.5), _txn(4, amount=True),
                  _txn(5, currency="yuan"), _txn(6, txn_id="bad id!"), _txn(7, extra=1), _txn(8, data=[1]),
                  _txn(9, ref="6228480000000000009"), _txn(10, data={"x": "y" * 20000})]
    for body in bad_bodies:
        code, doc = api.post("/v1/transactions", body)
        assert code == 422, (body, code, doc)
        assert doc["error"]["code"] == "invalid_transaction" and doc["error"]["message"]
    # raw protocol abuse: not JSON, not UTF-8, too large, unknown endpoint, wrong method
    import http.client
    import socket

    def raw(method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(agent.socket_path))
        conn = http.client.HTTPConnection("localhost")
        conn.sock = s
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        out = resp.status, json.loads(resp.read())
        conn.close()
        return out

    assert raw("POST", "/v1/transactions", b"{not json", {})[0] == 400
    assert raw("POST", "/v1/transactions", b"\xff\xfe", {})[1]["error"]["code"] == "bad_encoding"
    assert raw("POST", "/v1/transactions", b"x" * 70000, {})[0] == 413
    assert raw("GET", "/v1/nope", b"", {})[0] == 404
    assert raw("DELETE", "/v1/transactions", b"", {})[0] == 405
    stats = api.get("/v1/queue")[1]
    assert stats["pending_txns"] <= 1  # only the one good transaction was ever recorded


def test_507_when_max_pending_reached_and_nothing_accepted_is_dropped(agent_factory, mqtt_proxy, terminal_id):
    mqtt_proxy.refuse()
    agent = agent_factory(mqtt_proxy.port, terminal_id=terminal_id,
                          sections={"storage": {"max_pending": 3}}).start()
    api = agent.client()
    for i in range(3):
        assert api.post("/v1/transactions", _txn(i))[0] == 201
    code, doc = api.post("/v1/transactions", _txn(3))
    assert code == 507 and doc["error"]["code"] == "storage_full" and "max_pending" in doc["error"]["message"]
    assert api.get("/v1/transactions/tx-00003")[0] == 404
    assert [api.get(f"/v1/transactions/tx-{i:05d}")[1]["state"] for i in range(3)] == ["queued"] * 3
    mqtt_proxy.restore()
    wait_until(lambda: api.get("/v1/queue")[1]["pending_txns"] == 0, 15)
    assert api.post("/v1/transactions", _txn(3))[0] == 201


def test_blackholed_link_is_noticed_by_keepalive_and_the_will_says_offline(
        agent_factory, mqtt_proxy, recorder, terminal_id):
    # MQTT 5 here; the same blackholed will under 3.1.1 (Mosquitto and NATS) is in test_broker_matrix.py
    rec = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/up/status")
    agent = agent_factory(mqtt_proxy.port, terminal_id=terminal_id, mqtt={"keepalive": 5}).start()
    api = agent.client()
    wait_until(lambda: api.get("/v1/health")[1]["connectivity"]["online"], 15)
    mqtt_proxy.blackhole()
    # the broker fires the will after 1.5 x keepalive; the agent notices within ~2 x keepalive
    will = rec.wait_for(lambda m: m.json().get("reason") == "lwt", 20)
    assert will.json()["state"] == "offline"
    wait_until(lambda: not api.get("/v1/health")[1]["connectivity"]["online"], 20)
    assert api.post("/v1/transactions", _txn(1))[0] == 201  # the API keeps answering
    mqtt_proxy.restore()
    rec.wait_for(lambda m: m.json().get("state") == "online" and m.json().get("session", 0) >= 2, 20)


#: seconds of flapping per version: the full minute under MQTT 5, a shorter form under 3.1.1
FLAP_S = {"5": 60, "3.1.1": 15}


def test_flapping_link_for_a_minute_loses_nothing(agent_factory, mqtt_proxy, recorder, terminal_id, protocol):
    rec = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/up/#")
    agent = agent_factory(mqtt_proxy.port, terminal_id=terminal_id, mqtt={"protocol": protocol}).start()
    api = agent.client()
    rng = random.Random(7)
    deadline = time.monotonic() + FLAP_S[protocol]
    acked: list[int] = []  # the seq each 201 answered, in submission order
    while time.monotonic() < deadline:
        action = rng.choice(["cut", "refuse", "restore", "restore", "blackhole"])
        getattr(mqtt_proxy, action)()
        for _ in range(rng.randint(1, 8)):
            code, doc = api.post("/v1/transactions", _txn(len(acked)))
            assert code == 201, doc
            acked.append(doc["seq"])
        # let each phase last a moment; waiting on the API keeps this loop honest about load
        t_end = time.monotonic() + rng.uniform(0.2, 1.5)
        while time.monotonic() < t_end:
            api.get("/v1/health")
    mqtt_proxy.restore()
    wait_until(lambda: api.get("/v1/queue")[1]["pending"] == 0, 45,
               message=lambda: f"stuck: {api.get('/v1/queue')[1]}")
    last_seq = api.get("/v1/queue")[1]["last_seq"]
    assert_in_order_without_gaps(acked, rec.messages(), last_seq)


def assert_in_order_without_gaps(acked: list[int], messages, last_seq: int) -> None:
    """What a flapping link must not break: each acknowledged transaction is published under the seq
    its 201 gave it, the journal numbered them in the order they were submitted, and the records
    published (transactions and events share one seq) cover 1..last_seq with no gap and no seq reused
    for another record (redeliveries of the same record are allowed: QoS 1 is at-least-once)."""
    n = len(acked)
    assert acked == sorted(set(acked)), "the journal did not number the transactions in submission order"
    by_seq: dict[int, str] = {}
    delivered_txns: dict[str, int] = {}
    for m in messages:
        if m.topic.rsplit("/", 1)[1] not in ("txn", "events", "selftest"):
            continue
        doc = m.json()
        record_id = doc.get("txn_id", doc.get("event_id"))
        assert by_seq.setdefault(doc["seq"], record_id) == record_id, f"seq {doc['seq']} reused for another record"
        if "txn_id" in doc:
            delivered_txns[doc["txn_id"]] = doc["seq"]
    missing = [f"tx-{i:05d}" for i in range(n) if f"tx-{i:05d}" not in delivered_txns]
    assert not missing, f"{len(missing)} of {n} transactions never published"
    moved = [i for i in range(n) if delivered_txns[f"tx-{i:05d}"] != acked[i]]
    assert not moved, f"{len(moved)} transactions published under another seq than acknowledged: {moved[:5]}"
    gaps = sorted(set(range(1, last_seq + 1)) - set(by_seq))
    assert not gaps, f"seq has {len(gaps)} gaps once deduplicated, first {gaps[:5]}"


def _msg(leaf: str, **doc) -> Received:
    return Received(f"kiosk/v1/TEST-SITE/T/up/{leaf}", json.dumps(doc).encode(), False, 1, 0.0)


#: a flapping run in miniature: tx-00000 seq 1, an outage event seq 2, tx-00001 seq 3 redelivered
_GOOD = [_msg("txn", txn_id="tx-00000", seq=1), _msg("events", event_id="e1", seq=2),
         _msg("status", state="online"), _msg("txn", txn_id="tx-00001", seq=3),
         _msg("txn", txn_id="tx-00001", seq=3)]


def test_order_and_gap_check_accepts_redeliveries_and_interleaved_events():
    assert_in_order_without_gaps([1, 3], _GOOD, 3)


@pytest.mark.parametrize("acked, messages, last_seq, why", [
    ([3, 1], _GOOD, 3, "submission order"),
    ([1, 3], [m for m in _GOOD if m.topic.endswith("events")] + _GOOD[3:], 3, "never published"),
    ([1, 3], [m for m in _GOOD if not m.topic.endswith("events")], 3, "gaps"),
    ([1, 3], _GOOD, 4, "gaps"),
    ([1, 2], _GOOD, 3, "another seq"),
    ([1, 3], [*_GOOD, _msg("events", event_id="e9", seq=1)], 3, "reused"),
])
def test_order_and_gap_check_fails_on_reorder_loss_or_gap(acked, messages, last_seq, why):
    with pytest.raises(AssertionError, match=why):
        assert_in_order_without_gaps(acked, messages, last_seq)


def test_sigterm_publishes_offline_shutdown_and_exits_zero(agent_factory, broker, recorder, terminal_id, protocol):
    rec = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/up/status")
    agent = agent_factory(broker.port, terminal_id=terminal_id, mqtt={"protocol": protocol}).start()
    rec.wait_for(lambda m: m.json().get("state") == "online", 15)
    assert agent.terminate() == 0
    msg = rec.wait_for(lambda m: m.json().get("reason") == "shutdown", 5)
    assert msg.json()["state"] == "offline"
    # a consumer arriving later gets the retained presence: offline, by a clean shutdown
    late = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/up/status")
    retained = late.wait_for(lambda m: m.retain, 5).json()
    assert retained["state"] == "offline" and retained["reason"] == "shutdown"
    assert broker.client_protocols(terminal_id) == {protocol}
