"""The engineer's commands against a running daemon and without one: status, queue."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.agent_proc import REPO
from tests.support.waiting import wait_until


def _cli(cfg, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", "-c", str(cfg), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def test_status_and_queue_commands(agent_factory, mqtt_proxy, terminal_id):
    mqtt_proxy.refuse()
    agent = agent_factory(mqtt_proxy.port, terminal_id=terminal_id)
    cfg = agent.config_path
    r = _cli(cfg, "status")
    assert r.returncode == 3 and "no agent is serving" in r.stderr
    agent.start()
    api = agent.client()
    for i in range(3):
        assert api.post("/v1/transactions", {"txn_id": f"c{i}", "kind": "fee", "amount": 10, "method": "qr"})[0] == 201
    r = _cli(cfg, "status")
    assert r.returncode == 0, r.stdout + r.stderr  # no devices, no faults: ok (offline is not a fault)
    assert f"terminal {terminal_id}" in r.stdout and "OFFLINE" in r.stdout and "3 pending" in r.stdout
    doc = json.loads(_cli(cfg, "status", "--json").stdout)
    assert doc["terminal_id"] == terminal_id and doc["queue"]["pending"] == 3
    r = _cli(cfg, "queue", "stats")
    assert r.returncode == 0 and "pending 3" in r.stdout
    rows = json.loads(_cli(cfg, "queue", "list", "--json").stdout)["records"]
    assert [x["id"] for x in rows] == ["c0", "c1", "c2"] and all(x["state"] == "queued" for x in rows)
    assert json.loads(_cli(cfg, "queue", "dead", "--json").stdout)["records"] == []
    assert "requeued 0" in _cli(cfg, "queue", "retry").stdout
    mqtt_proxy.restore()
    wait_until(lambda: api.get("/v1/queue")[1]["pending"] == 0, 15)
    assert agent.terminate() == 0
    # without the daemon, read-only queue commands read the journal file itself
    r = _cli(cfg, "queue", "stats", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["settled"] >= 3 and "daemon not running" in r.stderr
    assert _cli(cfg, "queue", "retry").returncode == 3
