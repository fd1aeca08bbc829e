"""docs/examples/consumer.py, run as a user would, against a real daemon and a private Mosquitto:
it validates everything, acks each transaction on down/txn-ack (the daemon settles them), flags a
re-delivered record as a duplicate by (terminal_id, seq), and verifies a signed report."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.agent_proc import REPO, AgentProcess, base_config, write_config
from tests.support.broker import MosquittoBroker
from tests.support.recorder import release_paho_sockets
from tests.support.waiting import wait_until

TERMINAL = "T-DOCS-1"
ROOT = f"kiosk/v1/TEST-SITE/{TERMINAL}"


class Lines:
    """The consumer's stdout, one JSON document per line, collected on a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.items: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._lock:
                self.items.append(json.loads(line))

    def where(self, **match: Any) -> list[dict[str, Any]]:
        with self._lock:
            return [i for i in self.items if all(i.get(k) == v for k, v in match.items())]


@pytest.fixture
def rig(tmp_path: Path, fresh_broker: MosquittoBroker) -> Iterator[tuple[AgentProcess, MosquittoBroker]]:
    cfg = base_config(tmp_path, fresh_broker.port, TERMINAL, settle="fleet-ack", fleet_ack_timeout=30)
    agent = AgentProcess(write_config(tmp_path / "agent.toml", cfg), tmp_path)
    try:
        yield agent.start(), fresh_broker
    finally:
        agent.close()


def test_the_example_consumer_validates_dedupes_acks_and_verifies(rig: tuple[AgentProcess, MosquittoBroker]) -> None:
    agent, broker = rig
    proc = subprocess.Popen([sys.executable, str(REPO / "docs" / "examples" / "consumer.py"), "--host", broker.host,
                             "--port", str(broker.port), "--exit-after-acks", "3", "--timeout", "120"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = Lines(proc)
    try:
        # subscribed: the retained status and health arrive first
        wait_until(lambda: lines.where(leaf="status") and lines.where(leaf="health"), 30, message=lambda: lines.items)
        api = agent.client()
        code, first = api.post("/v1/transactions", {"txn_id": "docs-1", "kind": "payment", "amount": 100,
                                                    "method": "cash"})
        assert code == 201, first
        wait_until(lambda: lines.where(leaf="txn", acked="docs-1"), 30, message=lambda: lines.items)

        # the same record delivered again (at least once): flagged, acked again, not counted twice
        got: list[bytes] = []
        sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="docs-replay", protocol=mqtt.MQTTv5)
        sub.on_message = lambda _c, _u, m: got.append(m.payload)
        sub.connect(broker.host, broker.port)
        sub.loop_start()
        try:
            code, doc = api.post("/v1/inspection", {"engineer": "docs", "checks": []})
            assert code == 200, doc
            wait_until(lambda: lines.where(leaf="selftest", signature="valid"), 30, message=lambda: lines.items)
            assert not lines.where(leaf="selftest", signature="invalid")
            sub.subscribe(f"{ROOT}/up/txn", qos=1)
            code, _ = api.post("/v1/transactions", {"txn_id": "docs-2", "kind": "payment", "amount": 200,
                                                    "method": "cash"})
            wait_until(lambda: got, 30)
            sub.publish(f"{ROOT}/up/txn", got[0], qos=1).wait_for_publish(5)
            wait_until(lambda: lines.where(leaf="txn", acked="docs-2", duplicate=True), 30,
                       message=lambda: lines.items)
        finally:
            sub.disconnect()
            sub.loop_stop()
            release_paho_sockets(sub)
        code, _ = api.post("/v1/transactions", {"txn_id": "docs-3", "kind": "payment", "amount": 300, "method": "cash"})
        assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert all(i["valid"] for i in lines.items), [i for i in lines.items if not i["valid"]]
    assert {i["acked"] for i in lines.where(leaf="txn")} == {"docs-1", "docs-2", "docs-3"}
    # the daemon heard the acks: nothing is left waiting for the fleet
    wait_until(lambda: api.get("/v1/health")[1]["queue"]["sent_awaiting_ack"] == 0, 30,
               message=lambda: api.get("/v1/health")[1]["queue"])
    assert api.get("/v1/transactions/docs-1")[1]["state"] == "settled"
