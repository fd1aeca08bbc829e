"""kiosk-fleet ingest against a real Mosquitto and real stores (SQLite, private PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from fleet import ops
from fleet.store import open_store
from tests.fleet.terminal_pub import FleetBroker, TerminalPublisher
from tests.support.waiting import wait_until

N = 3000


def _count(url: str, table: str) -> int:
    s = open_store(url)
    try:
        s.migrate()
        return int(s.query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])
    finally:
        s.close()


def _stored(url: str) -> tuple[int, int]:
    return _count(url, "transactions"), _count(url, "events")


def settled(pub: TerminalPublisher, url: str) -> bool:
    """Everything stored and acked; if not, the terminal re-sends (as the agent does, compressed)."""
    if sum(_stored(url)) >= N and not pub.unacked() and _count(url, "quarantine"):
        return True
    now = time.monotonic()
    if now - getattr(pub, "last_resend", 0.0) > 3.0:
        pub.last_resend = now
        pub.resend()
    return False


def test_exactly_once_across_a_consumer_kill_and_a_broker_restart(tmp_path: Path, store_url: str,
                                                                  fleet_factory) -> None:
    broker = FleetBroker(tmp_path / "mq", persistence=True).start()
    pub = None
    try:
        fleet = fleet_factory(broker.port, store_url, mqtt={"client_id": "fleet-a", "group": "g"},
                              ingest={"ack": True, "batch_ms": 20.0, "check_interval": 1.0}).start()
        pub = TerminalPublisher(broker.port, "T-EO-1")
        assert pub.subscribed.wait(10)
        sender = threading.Thread(target=pub.publish_records, args=(N,))
        sender.start()
        wait_until(lambda: sum(_stored(store_url)) >= N // 4, 60, message=lambda: fleet.log_text()[-1500:])
        fleet.kill()  # mid-stream: whatever it had not committed was never PUBACKed
        fleet.start()
        wait_until(lambda: sum(_stored(store_url)) >= N // 2, 60, message=lambda: fleet.log_text()[-1500:])
        broker.restart()  # sessions and queued messages persist across a graceful restart
        sender.join(60)
        pub.publish_bad()
        wait_until(lambda: settled(pub, store_url), 90,
                   message=lambda: (_stored(store_url), len(pub.unacked()), len(pub.pending),
                                   fleet.log_text()[-800:]))
        fleet.stop()
        assert _stored(store_url) == (N // 2, N // 2)
        s = open_store(store_url)
        try:
            assert s.gaps() == []
            seqs = sorted(int(r["seq"]) for r in s.query("SELECT seq FROM transactions UNION ALL "
                                                          "SELECT seq FROM events"))
            assert seqs == sorted(pub.seqs)
            q = ops.quarantine(s)
            assert len(q) == 1 and "contract" in q[0]["reason"]
            assert set(pub.txn_ids) <= pub.acked
        finally:
            s.close()
    finally:
        if pub:
            pub.close()
        broker.stop()


def test_two_consumers_share_the_load(tmp_path: Path, fleet_factory, broker) -> None:
    url = f"sqlite:///{tmp_path}/fleet.db"
    a = fleet_factory(broker.port, url, "a", mqtt={"client_id": "share-a", "group": "g2"}).start()
    b = fleet_factory(broker.port, url, "b", mqtt={"client_id": "share-b", "group": "g2"}).start()
    pubs = [TerminalPublisher(broker.port, f"T-SH-{i}") for i in range(4)]
    try:
        for p in pubs:
            p.publish_records(500)
        wait_until(lambda: sum(_stored(url)) >= 2000, 60, message=lambda: (_stored(url), a.log_text()[-800:]))
    finally:
        for p in pubs:
            p.close()
    a.stop()
    b.stop()
    assert _stored(url) == (1000, 1000)
    shares = []
    for proc in (a, b):
        stopped = [json.loads(line) for line in proc.log_text().splitlines() if '"ingest_stopped"' in line]
        shares.append(stopped[-1]["new"])
    assert sum(shares) == 2000 and min(shares) > 0, shares


def test_a_postgresql_outage_loses_nothing(tmp_path: Path, fleet_factory, broker) -> None:
    """The store goes away mid-stream: batches wait unacknowledged and are stored when it is back."""
    from tests.support.pg import PostgresCluster, pg_bindir
    if pg_bindir() is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    cluster = PostgresCluster(tmp_path / "pg").start()
    pub = None
    try:
        url = cluster.create_database("outage")
        fleet = fleet_factory(broker.port, url, mqtt={"client_id": "fleet-pg-outage", "group": "g3"}).start()
        pub = TerminalPublisher(broker.port, "T-PG-1")
        pub.publish_records(200)
        wait_until(lambda: sum(_stored(url)) >= 200, 30, message=lambda: fleet.log_text()[-1500:])
        cluster.stop()
        pub.publish_records(200)
        wait_until(lambda: '"store_unavailable"' in fleet.log_text(), 30, message=lambda: fleet.log_text()[-1500:])
        assert fleet.proc is not None and fleet.proc.poll() is None  # waiting, not crashed
        cluster.start()
        wait_until(lambda: sum(_stored(url)) >= 400, 60, message=lambda: fleet.log_text()[-1500:])
        assert _stored(url) == (200, 200)
    finally:
        if pub:
            pub.close()
        cluster.stop()
