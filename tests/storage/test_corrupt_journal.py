"""A corrupt journal at start: detected, the file set moved aside intact, every readable record
salvaged with its original identity, an alarm published, and the daemon serving again."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from tests.support.waiting import wait_until


def _fill(agent, n: int) -> None:
    agent.start()
    api = agent.client()
    for i in range(n):
        assert api.post("/v1/transactions", {"txn_id": f"cj-{i:04d}", "kind": "payment", "amount": i,
                                             "method": "cash"})[0] == 201
    agent.kill()  # the WAL holds the latest pages: corruption may land in either file


def _corrupt_pages(path, pages: list[int]) -> None:
    with open(path, "r+b") as f:
        for p in pages:
            f.seek(p * 4096 + 100)
            f.write(os.urandom(400))


@pytest.mark.parametrize("how", ["middle_pages", "garbage_header", "truncated"])
def test_corrupt_journal_is_quarantined_salvaged_and_serving(how, agent_factory, mqtt_proxy, recorder, terminal_id):
    rec = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/up/#")
    mqtt_proxy.refuse()
    agent = agent_factory(mqtt_proxy.port, terminal_id=terminal_id)
    _fill(agent, 300)
    db = agent.workdir / "journal.db"
    # checkpoint the WAL into the main file first, as a long-running terminal would have
    import sqlite3
    with sqlite3.connect(db) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = db.stat().st_size
    if how == "middle_pages":
        _corrupt_pages(db, [2, size // 4096 // 2])
    elif how == "garbage_header":
        with open(db, "r+b") as f:
            f.write(b"this is not a database" * 5)
    else:
        with open(db, "r+b") as f:
            f.truncate(size // 2)
    original = hashlib.sha256(db.read_bytes()).hexdigest()

    agent.start()  # serves again, on a rebuilt journal
    api = agent.client()
    health = api.get("/v1/health")[1]
    fault = next(f for f in health["faults"] if f["code"] == "journal_recovered")
    assert fault["action"] == "maintenance"
    qdirs = list((agent.workdir / "quarantine").iterdir())
    assert len(qdirs) == 1
    assert hashlib.sha256((qdirs[0] / "journal.db").read_bytes()).hexdigest() == original  # evidence intact
    stats = api.get("/v1/queue")[1]
    salvaged = stats["pending_txns"]
    if how != "garbage_header":
        assert salvaged > 0  # the readable records came back
    assert api.post("/v1/transactions", {"txn_id": "after", "kind": "fee", "amount": 1, "method": "cash"})[0] == 201
    mqtt_proxy.restore()
    alarm = rec.wait_for(lambda m: m.topic.endswith("/up/events") and m.json().get("type") == "journal_recovered",
                         20).json()["data"]
    assert alarm["quarantine"] == str(qdirs[0]) and alarm["salvaged"] + alarm["unreadable"] >= 0
    wait_until(lambda: api.get("/v1/queue")[1]["pending"] == 0, 20)
    txns = [m.json() for m in rec.messages() if m.topic.endswith("/up/txn")]
    ids = [t["txn_id"] for t in txns]
    assert "after" in ids
    # salvaged records keep their original ids and seqs: nothing republished under a new identity
    for t in txns:
        if t["txn_id"].startswith("cj-"):
            assert t["seq"] == int(t["txn_id"][3:]) + 1
    assert api.post("/v1/journal/ack-recovery", {})[1] == {"acknowledged": True}
    assert not any(f["code"] == "journal_recovered" for f in api.get("/v1/health")[1]["faults"])
    shutil.rmtree(qdirs[0])  # the test's own cleanup; the agent never deletes evidence
