"""``kiosk-agent demo``: the whole job on one machine, narrated.

Simulated peripherals (the same peers ``kiosk-sim`` serves, here in the demo's own process, each
on a real pseudo-terminal), the daemon (``python -m agent run``, a subprocess), a local Mosquitto
when one can be started, and a fleet-side subscriber. The network goes down, a customer is served
offline (ID card, bank card, banknotes, a barcode, a receipt, transactions), the network comes
back, and the backlog drains to the subscriber in order: presence and health first.

The one module of simulators/ that imports agent/ (the API client, the demo fleet key): it drives
the daemon as its user would. ``kiosk-agent demo`` loads it by importlib when asked for, so the
daemon itself never depends on simulators/.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.cli.client import ApiClient
from agent.runtime.crypto import demo_fleet_key
from simulators.broker import LocalBroker, mosquitto_path
from simulators.kit import SimulatorKit, write_agent_config


def say(msg: str) -> None:
    print(msg, flush=True)


def wait(pred: Any, timeout_s: float, what: str, interval_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval_s)  # the demo polls the daemon like a person watching it
    raise TimeoutError(f"demo: timed out waiting for {what}")


class Fleet:
    """What a fleet server would see: every message under the terminal's topics."""

    def __init__(self, port: int, root: str) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="demo-fleet", protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        # subscribe once: the persistent session keeps the subscription across reconnects
        topics = f"{root}/up/#"
        self.client.on_connect = lambda c, u, f, rc, p: None if f.session_present else c.subscribe(topics, qos=1)
        self.client.reconnect_delay_set(1, 1)
        # a persistent session: while the fleet is away (broker restart), its messages wait for it
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect_async("127.0.0.1", port, clean_start=False, properties=props)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        try:
            doc = json.loads(msg.payload)
        except ValueError:
            return
        leaf = msg.topic.rsplit("/", 1)[1]
        with self.lock:
            self.messages.append((leaf, doc))
        say(f"    fleet <- {leaf:<10} {_summary(leaf, doc)}")

    def count(self, leaf: str) -> int:
        with self.lock:
            return sum(1 for t, _ in self.messages if t == leaf)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _summary(leaf: str, doc: dict[str, Any]) -> str:
    if leaf == "status":
        return f"{doc.get('state')} {doc.get('reason', '')} (session {doc.get('session')})"
    if leaf == "health":
        devs = ", ".join(f"{n}={d['state']}" for n, d in sorted(doc.get("devices", {}).items()))
        return f"{doc.get('state')}; queue {doc['queue']['pending']}; {devs}"
    if leaf == "txn":
        return (f"seq {doc['seq']} {doc['txn_id']} {doc['kind']} {doc['amount']} fen {doc['method']} "
                f"offline={doc['offline']}")
    if leaf == "events":
        data = json.dumps(doc.get("data"), ensure_ascii=False)[:90]
        return f"seq {doc['seq']} {doc.get('device') or 'terminal'}: {doc['type']} {data}"
    return json.dumps(doc, ensure_ascii=False)[:100]


class _Demo:
    """The demo's parts, started step by step and stopped in reverse order."""

    def __init__(self, root_dir: Path) -> None:
        self.root_dir = root_dir
        self.cfg_path = root_dir / "agent.toml"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.broker: LocalBroker | None = None
        self.fleet: Fleet | None = None
        self.kit: SimulatorKit | None = None

    def start_broker(self) -> None:
        say("== 1. A local MQTT broker (the fleet's side)")
        if mosquitto_path() is None:
            say("   mosquitto is not installed: the demo runs offline only (apt-get install mosquitto)")
        else:
            self.broker = LocalBroker(self.root_dir / "broker", persistence=True).start()
            say(f"   mosquitto on 127.0.0.1:{self.broker.port}")

    def start_peripherals(self) -> SimulatorKit:
        say("== 2. The simulated peripherals, each on its own pseudo-terminal")
        kit = self.kit = SimulatorKit(self.root_dir / "sim")
        for name, link in kit.links.items():
            say(f"   {name:<14} {kit.peers[name].device_class:<16} {link.url}")
        for name in kit.missing:
            say(f"   {name:<14} (no simulator/driver in this build: skipped)")
        root_dir = self.root_dir
        write_agent_config(self.cfg_path, {
            "terminal": {"id": "T-DEMO-0001", "site": "DEMO-LAB"},
            "storage": {"path": str(root_dir / "journal.db")},
            "mqtt": {"host": "127.0.0.1", "port": self.broker.port if self.broker else 1, "keepalive": 5,
                     "reconnect_min": 0.2, "reconnect_max": 2, "health_interval": 30},
            "api": {"socket": str(root_dir / "api.sock")},
            "log": {"format": "json"},
            # the demo's own fleet key: transaction data is sealed to it (contract/README.md)
            "seal": {"fleet_public_key": str(demo_fleet_key(root_dir / "fleet"))},
            "devices": kit.devices_section(poll_interval=1.0),
        })
        say(f"   agent config written to {self.cfg_path}")
        return kit

    def start_daemon(self) -> ApiClient:
        say("== 3. The agent daemon")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.procs.append(subprocess.Popen([sys.executable, "-m", "agent", "-c", str(self.cfg_path), "run"],
                                           stdout=(self.root_dir / "agent.log").open("wb"), stderr=subprocess.STDOUT,
                                           env=env))
        return ApiClient(tomllib.loads(self.cfg_path.read_text())["api"]["socket"])

    def stop(self) -> None:
        if self.fleet:
            self.fleet.stop()
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
        if self.broker:
            self.broker.stop()
        if self.kit:
            self.kit.stop()


def _health(api: ApiClient) -> dict[str, Any]:
    try:
        code, doc = api.get("/v1/health")
    except Exception:
        return {}
    return doc if code == 200 else {}


def run_demo(state_dir: str, *, transactions: int = 5) -> int:
    root_dir = Path(state_dir).resolve()
    if root_dir.exists():
        shutil.rmtree(root_dir)
    root_dir.mkdir(parents=True)
    demo = _Demo(root_dir)
    try:
        demo.start_broker()
        kit = demo.start_peripherals()
        api = demo.start_daemon()
        health = partial(_health, api)
        wait(lambda: all(d["state"] == "online" for d in health().get("devices", {"x": {"state": "-"}}).values()),
             30, "all five devices online")
        doc = health()
        say(f"   terminal {doc['terminal_id']}: {doc['state']}; devices: "
            + ", ".join(f"{n}={d['state']}" for n, d in sorted(doc["devices"].items())))
        if demo.broker:
            demo.fleet = _network_down(demo.broker, health)
        say("== 5. A customer is served while offline")
        _customer(api, kit, transactions)
        doc = health()
        say(f"   queue while offline: {doc['queue']['pending']} records pending, oldest "
            f"{doc['queue']['oldest_age_s']:.0f} s; terminal state {doc['state']}")
        if demo.broker and demo.fleet:
            _network_back(demo.broker, demo.fleet, health, doc, root_dir)
        return 0
    finally:
        demo.stop()


def _network_down(broker: LocalBroker, health: Callable[[], dict[str, Any]]) -> Fleet:
    fleet = Fleet(broker.port, "kiosk/v1/DEMO-LAB/T-DEMO-0001")
    wait(lambda: health().get("connectivity", {}).get("online"), 20, "the uplink")
    wait(lambda: fleet.count("health") >= 1, 20, "the first health document at the fleet")
    say("== 4. The network goes down (broker stopped)")
    broker.stop()
    wait(lambda: not health().get("connectivity", {}).get("online", True), 30, "the agent to notice")
    say(f"   agent: offline since {health()['connectivity']['offline_since']}")
    return fleet


def _network_back(broker: LocalBroker, fleet: Fleet, health: Callable[[], dict[str, Any]],
                  offline_doc: dict[str, Any], root_dir: Path) -> None:
    say("== 6. The network returns: presence, health, then the backlog in seq order")
    queued_txns = offline_doc["queue"]["by_kind"].get("txn", {}).get("count", 0)
    before = fleet.count("txn")
    broker.start()
    wait(lambda: health().get("queue", {}).get("pending", 1) == 0, 60, "the backlog to drain")
    wait(lambda: fleet.count("txn") >= before + queued_txns, 20, "the transactions at the fleet")
    time.sleep(0.5)  # let the last PUBACKed messages reach the printout
    say(f"== 7. Done: {fleet.count('txn')} transactions and {fleet.count('events')} events delivered, "
        f"queue empty, nothing lost. Logs: {root_dir}/agent.log")


def _customer(api: ApiClient, kit: SimulatorKit, transactions: int) -> None:
    def op(device: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        code, doc = api.post(f"/v1/devices/{device}/{action}", body or {})
        if code != 200:
            raise RuntimeError(f"{device}/{action}: {code} {doc}")
        return doc

    peers = kit.peers
    card: dict[str, Any] = {}
    if "id_reader" in peers:
        peers["id_reader"].act("insert_id_card", [])
        ident = op("id_reader", "read")
        say(f"   ID card read: {ident.get('id_number_masked')} (full fields went to the kiosk app only)")
    if "card_reader" in peers:
        peers["card_reader"].act("present_card", [])
        card = op("card_reader", "read")
        say(f"   bank card read: {card.get('pan_masked')} token {card.get('pan_token', '')[:12]}...")
        op("card_reader", "eject")
        peers["card_reader"].act("remove_card", [])
    if "bill_acceptor" in peers:
        op("bill_acceptor", "enable")
        for note in ("50", "20"):  # one note at a time, as a customer feeds them
            wait(lambda n=note: peers["bill_acceptor"].act("insert_note", [n]).get("accepted"), 20,
                 "the acceptor to take a note")
        wait(lambda: len([e for e in api.get("/v1/devices/bill_acceptor/events")[1]["events"]
                          if e["type"] == "note_stacked"]) >= 2, 20, "two notes stacked")
        op("bill_acceptor", "disable")
        say("   two banknotes stacked (50 + 20 yuan), each journalled before the acceptor was acknowledged")
    if "scanner" in peers:
        peers["scanner"].act("scan", ["PAY-2026-000123"])
        wait(lambda: (op("scanner", "read").get("code") == "PAY-2026-000123"), 10, "the scanned code")
        say("   barcode scanned: PAY-2026-000123")
    for i in range(transactions):
        method = "cash" if i % 2 == 0 else "unionpay"
        code, doc = api.post("/v1/transactions", {"kind": "payment", "amount": 7000 + i, "method": method,
                                                   "ref": f"DEMO-{i:04d}",
                                                   "data": {"card_token": card.get("pan_token")}})
        say(f"   transaction {doc['txn_id']} -> {code} seq {doc['seq']} ({doc['state']})")
    if "printer" in peers:
        op("printer", "print", {"lines": ["DEMO RECEIPT 演示收据", "cash 70.00 CNY", "thank you"],
                                "qr": "DEMO-0000", "cut": True})
        say("   receipt printed and cut")
