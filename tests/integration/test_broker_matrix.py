"""The same agent against more than one broker: Mosquitto 2 under MQTT 5 and 3.1.1, and a NATS
server's MQTT listener (3.1.1 only). On each: the offline drain (records queued while the broker
is unreachable leave in seq order once it is back), presence (a retained ``online`` a late
subscriber gets), the Last Will (a blackholed link: the broker publishes the will, the agent comes
back with a new session), and the clean stop (a retained ``offline``/``shutdown``).

What NATS does differently (nats-server 2.9.10), seen here and handled:

* MQTT 3.1.1 only: an MQTT 5 CONNECT gets CONNACK return code 1, which the agent names
  ``broker_protocol_unsupported`` with the fix (``mqtt.protocol = "3.1.1"``).
* QoS 0 and 1 only: a QoS 2 subscription is granted QoS 1, a QoS 2 PUBLISH closes the
  connection. The agent only ever uses QoS 1.
* Topics with '.' or ' ' close the connection (NATS subjects use '.'): ``config check`` warns
  when the topic root has them under 3.1.1.
* Retained messages and the will are kept in JetStream; a will is delivered live with retain
  false (as the 3.1.1 spec says for a live delivery) and retained for later subscribers.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.agent_proc import REPO
from tests.support.waiting import wait_until


@dataclass(frozen=True)
class Target:
    name: str
    host: str
    port: int  # the MQTT listener


#: (broker, protocol): NATS speaks only 3.1.1
MATRIX = [("mosquitto", "5"), ("mosquitto", "3.1.1"), ("nats", "3.1.1")]


@pytest.fixture(params=MATRIX, ids=[f"{b}-mqtt{p}" for b, p in MATRIX])
def target(request: pytest.FixtureRequest) -> tuple[Target, str]:
    kind, protocol = request.param
    if kind == "nats":
        nats = request.getfixturevalue("nats_broker")
        return Target("nats", nats.host, nats.mqtt_port), protocol
    broker = request.getfixturevalue("broker")
    return Target("mosquitto", broker.host, broker.ensure_running().port), protocol


def _txn(i: int) -> dict[str, object]:
    return {"txn_id": f"tx-{i:05d}", "kind": "payment", "amount": 100 + i, "method": "cash"}


def test_offline_drain_presence_will_and_clean_stop(target, agent_factory, tcp_proxy, recorder, terminal_id):
    broker, protocol = target
    root = f"kiosk/v1/TEST-SITE/{terminal_id}"
    watch: Callable[..., Any] = lambda topics: recorder(topics, host=broker.host, port=broker.port,  # noqa: E731
                                                      protocol=protocol if broker.name == "nats" else "5")
    rec = watch(f"{root}/up/#")
    link = tcp_proxy(broker.host, broker.port)
    link.refuse()
    agent = agent_factory(link.port, terminal_id=terminal_id, mqtt={"protocol": protocol}).start()
    api = agent.client()

    # offline drain: queued while the broker is unreachable, then delivered in order
    for i in range(20):
        assert api.post("/v1/transactions", _txn(i))[0] == 201
    wait_until(lambda: any(f["code"] == "connection_refused" for f in api.get("/v1/health")[1]["faults"]), 10)
    link.restore()
    rec.wait_count(f"{root}/up/txn", 20, 30)
    txns = [m.json() for m in rec.messages(f"{root}/up/txn")]
    assert [t["seq"] for t in txns][:20] == list(range(1, 21)), [t["seq"] for t in txns]
    wait_until(lambda: api.get("/v1/queue")[1]["pending"] == 0, 15)
    doc = api.get("/v1/health")[1]
    assert doc["connectivity"]["online"] and not doc["faults"] and doc["connectivity"]["protocol"] == protocol

    # presence: a subscriber arriving later gets the retained online status and health
    late = watch([f"{root}/up/status", f"{root}/up/health"])
    status = late.wait_for(lambda m: m.topic.endswith("/status") and m.retain, 10).json()
    assert status["state"] == "online" and status["session"] == 1
    assert late.wait_for(lambda m: m.topic.endswith("/health") and m.retain, 10).json()["terminal_id"] == terminal_id

    # the will: the link goes silent, the broker publishes it after 1.5 x keepalive (5 s)
    link.blackhole()
    will = rec.wait_for(lambda m: m.topic.endswith("/status") and m.json().get("reason") == "lwt", 25).json()
    assert will["state"] == "offline" and will["session"] == 1  # names the session it ends
    link.restore()
    rec.wait_for(lambda m: m.topic.endswith("/status") and m.json().get("state") == "online"
                 and m.json()["session"] == 2, 30)

    # the clean stop: a retained offline/shutdown, which is what a later subscriber sees
    assert agent.terminate() == 0
    rec.wait_for(lambda m: m.topic.endswith("/status") and m.json().get("reason") == "shutdown", 10)
    last = watch(f"{root}/up/status").wait_for(lambda m: m.retain, 10).json()
    assert last["state"] == "offline" and last["reason"] == "shutdown"


def test_mqtt5_against_nats_is_named_with_its_fix(nats_broker, agent_factory, terminal_id):
    api = agent_factory(nats_broker.mqtt_port, terminal_id=terminal_id, mqtt={"protocol": "5"}).start().client()

    def named() -> dict[str, Any] | None:
        doc = api.get("/v1/health")[1]
        return next((f for f in doc["faults"] if f["code"] == "broker_protocol_unsupported"), None)
    fault = wait_until(named, 15, message=lambda: str(api.get("/v1/health")[1]["connectivity"]))
    assert "CONNACK 0x84 'Unsupported protocol version'" in fault["text"]
    assert 'set mqtt.protocol = "3.1.1"' in fault["text"] and fault["action"] == "maintenance"


def test_nats_closes_the_connection_on_a_dot_in_the_topic_which_config_check_warns_about(
        nats_broker, agent_factory):
    agent = agent_factory(nats_broker.mqtt_port, terminal_id="T.DOT.1",
                          mqtt={"protocol": "3.1.1", "settle": "fleet-ack"})
    check = subprocess.run([sys.executable, "-m", "agent", "-c", str(agent.config_path), "config", "check"],
                           cwd=REPO, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "NATS's MQTT listener" in check.stdout
    agent.start()
    # the agent connects, its first publish (the retained status) makes NATS drop the connection
    wait_until(lambda: "characters ' ' and '.' not supported for MQTT topics" in nats_broker.log_text(), 15)
    assert agent.proc is not None and agent.proc.poll() is None  # the daemon keeps running and retrying
