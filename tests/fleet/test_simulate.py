"""kiosk-fleet simulate against a real broker and kiosk-fleet ingest: every payload contract-valid
(nothing quarantined), presence, transactions, faults that come and go as incidents, no gaps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fleet import ops
from fleet.store import open_store
from tests.support.waiting import wait_until


def test_simulated_terminals_are_ingested_cleanly(tmp_path: Path, broker, fleet_factory) -> None:
    url = f"sqlite:///{tmp_path}/fleet.db"
    fleet = fleet_factory(broker.port, url, mqtt={"group": "sim"}).start()
    r = subprocess.run([sys.executable, "-m", "fleet", "-c", str(fleet.config), "simulate", "--terminals", "20",
                        "--duration", "6", "--health-interval", "1", "--txn-interval", "0.5",
                        "--fault-interval", "1.5", "--seed", "7", "--id-prefix", "T-SIMT"],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    published = json.loads(r.stdout.splitlines()[-1])["published"]
    store = open_store(url)
    try:
        def all_stopped() -> bool:
            rows = [t for t in ops.terminals(store) if t["terminal_id"].startswith("T-SIMT")]
            return len(rows) == 20 and all(not t["online"] and t["reason"] == "shutdown" for t in rows)
        wait_until(all_stopped, 30, message=lambda: ops.terminals(store))
        assert ops.quarantine(store) == []
        assert store.gaps() == []
        txns = ops.transactions(store, limit=100_000)
        assert len(txns) > 20
        incs = ops.incidents(store)
        assert incs and {i["fault"] for i in incs} <= {"paper_out", "jam"}
        assert published > len(txns)
    finally:
        store.close()
