"""Every way the connection to the broker fails has a name in the running daemon's health.

Each case is a real thing the agent meets (no mocks): a closed port, a ``.invalid`` host name
(RFC 2606 section 2: never resolves), a TCP listener that accepts and says nothing (a blackholed
proxy), a Mosquitto refusing a password or an anonymous client, Mosquitto TLS listeners with a
certificate the agent does not trust, for another name, or expired (made by the test PKI with
``cryptography``), TLS spoken to a plain port and the reverse, and an expired client certificate.
Checked through ``GET /v1/health``: ``connectivity.last_error`` is the fault's text, the fault has
the code and an action, and the text says what to check.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from agent.config import parse_config
from tests.support.broker import BrokerTls, MosquittoBroker, free_port
from tests.support.pki import Pki, make_pki
from tests.support.waiting import wait_until


def _named(api: Any, code: str, timeout_s: float = 20) -> dict[str, Any]:
    """Wait until health names ``code`` (fault and connectivity agreeing); return the fault."""
    def seen() -> dict[str, Any] | None:
        doc = api.get("/v1/health")[1]
        c = doc["connectivity"]
        fault = next((f for f in doc["faults"] if f["code"] == code), None)
        if fault and c["online"] is False and c["last_error"] == fault["text"] and c["last_error_code"] == code:
            return fault
        return None
    fault = wait_until(seen, timeout_s, message=lambda: str(api.get("/v1/health")[1]["connectivity"]))
    assert fault["action"] in ("maintenance", "check_connection") and fault["text"]
    # the network being away (check_connection) leaves the state alone: offline is not a fault;
    # what never heals by itself (maintenance) degrades the terminal
    warning = fault["action"] == "check_connection"
    assert fault["severity"] == ("warning" if warning else "error")
    assert (api.get("/v1/health")[1]["state"] == "ok") is warning
    return fault


def _online_and_clear(api: Any, timeout_s: float = 20) -> None:
    def ok() -> bool:
        doc = api.get("/v1/health")[1]
        return doc["connectivity"]["online"] and not doc["faults"] and doc["connectivity"]["last_error"] is None
    wait_until(ok, timeout_s, message=lambda: str(api.get("/v1/health")[1]["connectivity"]))


def test_a_closed_port_is_connection_refused(agent_factory, terminal_id):
    port = free_port()
    api = agent_factory(port, terminal_id=terminal_id).start().client()
    fault = _named(api, "connection_refused")
    assert f"127.0.0.1:{port}" in fault["text"] and "broker is down, or mqtt.port is wrong" in fault["text"]
    assert fault["action"] == "check_connection"


def test_an_unresolvable_host_is_a_dns_failure(agent_factory, terminal_id):
    api = agent_factory(1, terminal_id=terminal_id, mqtt={"host": "kiosk-broker.invalid"}).start().client()
    fault = _named(api, "dns_failed")
    assert "cannot resolve broker host 'kiosk-broker.invalid'" in fault["text"] and "DNS" in fault["text"]


@pytest.mark.parametrize(("protocol", "deadline"), [("5", 2), ("3.1.1", 5)], ids=["mqtt5", "mqtt3.1.1"])
def test_a_listener_that_accepts_tcp_and_never_answers_connect(agent_factory, tcp_proxy, broker, terminal_id,
                                                               protocol, deadline):
    # MQTT 5: our connack_timeout (2 s) fires; 3.1.1: connack_timeout is the default 10 s, so
    # paho's own keepalive (5 s) gives up first, and the text names the time really waited
    silent = tcp_proxy(broker.host, broker.port)
    silent.blackhole()
    extra = {"connack_timeout": 2} if protocol == "5" else {}
    api = agent_factory(silent.port, terminal_id=terminal_id, mqtt={"protocol": protocol, **extra}).start().client()
    fault = _named(api, "broker_no_connack", 30)
    assert f"accepted TCP but never answered CONNECT within {deadline} s: protocol version mismatch" in fault["text"]
    if protocol == "5":
        assert 'try mqtt.protocol = "3.1.1"' in fault["text"]
    silent.restore()  # the broker answers again: the fault clears by itself on CONNACK
    _online_and_clear(api)


@pytest.mark.parametrize(("protocol", "refusal"), [("5", "CONNACK 0x87 'Not authorized'"),
                                                  ("3.1.1", "CONNACK return code 5 'Not authorized'")],
                         ids=["mqtt5", "mqtt3.1.1"])
def test_connack_refusals_name_the_code_of_the_version_spoken(tmp_path, agent_factory, protocol, refusal):
    # Mosquitto 2.0.11 answers a wrong password and an anonymous client alike: "not authorised"
    # (0x87 under MQTT 5, return code 5 under 3.1.1), never 0x86/4 "bad user name or password"
    broker = MosquittoBroker(tmp_path / "auth-broker", users={"T-AUTH-1": "right", "T-AUTH-2": "right"}).start()
    try:
        wrong = tmp_path / "wrong.pw"
        wrong.write_text("wrong\n")
        a = agent_factory(broker.port, terminal_id="T-AUTH-1",
                          mqtt={"protocol": protocol, "username": "T-AUTH-1", "password_file": str(wrong)}).start()
        b = agent_factory(broker.port, terminal_id="T-AUTH-2", mqtt={"protocol": protocol}).start()
        fault = _named(a.client(), "broker_auth_failed")
        assert refusal in fault["text"] and "user 'T-AUTH-1'" in fault["text"]
        fault = _named(b.client(), "broker_auth_failed")
        assert refusal in fault["text"] and "anonymous client" in fault["text"]
        assert fault["action"] == "maintenance"
        # the right password: the next attempt connects and the fault is gone
        wrong.write_text("right\n")
        a.terminate()
        a.start()
        _online_and_clear(a.client())
    finally:
        broker.stop()


# -- TLS ------------------------------------------------------------------------------------------
@pytest.fixture
def odd_tls_broker(tmp_path: Path, pki: Pki):
    """Factory: a Mosquitto whose TLS listener presents a server certificate made for the test."""
    made: list[MosquittoBroker] = []

    def make(names: list[str], *, expired: bool = False) -> MosquittoBroker:
        pair = pki.issue_server(names, expired=expired, file_stem=f"server-{len(made)}-{tmp_path.name}")
        tls = BrokerTls(cafile=pki.ca_cert, certfile=pair.cert, keyfile=pair.key, require_certificate=False,
                        use_identity_as_username=False)
        broker = MosquittoBroker(tmp_path / f"tls-broker-{len(made)}", tls=tls).start()
        made.append(broker)
        return broker

    yield make
    for b in made:
        b.stop()


def _tls_cfg(pki: Pki, cn: str = "T-0001", *, ca: Path | None = None) -> dict[str, str]:
    pair = pki.clients[cn] if cn in pki.clients else pki.issue_client(cn)
    return {"tls_ca": str(ca or pki.ca_cert), "tls_cert": str(pair.cert), "tls_key": str(pair.key)}


def test_tls_failures_each_have_their_own_name(tmp_path, agent_factory, tls_broker, pki, odd_tls_broker):
    foreign = make_pki(tmp_path / "foreign-ca", clients=())
    other_name = odd_tls_broker(["broker.example"])
    expired = odd_tls_broker(["localhost", "127.0.0.1"], expired=True)
    expired_client = pki.issue_client("T-0009", expired=True, file_stem="T-0009-expired")
    cases = [  # (port, host, mqtt settings, code, words the text must carry)
        (tls_broker.tls_port, "localhost", _tls_cfg(pki, ca=foreign.ca_cert), "tls_untrusted",
         "the broker's certificate is not trusted"),
        (other_name.tls_port, "127.0.0.1", _tls_cfg(pki), "tls_hostname_mismatch",
         "does not name '127.0.0.1'"),
        (expired.tls_port, "localhost", _tls_cfg(pki), "tls_cert_expired", "certificate has expired"),
        (tls_broker.port, "localhost", _tls_cfg(pki), "tls_not_tls", "is it a plaintext MQTT port?"),
        (tls_broker.tls_port, "localhost", {}, "broker_no_connack",
         "closed the connection without answering CONNECT"),
        (tls_broker.tls_port, "localhost", {"tls_ca": str(pki.ca_cert), "tls_cert": str(expired_client.cert),
                                            "tls_key": str(expired_client.key)},
         "tls_client_cert_rejected", "rejected this terminal's client certificate"),
    ]
    agents = [agent_factory(port, terminal_id=f"T-TLS-{i}", mqtt={"host": host, **cfg}).start()
              for i, (port, host, cfg, _code, _words) in enumerate(cases)]
    for agent, (_port, _host, _cfg, code, words) in zip(agents, cases, strict=True):
        fault = _named(agent.client(), code)
        assert words in fault["text"], (code, fault["text"])
        assert fault["action"] == "maintenance"


def test_a_hanging_tls_handshake_is_named_and_the_uplink_thread_keeps_turning(tmp_path, tcp_proxy, broker, pki):
    """TCP accepted, then silence during the TLS handshake (paho waits its 5 s connect timeout).
    The connect runs on its own thread: the uplink heartbeat (what feeds the systemd watchdog)
    never goes stale meanwhile, which is what keeps a kiosk whose DNS hangs from being restarted."""
    silent = tcp_proxy(broker.host, broker.port)
    silent.blackhole()
    cfg = parse_config({"terminal": {"id": "T-HANG-1", "site": "TEST-SITE"},
                        "storage": {"path": str(tmp_path / "j.db")},
                        "mqtt": {"host": "localhost", "port": silent.port, "reconnect_min": 0.1,
                                 "reconnect_max": 0.5, **_tls_cfg(pki)},
                        "api": {"socket": str(tmp_path / "api.sock")}})
    agent = Agent(cfg)
    agent.start()
    try:
        stalest = 0.0

        def named() -> bool:
            nonlocal stalest
            stalest = max(stalest, time.monotonic() - agent.uplink.heartbeat_mono)
            return any(f["code"] == "tls_handshake_timeout" for f in agent.uplink.faults())
        wait_until(named, 20, message=lambda: str(agent.uplink.connectivity()))
        text = agent.uplink.connectivity()["last_error"]
        assert "TCP was accepted but the TLS handshake got no answer" in text
        assert stalest < 2.0, f"the uplink thread stood still for {stalest:.1f} s"
    finally:
        agent.request_stop()
        agent.stop()
