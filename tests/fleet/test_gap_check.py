"""The ingest's periodic gap check: reported until filled, and only above each terminal's
contiguous prefix (the check costs what arrived since, not the history)."""

from __future__ import annotations

import json
from pathlib import Path

from fleet.config import parse
from fleet.ingest import Incoming, Ingest
from fleet.payloads import FakeTerminal
from fleet.store import open_store


def test_gaps_are_reported_until_filled_and_the_floor_advances(tmp_path: Path) -> None:
    cfg = parse({"store": {"url": f"sqlite:///{tmp_path}/f.db"}})
    store = open_store(cfg.store.url)
    store.migrate()
    ingest = Ingest(cfg, store)
    t = FakeTerminal("T-G-1", "S-1")
    docs = [t.txn() for _ in range(10)]

    def feed(seqs: set[int]) -> None:
        batch = [Incoming(0, t.topic("txn"), json.dumps(d).encode(), 0, 0, "2026-11-03T08:00:00.000Z")
                 for d in docs if d["seq"] in seqs]
        ingest.store_batch(batch)

    feed({1, 2, 3, 6, 7, 10})
    assert ingest.check({}) == {"T-G-1": 4}  # 4-5 and 8-9
    assert ingest.floor["T-G-1"] == 3
    gaps = ingest.check({"T-G-1": 4})  # nothing new arrived: still reported
    assert gaps == {"T-G-1": 4}
    feed({4, 5})
    gaps = ingest.check(gaps)
    assert gaps == {"T-G-1": 2} and ingest.floor["T-G-1"] == 7
    feed({8, 9})
    assert ingest.check(gaps) == {}
    assert ingest.floor["T-G-1"] == 10
    store.close()
