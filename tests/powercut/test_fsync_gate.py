"""Power loss, from the process's side: the agent acknowledges a transaction only after its
fsync has returned. An LD_PRELOAD shim (fsync_gate.c) freezes fsync/fdatasync while a gate file
exists — the storage stops honouring flushes, as at the instant of a power cut. With the gate
closed no 201 may arrive; after a SIGKILL every transaction acknowledged before the cut is there.
What remains (that a flushed write survives the power cut) is the storage's promise: see
docs/durability.md."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.support.waiting import wait_until

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the fsync gate shim")
    out = tmp_path_factory.mktemp("shim") / "fsync_gate.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(out), str(HERE / "fsync_gate.c"), "-ldl"], check=True)
    return out


def test_no_acknowledgement_without_a_completed_fsync(shim, tmp_path, agent_factory, mqtt_proxy, terminal_id):
    gate = tmp_path / "gate"
    mqtt_proxy.refuse()
    agent = agent_factory(mqtt_proxy.port, terminal_id=terminal_id,
                          env={"LD_PRELOAD": str(shim), "FSYNC_GATE": str(gate)})
    agent.start()
    api = agent.client(timeout_s=30)
    acked = []
    for i in range(20):
        body = {"txn_id": f"pc-{i:03d}", "kind": "payment", "amount": i, "method": "cash"}
        assert api.post("/v1/transactions", body)[0] == 201
        acked.append(body["txn_id"])
    count = Path(str(gate) + ".count")
    assert count.exists() and count.stat().st_size >= 20  # every acknowledgement passed an fsync
    gate.touch()  # the storage stops honouring flushes
    answers: list[int] = []

    def submit() -> None:
        try:
            answers.append(api.post("/v1/transactions", {"txn_id": "pc-cut", "kind": "payment", "amount": 1,
                                                          "method": "cash"})[0])
        except Exception:
            answers.append(-1)
    t = threading.Thread(target=submit, daemon=True)
    t.start()
    t.join(3.0)
    assert answers == [], f"acknowledged while the flush could not complete: {answers}"
    agent.kill()  # the power cut
    t.join(10)
    assert answers in ([-1], []), answers
    gate.unlink()
    agent.env.pop("LD_PRELOAD")
    agent.start()
    api = agent.client()
    states = {tid: api.get(f"/v1/transactions/{tid}")[1].get("state") for tid in acked}
    assert all(s == "queued" for s in states.values()), states
    mqtt_proxy.restore()
    wait_until(lambda: api.get("/v1/queue")[1]["pending_txns"] == 0, 20)
