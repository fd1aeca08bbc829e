"""agent/uplink/mqtt.py against a real Mosquitto on a free loopback port (tests/support): the
events the session turns paho's callbacks into, the will, and how a connect fails. No Uplink, no
journal: the session alone, driven the way the uplink thread drives it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.config import parse_config
from agent.uplink.mqtt import LinkEvent, MqttSession, SetupError
from tests.support import MosquittoBroker, free_port

WILL = "test/T-MQ/up/status"


def _session(port: int, protocol: str = "5", **mqtt_cfg: object) -> MqttSession:
    cfg = parse_config({"terminal": {"id": "T-MQ"},
                        "mqtt": {"host": "127.0.0.1", "port": port, "protocol": protocol, **mqtt_cfg}}).mqtt
    return MqttSession(cfg, f"T-MQ-{protocol}", will_topic=WILL)


def _drive(session: MqttSession, seen: list[LinkEvent], until: Callable[[list[LinkEvent]], bool],
           timeout_s: float = 10.0) -> list[LinkEvent]:
    """Turn the session's loop (as the uplink thread does) until ``until(events)`` or the deadline."""
    deadline = time.monotonic() + timeout_s
    while not until(seen):
        assert time.monotonic() < deadline, f"no such event within {timeout_s} s: {seen}"
        session.loop_once(0.05)
        seen += session.take_events()
    return seen


def _kinds(kind: str) -> Callable[[list[LinkEvent]], bool]:
    return lambda evs: any(e.kind == kind for e in evs)


def _connected(port: int, protocol: str = "5") -> tuple[MqttSession, list[LinkEvent]]:
    session = _session(port, protocol)
    session.connect(b'{"state":"offline"}')
    return session, _drive(session, [], _kinds("connected"))


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_publish_subscribe_and_their_events(fresh_broker: MosquittoBroker, recorder, protocol: str) -> None:
    rec = recorder("test/T-MQ/#", port=fresh_broker.port, contract_check=False)
    session, seen = _connected(fresh_broker.port, protocol)
    assert [e.code for e in seen if e.kind == "connected"] == [0]

    mid = session.publish("test/T-MQ/up/events", b'{"n":1}')
    assert mid is not None
    acks = _drive(session, seen, lambda evs: any(e.kind == "puback" and e.mid == mid for e in evs))
    assert [e.code for e in acks if e.kind == "puback" and e.mid == mid] == [0]  # accepted
    assert rec.wait_for(lambda m: m.topic == "test/T-MQ/up/events", 10).payload == b'{"n":1}'

    session.subscribe(["test/T-MQ/down/cmd"])
    _drive(session, seen, _kinds("subscribed"))
    assert [e.reason for e in seen if e.kind == "subscribed"] == [""]  # no refused filter
    fleet = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fleet-side")
    fleet.connect("127.0.0.1", fresh_broker.port)
    fleet.loop_start()
    fleet.publish("test/T-MQ/down/cmd", b'{"cmd":"health"}', qos=1).wait_for_publish(10)
    fleet.disconnect()
    fleet.loop_stop()
    got = _drive(session, seen, _kinds("message"))
    assert [(e.topic, e.payload) for e in got if e.kind == "message"] == [("test/T-MQ/down/cmd",
                                                                           b'{"cmd":"health"}')]
    session.disconnect()


def test_a_dropped_socket_makes_the_broker_publish_the_retained_will(fresh_broker: MosquittoBroker,
                                                                    recorder) -> None:
    session = _session(fresh_broker.port)
    session.connect(b'{"state":"offline","reason":"lwt"}')
    _drive(session, [], _kinds("connected"))
    rec = recorder(WILL, port=fresh_broker.port, contract_check=False)
    session.drop()
    will = rec.wait_for(lambda m: m.topic == WILL, 10)
    assert will.payload == b'{"state":"offline","reason":"lwt"}'
    late = recorder(WILL, port=fresh_broker.port, contract_check=False)
    assert late.wait_for(lambda m: m.topic == WILL, 10).payload == will.payload  # retained


def test_the_broker_going_away_is_a_disconnected_event_and_a_nonzero_rc(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path / "mosquitto").start()
    try:
        session, seen = _connected(broker.port)
    finally:
        broker.stop()
    deadline = time.monotonic() + 10
    rcs: list[int] = []
    while not any(e.kind == "disconnected" for e in seen):
        assert time.monotonic() < deadline, f"no disconnected event (rc {rcs[-5:]})"
        rcs.append(session.loop_once(0.05))
        seen += session.take_events()
    assert rcs[-1] != 0  # the turn that saw it says the link is down: the uplink's cue to reconnect


def test_nothing_listening_fails_the_attempt_with_connection_refused() -> None:
    session = _session(free_port())
    attempt = session.start_connect(b"{}", 0.0)
    assert attempt.done.wait(10)
    assert isinstance(attempt.error, ConnectionRefusedError)


def test_an_unreadable_password_file_is_a_setup_error_not_a_crash(tmp_path: Path) -> None:
    session = _session(free_port(), username="T-MQ", password_file=str(tmp_path / "missing"))
    with pytest.raises(SetupError, match="missing"):
        session.connect(b"{}")
    attempt = session.start_connect(b"{}", 0.0)  # the same on the connect thread: named, not raised
    assert attempt.done.wait(10) and isinstance(attempt.error, SetupError)
