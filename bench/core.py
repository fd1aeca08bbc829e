"""Benchmarks of the agent core, each against a baseline measured in the same run.

    .venv/bin/python -m bench.core [--records 100000] [--enqueue 2000] [--submits 2000]

Group commit under modelled flash (an fsync latency shim) and API latency during a drain are in
bench/group.py (``--only group`` / ``--only drain-latency`` here run them with their defaults).

Prints one line per figure: ours, the baseline, and the ratio (higher is better for rates).
Nothing here is asserted; the figures go in the issue note and bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from agent.app import Agent
from agent.config import parse_config
from agent.journal import Journal
from agent.uplink.payloads import record_document
from bench import group
from tests.support.agent_proc import AgentProcess, base_config, write_config
from tests.support.broker import MosquittoBroker
from tests.support.proxy import TcpProxy
from tests.support.waiting import wait_until

KEY = os.urandom(32)
TXN = {"kind": "payment", "amount": 1234, "currency": "CNY", "method": "cash", "ref": "order-1", "data": None}


def line(name: str, ours: float, base: float, unit: str, higher_is_better: bool = True) -> None:
    ratio = ours / base if higher_is_better else base / ours
    print(f"{name:<44} ours {ours:>12.1f} {unit:<8} baseline {base:>12.1f} {unit:<8} ratio {ratio:5.2f}x")


def bench_enqueue(workdir: Path, n: int) -> None:
    raw_rate = group.raw_rate(workdir, group.disk_env(None, 0), n)  # the same loop, its own process
    j = Journal(workdir / "j.db", KEY, terminal_id="T-B", site="S", boot_id="b", min_free_mb=0)
    t0 = time.perf_counter()
    for i in range(n):
        j.submit_txn({**TXN, "txn_id": f"t{i}"}, offline=True)
    ours = n / (time.perf_counter() - t0)
    j.close()
    line("durable enqueue (commits/s)", ours, raw_rate, "rec/s")


def _agent_cfg(workdir: Path, port: int, **mqtt_extra: object) -> dict:
    return {"terminal": {"id": "T-BENCH", "site": "B"}, "storage": {"path": str(workdir / "journal.db")},
            "mqtt": {"port": port, "reconnect_min": 0.1, "reconnect_max": 1.0, **mqtt_extra},
            "api": {"socket": str(workdir / "api.sock")}, "log": {"level": "warning", "format": "json"}}


def bench_api(workdir: Path, port: int, n: int) -> None:
    from agent.runtime import logs as logsetup
    logsetup.configure(level="warning", fmt="json")
    agent = Agent(parse_config(_agent_cfg(workdir, port)))
    agent.start()
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(workdir / "api.sock"))
        conn = http.client.HTTPConnection("localhost")
        conn.sock = s
        lat = []
        for i in range(n):
            body = json.dumps({**{k: v for k, v in TXN.items() if v is not None}, "txn_id": f"api-{i}"})
            t0 = time.perf_counter()
            conn.request("POST", "/v1/transactions", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            lat.append((time.perf_counter() - t0) * 1000)
            assert resp.status == 201
        lat.sort()
        p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
        print(f"{'API submit latency (keep-alive, ms)':<44} p50 {p50:6.2f}  p99 {p99:6.2f}  max {lat[-1]:6.2f}"
              f"   target p99 <= 5 ms")
    finally:
        agent.stop()


def bench_drain(workdir: Path, broker: MosquittoBroker, n: int) -> None:
    # the backlog: n records committed in one transaction (the point is the drain, not the fill)
    cfg = parse_config(_agent_cfg(workdir, broker.port, window=20))
    j = Journal(cfg.storage.path, KEY, terminal_id="T-BENCH", site="B", boot_id="fill", min_free_mb=0)
    payloads = []
    with j.batch():
        for i in range(n):
            j.submit_txn({**TXN, "txn_id": f"d{i}"}, offline=True)
    for r in j.records(limit=n):
        payloads.append(json.dumps(record_document(r, j.sealer), separators=(",", ":")).encode())
    j.close()
    (workdir / "key").write_bytes(KEY)
    os.chmod(workdir / "key", 0o600)

    # baseline: raw paho, QoS 1, the same payloads, the same in-flight window
    done = threading.Event()
    acked = [0]

    def on_publish(c, u, mid, rc, p):  # type: ignore[no-untyped-def]
        acked[0] += 1
        if acked[0] == n:
            done.set()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="raw-bench", protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(20)
    c.on_publish = on_publish
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    t0 = time.perf_counter()
    for p in payloads:
        c.publish("kiosk/v1/B/RAW/up/txn", p, qos=1)
    done.wait(600)
    raw_s = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()

    from agent.runtime import logs as logsetup
    logsetup.configure(level="warning", fmt="json")
    agent = Agent(parse_config({**_agent_cfg(workdir, broker.port, window=20),
                                "storage": {"path": cfg.storage.path, "key_file": str(workdir / "key")}}))
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    t0 = time.perf_counter()
    agent.start()
    peak = [rss0]

    def sample() -> bool:
        peak[0] = max(peak[0], proc.memory_info().rss)
        return agent.journal.stats()["pending"] == 0
    wait_until(sample, 900, interval_s=0.5)
    ours_s = time.perf_counter() - t0
    agent.stop()
    line(f"drain {n} records to Mosquitto (records/s)", n / ours_s, n / raw_s, "rec/s")
    print(f"{'  RSS growth while draining':<44} {(peak[0] - rss0) / 1e6:.1f} MB")


def bench_reconnect(workdir: Path, broker: MosquittoBroker, rounds: int) -> None:
    proxy = TcpProxy(broker.host, broker.port)
    try:
        cfg = base_config(workdir, proxy.port, "T-RC", reconnect_min=0.5, reconnect_max=15)
        agent = AgentProcess(write_config(workdir / "agent.toml", cfg), workdir).start()
        got = threading.Event()

        def on_message(c, u, m):  # type: ignore[no-untyped-def]
            if b'"online"' in m.payload:
                got.set()
        sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        sub.on_message = on_message
        sub.connect(broker.host, broker.port)
        sub.subscribe("kiosk/v1/TEST-SITE/T-RC/up/status", qos=1)
        sub.loop_start()
        for outage_s in (1.0, 5.0, 20.0):
            times = []
            for _ in range(rounds):
                proxy.refuse(cut=True)
                time.sleep(outage_s)  # the outage itself is what is being simulated here
                got.clear()
                t0 = time.perf_counter()
                proxy.restore()
                got.wait(60)
                times.append(time.perf_counter() - t0)
            print(f"{'broker reachable -> first publish':<44} after a {outage_s:>4.0f} s outage: median "
                  f"{statistics.median(times):.2f} s, max {max(times):.2f} s (target median <= 1 s)")
        sub.disconnect()
        sub.loop_stop()
        agent.terminate()
    finally:
        proxy.close()


def bench_idle_rss(workdir: Path, broker: MosquittoBroker) -> None:
    cfg = base_config(workdir, broker.port, "T-IDLE")
    agent = AgentProcess(write_config(workdir / "agent.toml", cfg), workdir).start()
    p = psutil.Process(agent.proc.pid)  # type: ignore[union-attr]
    cpu0 = p.cpu_times()
    time.sleep(10)  # idle is what is measured
    cpu1 = p.cpu_times()
    rss = p.memory_info().rss / 1e6
    cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / 10 * 100
    baseline = subprocess.run([sys.executable, "-c", "import psutil; print(psutil.Process().memory_info().rss)"],
                              capture_output=True, text=True).stdout
    print(f"{'idle daemon RSS (no devices)':<44} {rss:.1f} MB  (bare python3: {int(baseline) / 1e6:.1f} MB; "
          f"target <= 45 MB), CPU {cpu:.2f}% of a core")
    agent.terminate()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--enqueue", type=int, default=2000)
    ap.add_argument("--submits", type=int, default=2000)
    ap.add_argument("--reconnect-rounds", type=int, default=5)
    ap.add_argument("--only", choices=["enqueue", "api", "drain", "reconnect", "rss", "group", "drain-latency"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR", "/var/tmp")) as d:
        root = Path(d)
        broker = MosquittoBroker(root / "broker", log_type=("error",)).start()
        try:
            steps = {
                "enqueue": lambda: bench_enqueue(_mk(root, "enq"), args.enqueue),
                "api": lambda: bench_api(_mk(root, "api"), broker.port, args.submits),
                "drain": lambda: bench_drain(_mk(root, "drain"), broker, args.records),
                "reconnect": lambda: bench_reconnect(_mk(root, "rc"), broker, args.reconnect_rounds),
                "rss": lambda: bench_idle_rss(_mk(root, "rss"), broker),
                "group": lambda: group.bench_group_commit(_mk(root, "group"), group.build_shim(root),
                                                          [0.2, 2.0, 8.0], group.REPO, 600),
                "drain-latency": lambda: group.bench_drain_latency(_mk(root, "dl"), None, 0.0, group.REPO,
                                                                   args.records),
            }
            for name, fn in steps.items():
                if args.only in (None, name):
                    fn()
        finally:
            broker.stop()


def _mk(root: Path, name: str) -> Path:
    p = root / name
    p.mkdir()
    return p


if __name__ == "__main__":
    main()
