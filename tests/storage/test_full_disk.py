"""A full disk: the journal on a 4 MB tmpfs. The API answers 507 with a clear message, health
shows the fault with action maintenance, nothing accepted is lost, and the agent recovers by
itself when space returns."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def small_fs(tmp_path: Path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mnt)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here (needs root): {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize("floor_mb", [0, 1])
def test_full_disk_refuses_with_507_keeps_everything_and_recovers(small_fs, agent_factory, mqtt_proxy, terminal_id,
                                                                   floor_mb):
    mqtt_proxy.refuse()
    agent = agent_factory(mqtt_proxy.port, terminal_id=terminal_id,
                          sections={"storage": {"path": str(small_fs / "journal.db"), "min_free_mb": floor_mb}})
    agent.start()
    api = agent.client()
    filler = small_fs / "filler"
    filler.write_bytes(os.urandom(1_500_000))
    accepted, refused = [], None
    for i in range(2000):
        body = {"txn_id": f"fd-{i:05d}", "kind": "payment", "amount": i, "method": "cash",
                "data": {"blob": "x" * 8000}}
        code, doc = api.post("/v1/transactions", body)
        if code == 507:
            refused = doc
            break
        assert code == 201, doc
        accepted.append(body["txn_id"])
    assert refused is not None, "the disk never filled"
    assert refused["error"]["code"] == "storage_full" and "nothing was recorded" in refused["error"]["message"]
    health = api.get("/v1/health")[1]
    fault = next(f for f in health["faults"] if f["code"] == "storage_full")
    assert fault["action"] == "maintenance"
    assert api.get("/v1/queue")[1]["pending_txns"] == len(accepted)  # nothing accepted was dropped
    # space returns: the very next transaction is accepted and the fault clears by itself
    filler.unlink()
    code, doc = api.post("/v1/transactions", {"txn_id": "fd-after", "kind": "payment", "amount": 1,
                                              "method": "cash"})
    assert code == 201, doc
    assert not any(f["code"] == "storage_full" for f in api.get("/v1/health")[1]["faults"])
    assert all(api.get(f"/v1/transactions/{t}")[1]["state"] == "queued" for t in accepted[-5:])
    assert agent.terminate() == 0
