"""Fleet ingest benchmark (issue 13, item 7), run by hand: ``python -m bench.fleet [--messages N]``.

In one run, against one private Mosquitto (queue uncapped) on loopback:

* **baseline**: a bare paho subscriber on the same shared subscription that only counts;
* **kiosk-fleet ingest** into SQLite, and into a private PostgreSQL (initdb + pg_ctl) with 1 and
  with 2 consumer processes on one shared subscription.

Each consumer's persistent session is created first, then the whole backlog (contract-valid
transactions and events from ``--terminals`` fake terminals) is published while it is away, so the
broker holds it; the clock runs from the consumer's start to the last record counted (baseline) or
committed (ingest). The publisher's speed therefore does not limit what is measured. Also reported:
the consumer's peak RSS and the end-to-end lag (terminal ``ts`` -> committed ``received``) of a live,
paced stream after the backlog.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from fleet import timeutil
from fleet.payloads import FakeTerminal
from fleet.store import open_store
from tests.support.broker import MosquittoBroker
from tests.support.pg import PostgresCluster, pg_bindir
from tests.support.waiting import wait_until


class Broker(MosquittoBroker):
    def _config_text(self) -> str:  # a fleet broker never drops a consumer's queue (docs/fleet.md)
        return super()._config_text() + "max_queued_messages 0\nmax_inflight_messages 0\n"


def _client(cid: str, port: int) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 1000
    c.connect("127.0.0.1", port, 30, clean_start=False, properties=props)
    return c


def make_session(port: int, cid: str, group: str) -> None:
    """Connect, subscribe to the shared topics, leave: the broker now queues for ``cid``."""
    c = _client(cid, port)
    done = threading.Event()
    c.on_subscribe = lambda *_: done.set()
    c.loop_start()
    c.subscribe([(f"$share/{group}/kiosk/v1/+/+/up/{leaf}", 1) for leaf in ("txn", "events", "selftest")])
    assert done.wait(10)
    c.disconnect()
    c.loop_stop()


def backlog(n: int, terminals: int) -> list[tuple[str, bytes]]:
    terms = [FakeTerminal(f"T-B-{i:05d}", f"S-{i % 50:03d}") for i in range(terminals)]
    out = []
    for i in range(n):
        t = terms[i % terminals]
        doc, leaf = (t.txn(amount=i), "txn") if i % 2 == 0 else (t.scan(f"C{i}"), "events")
        out.append((t.topic(leaf), json.dumps(doc, separators=(",", ":")).encode()))
    return out


def publish_all(port: int, msgs: list[tuple[str, bytes]]) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}", protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(1000)
    acked = [0]
    lock = threading.Lock()

    def on_publish(*_: Any) -> None:
        with lock:
            acked[0] += 1
    c.on_publish = on_publish
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    for topic, payload in msgs:
        c.publish(topic, payload, qos=1)
    wait_until(lambda: acked[0] >= len(msgs), 600, message=lambda: acked[0])
    c.disconnect()
    c.loop_stop()


def run_counter(port: int, cid: str, n: int) -> float:
    count = [0]
    done = threading.Event()
    t0 = time.perf_counter()

    def on_message(*_: Any) -> None:
        count[0] += 1
        if count[0] >= n:
            done.set()
    c = _client(cid, port)
    c.on_message = on_message
    c.loop_start()
    assert done.wait(600), count[0]
    elapsed = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    return elapsed


def _rows(url: str) -> int:
    s = open_store(url)
    try:
        s.migrate()
        return int(s.query("SELECT (SELECT COUNT(*) FROM transactions) + (SELECT COUNT(*) FROM events) AS n")[0]["n"])
    finally:
        s.close()


def run_ingest(port: int, url: str, cids: list[str], n: int, work: Path, group: str) -> dict[str, Any]:
    procs = []
    t0 = time.perf_counter()
    for cid in cids:
        cfg = work / f"{cid}.toml"
        cfg.write_text(f'[mqtt]\nport = {port}\nclient_id = "{cid}"\ngroup = "{group}"\n'
                       f'[store]\nurl = "{url}"\n[log]\nlevel = "warning"\n')
        with open(work / f"{cid}.log", "ab") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "fleet", "-c", str(cfg), "ingest"],
                                          stdout=subprocess.DEVNULL, stderr=log))
    peak = 0.0
    while _rows(url) < n:
        for p in procs:
            try:
                peak = max(peak, psutil.Process(p.pid).memory_info().rss / 2**20)
            except psutil.Error:
                pass
            assert p.poll() is None, (work / f"{cids[0]}.log").read_text()[-2000:]
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.terminate()
        p.wait(30)
    return {"elapsed_s": round(elapsed, 2), "rate_per_s": round(n / elapsed), "peak_rss_mb": round(peak, 1)}


def lag(port: int, url: str, work: Path, count: int = 2000, rate: float = 500.0) -> dict[str, Any]:
    """A live stream paced at ``rate``/s into one consumer: p50/p99 of ts -> committed received."""
    cfg = work / "lag.toml"
    cfg.write_text(f'[mqtt]\nport = {port}\nclient_id = "bench-lag"\ngroup = "lag"\n[store]\nurl = "{url}"\n')
    with open(work / "lag.log", "ab") as log:
        p = subprocess.Popen([sys.executable, "-m", "fleet", "-c", str(cfg), "ingest"], stdout=subprocess.DEVNULL,
                             stderr=log)
    wait_until(lambda: "ingest_subscribed" in (work / "lag.log").read_text(), 30)
    t = FakeTerminal("T-LAG", "S-LAG")
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-lag-pub", protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    start = time.perf_counter()
    for i in range(count):
        c.publish(t.topic("txn"), json.dumps(t.txn(amount=i)), qos=1)
        delay = start + (i + 1) / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    s = open_store(url)
    try:
        wait_until(lambda: int(s.query("SELECT COUNT(*) AS n FROM transactions WHERE terminal_id = ?",
                                       ("T-LAG",))[0]["n"]) >= count, 60)
        rows = s.query("SELECT ts, received FROM transactions WHERE terminal_id = ?", ("T-LAG",))
    finally:
        s.close()
    c.disconnect()
    c.loop_stop()
    p.terminate()
    p.wait(30)
    lags = sorted((timeutil.parse(str(r["received"])) - timeutil.parse(str(r["ts"]))).total_seconds()
                  if isinstance(r["received"], str) else (r["received"] - r["ts"]).total_seconds() for r in rows)
    return {"messages": count, "rate_per_s": rate, "p50_ms": round(lags[len(lags) // 2] * 1000, 1),
            "p99_ms": round(lags[int(len(lags) * 0.99)] * 1000, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--terminals", type=int, default=100)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    broker = Broker(work / "mq").start()
    cluster = None
    results: dict[str, Any] = {"messages": args.messages, "terminals": args.terminals}
    try:
        msgs = backlog(args.messages, args.terminals)
        port = broker.port
        make_session(port, "bench-count", "count")
        publish_all(port, msgs)
        el = run_counter(port, "bench-count", args.messages)
        results["baseline_counter"] = {"elapsed_s": round(el, 2), "rate_per_s": round(args.messages / el)}
        print(json.dumps(results), flush=True)

        runs: list[tuple[str, str, list[str]]] = [("sqlite_1", f"sqlite:///{work}/fleet.db", ["sq-1"])]
        if not args.no_postgres and pg_bindir() is not None:
            cluster = PostgresCluster(work / "pg").start()
            runs += [("postgres_1", cluster.create_database("bench1"), ["pg1-1"]),
                     ("postgres_2", cluster.create_database("bench2"), ["pg2-1", "pg2-2"])]
        for name, url, cids in runs:
            _rows(url)  # schema first, so the clock measures ingest, not migrations
            for cid in cids:  # a group per run: an idle session of an earlier run must not take a share
                make_session(port, cid, name)
            publish_all(port, msgs)
            results[name] = run_ingest(port, url, cids, args.messages, work, name)
            results[name]["vs_baseline"] = round(results[name]["rate_per_s"] /
                                                 results["baseline_counter"]["rate_per_s"], 2)
            print(json.dumps({name: results[name]}), flush=True)
        if "postgres_1" in results and "postgres_2" in results:
            results["postgres_scaling_2_vs_1"] = round(results["postgres_2"]["rate_per_s"] /
                                                       results["postgres_1"]["rate_per_s"], 2)
        results["lag_sqlite"] = lag(port, f"sqlite:///{work}/lag.db", work)
        print(json.dumps(results, indent=2))
    finally:
        if cluster is not None:
            cluster.stop()
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
