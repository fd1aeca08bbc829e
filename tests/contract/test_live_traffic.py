"""Every payload the real daemon publishes, and every command a fleet sends it, validates against
contract/schemas.

One realistic session against the simulated peripherals, a private Mosquitto and a TCP proxy the
test can cut: transactions recorded offline then online, device faults raised and cleared, customer
operations on every device, self-tests and an inspection over MQTT, command errors, fleet-acks and
a final rejection, a lost connection (the Last Will) and a clean stop. A recorder subscribed to the
terminal's whole topic root checks every message it saw.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.contract.checking import check
from tests.support.agent_proc import AgentProcess, base_config, write_config
from tests.support.broker import MosquittoBroker
from tests.support.proxy import TcpProxy
from tests.support.recorder import Received, Recorder, release_paho_sockets
from tests.support.sims import SimBench
from tests.support.waiting import wait_until

TERMINAL = "T-CONTRACT-1"
ROOT = f"kiosk/v1/TEST-SITE/{TERMINAL}"
PAN = "6212345678901232"  # a Luhn-valid test PAN
DEVICES = ("printer", "bill_acceptor", "card_reader", "id_reader", "scanner")

#: commands a fleet might send, with the error code each must get (None: it must succeed)
GOOD_COMMANDS: list[tuple[dict[str, Any], str | None]] = [
    ({"id": "c-health", "cmd": "health"}, None),
    ({"id": "c-queue", "cmd": "queue", "args": {}}, None),
    ({"id": "c-selftest", "cmd": "selftest", "args": {"level": "internal"}}, None),
    ({"id": "c-slip", "cmd": "selftest", "args": {"level": "external", "devices": ["printer"]}}, None),
    ({"id": "c-inspect", "cmd": "inspect", "args": {"engineer": "Wang Wei"}}, None),
    ({"id": "c-reload", "cmd": "reload"}, None),
    ({"id": "c-logs", "cmd": "logs", "args": {"lines": 50, "level": "info"}}, None),
]
#: commands that break the cmd schema, with the error the terminal answers
BAD_COMMANDS: list[tuple[bytes, str]] = [
    (b'{"id": "c-trunc", "cmd": ', "bad_json"),
    (json.dumps({"id": "bad id with spaces", "cmd": "health"}).encode(), "bad_id"),
    (json.dumps({"id": "c-unknown", "cmd": "teleport"}).encode(), "unknown_command"),
    (json.dumps({"id": "c-interactive", "cmd": "selftest", "args": {"level": "interactive"}}).encode(), "refused"),
    (json.dumps({"id": "c-badargs", "cmd": "inspect", "args": {"engineer": "x", "checks": ["exterior"]}}).encode(),
     "bad_args"),
    (json.dumps({"id": "c-extra", "cmd": "health", "priority": 1}).encode(), "bad_command"),
    (json.dumps({"id": "c-loud", "cmd": "logs", "args": {"level": "loud"}}).encode(), "bad_args"),
]


class Fleet:
    """A fleet server's publishing side: commands and acks to the terminal."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fleet-contract", protocol=mqtt.MQTTv5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, leaf: str, payload: bytes) -> None:
        self.client.publish(f"{ROOT}/down/{leaf}", payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        release_paho_sockets(self.client)


@pytest.fixture
def rig(tmp_path: Path, fresh_broker: MosquittoBroker,
        tcp_proxy: Callable[[str, int], TcpProxy]) -> Iterator[dict[str, Any]]:
    sims = SimBench(tmp_path / "sims")
    rec = Recorder(fresh_broker.host, fresh_broker.port, f"{ROOT}/#", client_id="contract-recorder").start()
    fleet = Fleet(fresh_broker.port)
    proxy = tcp_proxy(fresh_broker.host, fresh_broker.port)
    agent: AgentProcess | None = None
    try:
        sims.require(*DEVICES)
        workdir = tmp_path / "agent"
        workdir.mkdir()
        # health every 2 s, so the documents after each change are seen without waiting a minute
        cfg = base_config(workdir, proxy.port, TERMINAL, settle="fleet-ack", max_attempts=1, health_interval=2)
        cfg["devices"] = sims.devices_section(0.5)
        cfg["offline_limits"] = {"unionpay": {"max_amount": 500_000, "max_total": 2_000_000, "max_age_s": 86400}}
        agent = AgentProcess(write_config(workdir / "agent.toml", cfg), workdir)
        yield {"sims": sims, "rec": rec, "fleet": fleet, "proxy": proxy, "agent": agent}
    finally:
        if agent is not None:
            agent.close()
        fleet.close()
        rec.stop()
        sims.stop()


def _health(api: Any) -> dict[str, Any]:
    code, doc = api.get("/v1/health")
    assert code == 200, doc
    return doc


def _fault_seen(api: Any, device: str, fault: str, present: bool = True) -> None:
    wait_until(lambda: (fault in _health(api)["devices"][device]["faults"]) == present, 15,
               message=lambda: f"{device} {fault} present={present}: {_health(api)['devices'][device]}")


def _event(rec: Recorder, kind: str) -> Received:
    return rec.wait_for(lambda m: m.topic.endswith("/up/events") and m.json()["type"] == kind, 20)


def _results(rec: Recorder) -> list[dict[str, Any]]:
    return [m.json() for m in rec.messages(f"{ROOT}/up/cmd-result")]


def test_every_payload_of_a_realistic_session_validates(rig: dict[str, Any]) -> None:
    sims: SimBench = rig["sims"]
    rec: Recorder = rig["rec"]
    fleet: Fleet = rig["fleet"]
    proxy: TcpProxy = rig["proxy"]
    agent: AgentProcess = rig["agent"]

    # -- offline from the start: the broker is unreachable
    proxy.refuse()
    agent.start()
    api = agent.client()
    wait_until(lambda: all(d["state"] == "online" for d in _health(api)["devices"].values()), 30,
               message=lambda: _health(api)["devices"])
    assert not _health(api)["connectivity"]["online"]
    assert api.post("/v1/transactions", {"kind": "payment", "amount": 1250, "method": "unionpay",
                                         "ref": "order-1", "data": {"pan_token": "tok_x", "note": "sealed"}})[0] == 201
    assert api.post("/v1/transactions", {"kind": "cash_in", "amount": 5000, "method": "cash",
                                         "txn_id": "cash-offline-1"})[0] == 201
    sims.set_fault("printer", "paper_near_end", True)
    _fault_seen(api, "printer", "paper_near_end")
    sims.set_fault("printer", "cover_open", True)
    _fault_seen(api, "printer", "cover_open")
    assert _health(api)["limits"]["methods"]["unionpay"]["offline_count"] == 1

    # -- the link comes back: presence, health, the outage and the backlog
    proxy.restore()
    rec.wait_for(lambda m: m.topic.endswith("/up/events") and m.json()["type"] == "outage", 30)
    rec.wait_count(f"{ROOT}/up/txn", 2, 30)
    sims.set_fault("printer", "cover_open", False)
    sims.set_fault("printer", "paper_near_end", False)
    _fault_seen(api, "printer", "cover_open", present=False)

    # -- online: customers at every device
    assert api.post("/v1/transactions", {"kind": "fee", "amount": 200, "method": "qr", "txn_id": "fee-1"})[0] == 201
    assert api.post("/v1/devices/bill_acceptor/enable", {})[0] == 200
    wait_until(lambda: sims.peers["bill_acceptor"].act("insert_note", ["50"])["accepted"], 20)
    _event(rec, "note_stacked")
    wait_until(lambda: sims.peers["bill_acceptor"].act("insert_note", ["3"])["accepted"], 20)  # no such note
    _event(rec, "note_rejected")
    sims.set_fault("bill_acceptor", "power_up_with_bill", True)  # power came back with a note inside
    _event(rec, "note_reconcile")
    # the acceptor resets after that power-up: disabling works once it is back
    wait_until(lambda: api.post("/v1/devices/bill_acceptor/disable", {})[0] == 200, 20)
    sims.peers["card_reader"].act("present_card", [PAN])
    code, card = api.post("/v1/devices/card_reader/read", {})
    assert code == 200, card
    assert api.post("/v1/devices/card_reader/eject", {})[0] == 200
    sims.peers["card_reader"].act("remove_card", [])
    sims.peers["card_reader"].act("present_card", [PAN])
    wait_until(lambda: api.post("/v1/devices/card_reader/retain", {})[0] == 200, 10)
    sims.set_fault("card_reader", "chip_failure", True)
    sims.peers["card_reader"].act("present_card", [PAN])
    assert api.post("/v1/devices/card_reader/read", {})[0] != 200
    _event(rec, "card_read_failed")
    sims.set_fault("card_reader", "chip_failure", False)
    assert api.post("/v1/devices/card_reader/eject", {})[0] == 200
    sims.peers["card_reader"].act("remove_card", [])
    sims.peers["id_reader"].act("insert_id_card", [])
    assert api.post("/v1/devices/id_reader/read", {})[0] == 200
    sims.peers["scanner"].act("scan", ["6901234567892"])
    code, printed = api.post("/v1/devices/printer/print", {"lines": ["收据 RECEIPT", "total 12.50"], "qr": "T-1",
                                                           "cut": True})
    assert code == 200, printed

    # -- device faults online: raised and cleared, and a device that stops answering
    for device, fault, code_ in (("bill_acceptor", "jam", "jam"), ("card_reader", "card_jam", "card_jam"),
                                 ("id_reader", "sam_failure", "sam_failure")):
        sims.set_fault(device, fault, True)
        _fault_seen(api, device, code_)
        sims.set_fault(device, fault, False)
        _fault_seen(api, device, code_, present=False)
    sims.set_fault("scanner", "mute", True)
    wait_until(lambda: _health(api)["devices"]["scanner"]["state"] == "offline", 20)
    sims.set_fault("scanner", "mute", False)
    wait_until(lambda: _health(api)["devices"]["scanner"]["state"] == "online", 30)

    # -- commands from the fleet, good and bad
    for doc, _ in GOOD_COMMANDS:
        fleet.send("cmd", json.dumps(doc).encode())
    for payload, _ in BAD_COMMANDS:
        fleet.send("cmd", payload)
    want = len(GOOD_COMMANDS) + len(BAD_COMMANDS)
    wait_until(lambda: len(_results(rec)) >= want, 120, message=lambda: _results(rec))
    by_id = {r["id"]: r for r in _results(rec)}
    for doc, _ in GOOD_COMMANDS:
        assert by_id[doc["id"]]["ok"] is True, by_id[doc["id"]]
    errors = sorted(r["error"]["code"] for r in _results(rec) if not r["ok"])
    assert errors == sorted(code for _, code in BAD_COMMANDS)
    # one inspect makes two records: its self-test, then the inspection (plus the two self-tests)
    rec.wait_for(lambda m: m.topic.endswith("/up/selftest") and m.json()["type"] == "inspection", 30)

    # -- fleet-ack: settle all transactions but one, reject that one for good (a dead letter)
    txn_ids = sorted({m.json()["txn_id"] for m in rec.messages(f"{ROOT}/up/txn")})
    assert len(txn_ids) == 3, txn_ids
    fleet.send("txn-ack", json.dumps({"txn_ids": txn_ids[1:]}).encode())
    fleet.send("txn-ack", json.dumps({"rejected": [{"txn_id": txn_ids[0], "error": "unknown merchant",
                                                    "final": True}]}).encode())
    wait_until(lambda: any(f["code"] == "dead_letters" for f in _health(api)["faults"]), 20,
               message=lambda: _health(api)["faults"])
    rec.wait_for(lambda m: m.topic.endswith("/up/health") and m.json()["faults"], 20)

    # -- the connection is lost (the broker publishes the will), comes back, then a clean stop
    proxy.cut()
    rec.wait_for(lambda m: m.topic.endswith("/up/status") and m.json().get("reason") == "lwt", 30)
    n_outages = sum(1 for m in rec.messages(f"{ROOT}/up/events") if m.json()["type"] == "outage")
    rec.wait_for(lambda m: m.topic.endswith("/up/events") and m.json()["type"] == "outage"
                 and sum(1 for x in rec.messages(f"{ROOT}/up/events") if x.json()["type"] == "outage") > n_outages,
                 30)
    assert agent.terminate() == 0
    rec.wait_for(lambda m: m.topic.endswith("/up/status") and m.json().get("reason") == "shutdown", 15)

    # -- the verdict: every payload seen, both directions
    report = check(rec.messages(), expected_invalid=[p for p, _ in BAD_COMMANDS])
    assert not report.violations, report.summary()
    assert len(report.rejected_as_expected) == len(BAD_COMMANDS)
    assert set(report.leaves) == {"status", "health", "events", "txn", "cmd-result", "selftest", "cmd", "txn-ack"}
    assert report.report_types == {"selftest": 3, "inspection": 1}
    expected_events = {"outage", "device_state", "note_escrowed", "note_stacked", "card_inserted", "card_read",
                       "card_ejected", "card_removed", "id_card_read", "code_scanned", "receipt_printed",
                       "note_rejected", "note_reconcile", "card_retained", "card_read_failed"}
    assert expected_events <= set(report.event_types), report.event_types
    _check_offline_records(rec.messages(f"{ROOT}/up/txn"))


def _check_offline_records(txns: list[Received]) -> None:
    """The records made while offline say so, and the sealed data travels only sealed."""
    by_id = {m.json()["txn_id"]: m.json() for m in txns}
    assert by_id["cash-offline-1"]["offline"] is True
    assert by_id["fee-1"]["offline"] is False
    sealed = [t for t in by_id.values() if "data_enc" in t]
    assert len(sealed) == 1 and sealed[0]["ref"] == "order-1"
