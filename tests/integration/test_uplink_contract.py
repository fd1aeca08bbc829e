"""The MQTT contract beyond plain delivery: ACL denial (MQTT 5 reason codes; invisible under
3.1.1, where fleet-ack is what keeps the record), fleet-ack settlement and dead letters, remote
commands (both MQTT versions), and the systemd notify protocol."""

from __future__ import annotations

import itertools
import json
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.app import Agent
from agent.config import parse_config
from agent.runtime.systemd import Notifier
from tests.support.broker import MosquittoBroker
from tests.support.notify import NotifySocket
from tests.support.waiting import wait_until

ALLOW_ALL = ("topic readwrite #",)
DENY_TXN = (  # anonymous terminals may publish everything but transactions
    "topic readwrite kiosk/v1/+/+/up/status",
    "topic readwrite kiosk/v1/+/+/up/health",
    "topic readwrite kiosk/v1/+/+/up/events",
    "topic readwrite kiosk/v1/+/+/up/cmd-result",
    "topic readwrite kiosk/v1/+/+/down/#",
    "topic read #",
)


def _txn(i: int) -> dict[str, object]:
    return {"txn_id": f"tx-{i:05d}", "kind": "payment", "amount": 100 + i, "method": "unionpay"}


def _publish(port: int, topic: str, payload: bytes, *, v5: bool = True) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        c.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        c.disconnect()
        c.loop_stop()


def test_acl_denied_publish_stays_queued_with_a_fault_then_drains(tmp_path, agent_factory, recorder, terminal_id):
    broker = MosquittoBroker(tmp_path / "acl-broker", acl=DENY_TXN).start()
    try:
        rec = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/up/#", port=broker.port)
        agent = agent_factory(broker.port, terminal_id=terminal_id).start()
        api = agent.client()
        wait_until(lambda: api.get("/v1/health")[1]["connectivity"]["online"], 15)
        for i in range(3):
            assert api.post("/v1/transactions", _txn(i))[0] == 201

        def denied() -> bool:
            doc = api.get("/v1/health")[1]
            return any(f["code"] == "publish_denied" for f in doc["faults"])
        wait_until(denied, 15, message=lambda: api.get("/v1/health")[1]["faults"])
        assert "0x87" in next(f["text"] for f in api.get("/v1/health")[1]["faults"] if f["code"] == "publish_denied")
        tx = api.get("/v1/transactions/tx-00000")[1]
        assert tx["state"] == "queued" and "0x87" in (tx["last_error"] or "")
        assert not rec.messages(f"kiosk/v1/TEST-SITE/{terminal_id}/up/txn")
        assert api.get("/v1/health")[1]["state"] != "ok"

        broker.set_acl(ALLOW_ALL)
        rec.wait_count(f"kiosk/v1/TEST-SITE/{terminal_id}/up/txn", 3, 90)
        wait_until(lambda: not denied() and api.get("/v1/queue")[1]["pending_txns"] == 0, 30)
    finally:
        broker.stop()


def test_under_3_1_1_an_acl_denial_is_invisible_and_fleet_ack_is_what_keeps_the_record(
        tmp_path, agent_factory, recorder, terminal_id):
    """MQTT 3.1.1 has no PUBACK reason code: Mosquitto PUBACKs the denied publish and drops it.
    settle = "puback" would call that delivered (config check warns); fleet-ack keeps it `sent`
    and publishes it again once the fleet has not acked it within fleet_ack_timeout."""
    root = f"kiosk/v1/TEST-SITE/{terminal_id}"
    broker = MosquittoBroker(tmp_path / "acl-broker", acl=DENY_TXN).start()
    try:
        rec = recorder(f"{root}/up/txn", port=broker.port)
        agent = agent_factory(broker.port, terminal_id=terminal_id,
                              mqtt={"protocol": "3.1.1", "settle": "fleet-ack", "fleet_ack_timeout": 2})
        agent.start()
        api = agent.client()
        assert api.post("/v1/transactions", _txn(0))[0] == 201
        # PUBACKed (state sent), yet nobody received it, and no fault can say so
        wait_until(lambda: api.get("/v1/transactions/tx-00000")[1]["state"] == "sent", 15)
        broker.wait_for_log(f"Denied PUBLISH from {terminal_id}", 10)
        assert not rec.messages() and not api.get("/v1/health")[1]["faults"]

        broker.set_acl(ALLOW_ALL)
        got = rec.wait_count(f"{root}/up/txn", 1, 30)  # re-published after fleet_ack_timeout
        assert got[0].json()["txn_id"] == "tx-00000"
        _publish(broker.port, f"{root}/down/txn-ack", json.dumps({"txn_ids": ["tx-00000"]}).encode(), v5=False)
        wait_until(lambda: api.get("/v1/transactions/tx-00000")[1]["state"] == "settled", 10)
        assert broker.client_protocols(terminal_id) == {"3.1.1"}
    finally:
        broker.stop()


def test_fleet_ack_settles_and_final_rejections_go_dead(agent_factory, broker, recorder, terminal_id, protocol):
    root = f"kiosk/v1/TEST-SITE/{terminal_id}"
    rec = recorder(f"{root}/up/txn")
    agent = agent_factory(broker.port, terminal_id=terminal_id,
                          mqtt={"settle": "fleet-ack", "max_attempts": 1, "protocol": protocol})
    agent.start()
    api = agent.client()
    for i in range(3):
        assert api.post("/v1/transactions", _txn(i))[0] == 201
    rec.wait_count(f"{root}/up/txn", 3, 15)
    wait_until(lambda: api.get("/v1/transactions/tx-00002")[1]["state"] == "sent", 10)
    assert api.get("/v1/queue")[1]["pending_txns"] == 3  # PUBACK alone does not settle
    _publish(broker.port, f"{root}/down/txn-ack", json.dumps({
        "txn_ids": ["tx-00000", "tx-00001", "not-ours"],
        "rejected": [{"txn_id": "tx-00002", "error": "unknown merchant", "final": True}]}).encode())
    wait_until(lambda: api.get("/v1/transactions/tx-00001")[1]["state"] == "settled", 10)
    wait_until(lambda: api.get("/v1/transactions/tx-00002")[1]["state"] == "dead", 10)
    dead = api.get("/v1/queue/records?state=dead")[1]["records"]
    assert [r["id"] for r in dead] == ["tx-00002"]
    doc = api.get("/v1/health")[1]
    assert doc["queue"]["dead"] == 1 and any(f["code"] == "dead_letters" for f in doc["faults"])
    _publish(broker.port, f"{root}/down/txn-ack", b"\xff not json")  # ignored, nothing changes
    assert api.post("/v1/queue/retry", {"seqs": [dead[0]["seq"]]})[1] == {"requeued": 1}
    rec.wait_count(f"{root}/up/txn", 4, 15)


def test_remote_commands_answer_with_their_id_and_bad_ones_change_nothing(
        agent_factory, broker, recorder, terminal_id, protocol):
    root = f"kiosk/v1/TEST-SITE/{terminal_id}"
    rec = recorder(f"{root}/up/cmd-result")
    agent = agent_factory(broker.port, terminal_id=terminal_id, mqtt={"protocol": protocol}).start()
    api = agent.client()
    wait_until(lambda: api.get("/v1/health")[1]["connectivity"]["online"], 15)
    before = api.get("/v1/queue")[1]
    cmds = [b'{"id":"c1","cmd":"health"}', b'{"id":"c2","cmd":"queue"}', b'{"id":"c3","cmd":"format_disk"}',
            b'{"id":"c4","cmd":"selftest","args":{"level":"interactive"}}', b"[1,2",
            b'{"id":"c6","cmd":"health","args":"x"}', b"\xc3\x28", b'{"id":"' + b"x" * 70000 + b'"}']
    for payload in cmds:
        _publish(broker.port, f"{root}/down/cmd", payload)
    rec.wait_count(f"{root}/up/cmd-result", len(cmds), 20)
    results = {m.json()["id"]: m.json() for m in rec.messages()}
    assert results["c1"]["ok"] and results["c1"]["result"]["terminal_id"] == terminal_id
    assert results["c2"]["ok"] and "pending" in results["c2"]["result"]
    assert results["c3"]["error"]["code"] == "unknown_command"
    assert results["c4"]["error"]["code"] == "refused"
    assert results["c6"]["error"]["code"] == "bad_args"
    assert all(not r["ok"] for k, r in results.items() if k not in ("c1", "c2"))
    # another terminal's command topic is not read
    _publish(broker.port, "kiosk/v1/TEST-SITE/T-OTHER/down/cmd", b'{"id":"x1","cmd":"health"}')
    after = api.get("/v1/queue")[1]
    assert after["pending_txns"] == before["pending_txns"]
    assert "x1" not in {m.json()["id"] for m in rec.messages()}
    assert agent.proc is not None and agent.proc.poll() is None


@pytest.fixture
def inprocess_agent(tmp_path, broker, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # 0.4 s: WATCHDOG=1 every 0.2 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    cfg = parse_config({"terminal": {"id": "T-WD-0001", "site": "TEST-SITE"},
                        "storage": {"path": str(tmp_path / "j.db")},
                        "mqtt": {"port": broker.port, "reconnect_min": 0.1, "reconnect_max": 0.5},
                        "api": {"socket": str(tmp_path / "api.sock")}})
    agent = Agent(cfg)
    yield agent
    agent.request_stop()


def test_notify_ready_after_journal_check_then_watchdog_until_a_thread_wedges(tmp_path, inprocess_agent):
    notify = NotifySocket(tmp_path / "notify.sock")
    agent = inprocess_agent
    try:
        agent.start()
        runner = threading.Thread(target=agent.run, args=(Notifier(str(notify.path)),), daemon=True)
        runner.start()
        ready = notify.wait_for("READY=1", 10)
        assert ready.fields["STATUS"]  # a line a person can read
        first = len(notify.watchdog_times())
        wait_until(lambda: len(notify.watchdog_times()) >= first + 5, 10)
        times = notify.watchdog_times()[-5:]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # periodic, not spammed: five pings came within the deadline above, none closer than a quarter
        # of the 0.2 s period (no upper bound on the real clock: a loaded machine may delay one)
        assert all(g > 0.05 for g in gaps), gaps

        # wedge the uplink thread: the watchdog must starve so systemd restarts the agent
        release = threading.Event()
        agent.uplink._step = lambda now: release.wait(30)  # type: ignore[method-assign]
        wait_until(lambda: notify.watchdog_times() and notify.watchdog_times()[-1] < time.monotonic() - 1.5, 25,
                   message="the watchdog kept being fed while the uplink thread was wedged")
        release.set()
        agent.request_stop()
        notify.wait_for("STOPPING=1", 10)
        runner.join(10)
    finally:
        agent.stop()
        notify.close()
