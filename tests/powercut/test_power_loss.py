"""Power loss end to end: the journal on a filesystem that forgets every write not flushed.

tests.support.lossyfs is a FUSE layer over a "media" directory that keeps unflushed writes,
sizes, new names and unlinks in a volatile cache, as the page cache does; a cut drops that cache
(or, ``torn``, lets a random part of it reach the media first, sector by sector). The daemon
runs with its journal and key on that mount while a load generator submits transactions (some
with an encrypted ``data`` part); each power cut is a SIGKILL of the daemon followed at once by
a cut of the filesystem. Then it starts again on what the media holds. Every transaction the API
acknowledged must still be there, with its seq, its data readable with the key, and all of it
delivered in the end; the journal must pass integrity_check without a salvage.

A negative control shows the same cut does lose commits that were not flushed, so the
positive result means something. docs/durability.md says what the guarantee rests on.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time

import pytest

from agent.runtime.crypto import load_or_create_key
from fleet.seal import keyring, open_data
from tests.support.fleetkey import fleet_keypair
from tests.support.waiting import wait_until

CUTS = int(os.environ.get("POWERCUT_CUTS", "12"))


def test_the_cut_loses_commits_that_were_never_flushed(lossy_mount):
    """The negative control: SQLite with synchronous=OFF on the same mount loses its commits."""
    kept: dict[str, int] = {}
    open_conns = []
    for sync in ("OFF", "FULL"):
        conn = sqlite3.connect(lossy_mount.path / f"{sync}.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={sync}")
        conn.execute("CREATE TABLE t (x INTEGER)")
        for i in range(100):
            conn.execute("INSERT INTO t VALUES (?)", (i,))
        assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 100
        open_conns.append(conn)  # stays open: no checkpoint, no close; the power goes
        kept[sync] = 0
    report = lossy_mount.cut("drop")
    assert report["dropped_by_suffix"].get(".db-wal", 0) > 0
    for sync in kept:
        media = lossy_mount.media / f"{sync}.db"
        try:
            with sqlite3.connect(f"file:{media}?mode=ro", uri=True) as ro:
                kept[sync] = ro.execute("SELECT COUNT(*) FROM t").fetchone()[0]
        except sqlite3.Error:
            kept[sync] = 0   # not even the table survived
    for conn in open_conns:
        conn.close()
    assert kept == {"OFF": 0, "FULL": 100}, kept


@pytest.mark.timeout(max(300, CUTS * 15))
def test_power_cuts_keep_everything_acknowledged(lossy_mount, agent_factory, mqtt_proxy, recorder, terminal_id):
    root = f"kiosk/v1/TEST-SITE/{terminal_id}"
    rec = recorder(f"{root}/up/txn")
    agent = agent_factory(mqtt_proxy.port, terminal_id=terminal_id,
                          sections={"storage": {"path": str(lossy_mount.path / "kiosk" / "journal.db"),
                                                "key_file": str(lossy_mount.path / "etc" / "journal.key")},
                                    "log": {"level": "warning"}})
    for d in ("kiosk", "etc"):   # the key apart from the journal, as on a terminal (/etc, /var/lib)
        (lossy_mount.path / d).mkdir()
    rng = random.Random(20261129)
    acked: dict[str, tuple[int, dict | None]] = {}   # txn_id -> (seq, data)
    n = 0
    cut_reports = []
    for cut in range(CUTS):
        # the link comes and goes, so settle commits (never flushed on their own) are in the cache too
        mqtt_proxy.forward() if cut % 3 == 2 else mqtt_proxy.refuse()
        agent.start(timeout_s=60)
        api = agent.client(timeout_s=5)
        if cut > 0:
            # what was acknowledged before every earlier cut is there, in the state it may be in
            for txn_id, (seq, _) in rng.sample(sorted(acked.items()), min(40, len(acked))):
                code, doc = api.get(f"/v1/transactions/{txn_id}")
                assert code == 200 and doc["seq"] == seq and doc["state"] in ("queued", "sent", "settled"), \
                    (txn_id, code, doc)
        # the first cut comes right after the first start: the key and the new journal must be on the media
        life_s = 0.0 if cut == 0 else rng.uniform(0.2, 1.2)
        stop = threading.Event()

        def load(stop: threading.Event = stop, api=api) -> None:
            nonlocal n
            while not stop.is_set():
                n += 1
                txn_id = f"pl-{n:05d}"
                data = {"receipt": n, "holder": "张三"} if n % 3 == 0 else None
                body = {"txn_id": txn_id, "kind": "payment", "amount": rng.randint(1, 10**5), "method": "cash",
                        **({"data": data} if data else {})}
                try:
                    code, doc = api.post("/v1/transactions", body)
                except Exception:
                    return   # the power went in the middle of a request: not acknowledged
                assert code in (200, 201), doc
                acked[txn_id] = (doc["seq"], data)
        t = threading.Thread(target=load, daemon=True)
        t.start()
        deadline = time.monotonic() + life_s
        wait_until(lambda deadline=deadline: time.monotonic() >= deadline, life_s + 5)
        agent.kill()                                   # the power goes: the process ...
        cut_reports.append(lossy_mount.cut("torn", seed=cut))   # ... and the page cache with it
        stop.set()
        t.join(10)

    # power stays on: everything is delivered, with its data readable, in seq order
    mqtt_proxy.forward()
    agent.start(timeout_s=60)
    api = agent.client()
    wait_until(lambda: api.get("/v1/queue")[1]["pending"] == 0, 120, message=lambda: api.get("/v1/queue")[1])
    health = api.get("/v1/health")[1]
    assert "journal_recovered" not in json.dumps(health), "the journal needed a salvage after a power cut"
    assert agent.terminate() == 0
    delivered: dict[str, dict] = {}
    order = []
    for m in rec.messages():
        doc = m.json()
        delivered.setdefault(doc["txn_id"], doc)
        order.append(doc["seq"])
    missing = sorted(set(acked) - set(delivered))
    assert not missing, f"{len(missing)} acknowledged transactions lost to power cuts: {missing[:5]}"
    # the key made at the first start survived the cut that came right after it; every sealed
    # part opens with the fleet's private key (the terminal holds only the public half)
    assert load_or_create_key(lossy_mount.media / "etc" / "journal.key", create=False)
    fleet_keys = keyring(str(fleet_keypair()[0]), None)
    for txn_id, (seq, data) in acked.items():
        doc = delivered[txn_id]
        assert doc["seq"] == seq, (txn_id, doc["seq"], seq)
        if data is not None:
            assert open_data(doc["data_enc"], txn_id, fleet_keys) == data
    first_seen = list(dict.fromkeys(order))
    assert first_seen == sorted(first_seen), "published out of seq order"
    with sqlite3.connect(f"file:{lossy_mount.media / 'kiosk' / 'journal.db'}?mode=ro", uri=True) as ro:
        assert ro.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    fs = lossy_mount.report()
    assert fs["dropped_by_suffix"].get(".db-wal", 0) > 0, "no cut ever caught unflushed journal writes"
    print(json.dumps({"cuts": CUTS, "acknowledged": len(acked), "delivered": len(delivered), "lost": len(missing),
                      "fsyncs": fs["fsyncs"], "dropped_sectors": fs["dropped_sectors"],
                      "torn_sectors_kept": fs["kept_sectors"], "dropped_by_file": fs["dropped_by_suffix"]}))
