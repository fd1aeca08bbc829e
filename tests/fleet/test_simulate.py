"""``kiosk-fleet simulate`` against a private Mosquitto and a real ``kiosk-fleet ingest``: every payload
the simulated terminals publish is valid against the contract, and the store holds exactly what was
written (counts by kind, no seq gap), the re-sends after link drops absorbed as duplicates."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import contract
from fleet import ops
from fleet.sim import payloads
from fleet.store import open_store
from tests.support.broker import MosquittoBroker
from tests.support.waiting import wait_until

TERMINALS = 50


def _simulate(port: int, summary: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "fleet", "simulate", "--port", str(port), "--terminals", str(TERMINALS),
           "--summary", str(summary), "--log-level", "warning", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _counts(url: str) -> dict[str, int]:
    store = open_store(url)
    try:
        rows = {t: store.query(f"SELECT COUNT(*) AS n FROM {t}")[0]["n"]
                for t in ("transactions", "events", "terminals", "quarantine")}
        return {k: int(v) for k, v in rows.items()}
    finally:
        store.close()


@pytest.mark.parametrize("ack", [False, True], ids=["puback", "fleet-ack"])
def test_simulated_fleet_is_contract_valid_and_stored_exactly_once(
        ack: bool, fresh_broker: MosquittoBroker, recorder: Callable[..., object],
        fleet_factory: Callable[..., object], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fleet.db"
    seen = recorder("kiosk/v1/#", port=fresh_broker.port)
    ingest = fleet_factory(fresh_broker.port, url, ingest={"ack": ack, "batch_ms": 20.0})
    ingest.start()  # type: ignore[attr-defined]
    extra = ["--rate", "4", "--duration", "4", "--health-interval", "1", "--fault-rate", "3600",
             "--fault-duration", "1", "--flap", "0.1", "--ramp", "0.5", "--seed", "7"]
    if ack:
        extra += ["--ack", "--ack-timeout", "1"]
    run = _simulate(fresh_broker.port, tmp_path / "summary.json", *extra)
    assert run.returncode == 0, run.stderr[-3000:]
    sent = json.loads((tmp_path / "summary.json").read_text())
    assert sent["unsettled"] == 0, sent
    assert sent["drops"] > 0 and sent["resent"] > 0, sent  # the link drops really happened

    # every payload on the wire is valid against the contract
    messages = seen.messages()  # type: ignore[attr-defined]
    assert len(messages) >= sum(sent["published"].values())
    for m in messages:
        leaf = contract.leaf_of(m.topic)
        assert leaf is not None, m.topic
        assert contract.validate(leaf, json.loads(m.payload)) == [], (m.topic, m.payload[:300])
    leaves = {contract.leaf_of(m.topic) for m in messages}
    assert {"status", "health", "txn", "events"} <= leaves
    wills = [m.json() for m in messages if m.topic.endswith("/up/status") and m.json().get("reason") == "lwt"]
    assert wills, "a dropped link must fire the Last Will"
    types = {m.json()["type"] for m in messages if m.topic.endswith("/up/events")}
    assert {"device_state", "outage"} <= types

    # the store holds exactly what was written: counts by kind, no gaps, nothing quarantined
    want = {"transactions": sent["records"]["txn"], "events": sent["records"]["events"]}
    wait_until(lambda: {k: v for k, v in _counts(url).items() if k in want} == want, 30,
               message=lambda: f"stored {_counts(url)}, sent {want}")
    counts = _counts(url)
    assert counts["quarantine"] == 0
    assert counts["terminals"] == TERMINALS
    store = open_store(url)
    try:
        assert store.gaps() == []
        last = {r["terminal_id"]: int(r["m"]) for r in store.query(
            "SELECT terminal_id, MAX(seq) AS m FROM (SELECT terminal_id, seq FROM transactions UNION ALL "
            "SELECT terminal_id, seq FROM events) u GROUP BY terminal_id")}
        assert last == sent["last_seq"]
        counters = store.counters()
        # presence: every terminal said goodbye; faults that came and went are incidents
        wait_until(lambda: all(not t["online"] and t["reason"] == "shutdown" for t in ops.terminals(store)), 30,
                   message=lambda: [t for t in ops.terminals(store) if t["online"] or t["reason"] != "shutdown"])
        incidents = ops.incidents(store)
        codes = {c for _cls, _req, codes, _act in payloads.DEVICES.values() for c in codes}
        assert incidents and {i["fault"] for i in incidents if i["device"]} <= codes
        assert any(i["closed"] for i in incidents)
    finally:
        store.close()
    dupes = sum(v for k, v in counters.items() if k.startswith("duplicate"))
    assert dupes >= sent["resent_after_puback"], (counters, sent)
    if ack:
        assert sent["acked_txns"] == sent["records"]["txn"]


def test_simulate_refuses_bad_options(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "fleet", "simulate", "--terminals", "0"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "--terminals" in run.stderr
