"""TLS with a client certificate per terminal, and the two pattern ACLs of docs/mqtt.md ("Security"),
against a real Mosquitto (require_certificate, use_identity_as_username)."""

from __future__ import annotations

import json
import ssl
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.waiting import wait_until


def _tls(pki, cn: str) -> dict[str, str]:
    pair = pki.clients[cn] if cn in pki.clients else pki.issue_client(cn)
    return {"tls_ca": str(pki.ca_cert), "tls_cert": str(pair.cert), "tls_key": str(pair.key)}


def _txn(i: int) -> dict[str, object]:
    return {"txn_id": f"tx-{i:05d}", "kind": "payment", "amount": 100, "method": "cash"}


def test_agent_delivers_over_mutual_tls(agent_factory, tls_broker, pki, recorder, protocol):
    rec = recorder("kiosk/v1/TEST-SITE/T-0001/up/#", port=tls_broker.port)
    agent = agent_factory(tls_broker.tls_port, terminal_id="T-0001",
                          mqtt={"host": "localhost", "protocol": protocol, **_tls(pki, "T-0001")})
    agent.start()
    api = agent.client()
    wait_until(lambda: api.get("/v1/health")[1]["connectivity"]["online"], 20, message=agent.log_tail)
    assert api.post("/v1/transactions", _txn(1))[0] == 201
    msg = rec.wait_for(lambda m: m.topic.endswith("/up/txn"), 15)
    assert msg.json()["txn_id"] == "tx-00001"
    wait_until(lambda: api.get("/v1/queue")[1]["pending_txns"] == 0, 10)


def test_a_terminal_cannot_publish_as_another_and_the_denial_is_not_silent(agent_factory, tls_broker, pki, recorder):
    # T-0002's certificate, but configured as T-0001: every up/ publish is under someone else's root
    rec = recorder("kiosk/v1/TEST-SITE/T-0001/up/#", port=tls_broker.port)
    agent = agent_factory(tls_broker.tls_port, terminal_id="T-0001", mqtt={"host": "localhost", **_tls(pki, "T-0002")})
    agent.start()
    api = agent.client()
    wait_until(lambda: api.get("/v1/health")[1]["connectivity"]["online"], 20, message=agent.log_tail)
    assert api.post("/v1/transactions", _txn(1))[0] == 201
    wait_until(lambda: any(f["code"] == "publish_denied" for f in api.get("/v1/health")[1]["faults"]), 20)
    # the outage event may be the first refused; the transaction's own attempt follows after the backoff
    tx = wait_until(lambda: (t := api.get("/v1/transactions/tx-00001")[1])["last_error"] and t, 20)
    assert tx["state"] == "queued" and "0x87" in tx["last_error"]
    assert not rec.messages("kiosk/v1/TEST-SITE/T-0001/up/txn")


def test_a_terminal_cannot_read_another_terminals_commands(tls_broker, pki):
    pair = pki.clients.get("T-0002") or pki.issue_client("T-0002")
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="T-0002", protocol=mqtt.MQTTv5)
    c.tls_set(ca_certs=str(pki.ca_cert), certfile=str(pair.cert), keyfile=str(pair.key),
              cert_reqs=ssl.CERT_REQUIRED)
    got: list[bytes] = []
    granted: list[list[int]] = []
    subscribed = threading.Event()
    c.on_message = lambda cl, u, m: got.append(m.payload)

    def on_subscribe(cl, u, mid, codes, props):  # type: ignore[no-untyped-def]
        granted.append([int(rc.value) for rc in codes])
        subscribed.set()
    c.on_subscribe = on_subscribe
    c.connect("localhost", tls_broker.tls_port)
    c.loop_start()
    try:
        c.subscribe([("kiosk/v1/TEST-SITE/T-0001/down/cmd", 1), ("kiosk/v1/TEST-SITE/T-0002/down/cmd", 1)])
        assert subscribed.wait(10)
        # the fleet (anonymous plain listener) sends a command to each terminal
        fleet = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        fleet.connect("127.0.0.1", tls_broker.port)
        fleet.loop_start()
        for tid in ("T-0001", "T-0002"):
            fleet.publish(f"kiosk/v1/TEST-SITE/{tid}/down/cmd", json.dumps({"id": tid, "cmd": "health"}),
                          qos=1).wait_for_publish(5)
        fleet.disconnect()
        fleet.loop_stop()
        wait_until(lambda: got, 10)
        assert [json.loads(p)["id"] for p in got] == ["T-0002"], got
    finally:
        c.disconnect()
        c.loop_stop()
