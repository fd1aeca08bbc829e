"""Fleet benchmark (issue 13, Targets), run by hand, never in CI::

    .venv/bin/python -m bench.fleet [--messages 100000] [--terminals 1000,10000] [--outage 60] [--only rate,...]

Everything runs on loopback: a private Mosquitto (tests/support/broker.py, with unlimited queues
for offline sessions), a private PostgreSQL cluster (tests/support/pg.py, initdb + pg_ctl as an
unprivileged user), real ``kiosk-fleet ingest`` processes (tests/fleet/conftest.py FleetProcess)
and ``kiosk-fleet simulate``. Phases:

* ``rate``: the same M journal records (txn + events, contract-valid, from fleet/sim/payloads.py)
  are published once while every consumer group is offline with a persistent session, so the
  broker queues one copy per group; then each group is drained alone: a bare paho subscriber that
  only counts (the baseline), one ingest into SQLite, one into PostgreSQL, two ingests sharing one
  subscription into each. Rate = records / (last commit - first commit), polled every 0.1 s.
* ``fleet``: N simulated terminals (for each N in --terminals) live against one ingest: nothing
  lost (store == what the simulator says it wrote, no seq gap), duplicates absorbed, end-to-end lag
  (terminal ``ts`` -> row visible in the store, sampled every 0.1 s) p50/p99 at steady state, and,
  with --outage S, a broker stop of S seconds: time until the backlog is in and lag is back < 1 s.
  Then ``kiosk-fleet report`` for that month is timed on the store the run filled.
* ``kill``: fleet-ack mode, kill -9 of the ingest mid-stream, restart: 0 transactions lost.

Figures go to stdout as JSON lines and a summary at the end (bench/README.md, "fleet").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.fleetkit.common import (
    CHILDREN,
    BenchBroker,
    LagSampler,
    RawCounter,
    check_store,
    drain_rate,
    emit,
    forget_sessions,
    ingest_procs,
    make_records,
    pct,
    publish_all,
    rss_kb,
    settle,
    simulate_proc,
    stored,
)
from bench.fleetkit.probe import probe_clients
from fleet.store import open_store
from tests.fleet.conftest import FleetProcess, write_fleet_config
from tests.support.broker import MosquittoBroker
from tests.support.pg import PostgresCluster, pg_bindir
from tests.support.waiting import wait_until


def phase_rate(work: Path, broker: MosquittoBroker, pg: PostgresCluster | None, messages: int) -> list[dict]:
    port = broker.port
    raw = RawCounter(port, "raw")
    groups: dict[str, tuple[str, int]] = {"sqlite1": (f"sqlite:///{work}/rate1.db", 1),
                                         "sqlite2": (f"sqlite:///{work}/rate2.db", 2)}
    if pg is not None:
        groups["pg1"] = (pg.create_database("rate1"), 1)
        groups["pg2"] = (pg.create_database("rate2"), 2)
    procs = {g: ingest_procs(work, port, url, g, n, batch_max=1000) for g, (url, n) in groups.items()}
    # every group's persistent session exists (subscribed) before the records are published
    raw.connect()
    wait_until(lambda: raw.client.is_connected(), 10)
    time.sleep(0.5)
    raw.stop()
    for ps in procs.values():
        for p in ps:
            p.start()
            p.stop()
    records = make_records(messages, 200)
    took = publish_all(port, records)
    out = [emit("rate", consumer="publish", records=messages, rate=round(messages / took))]
    raw.want = messages
    raw.connect()
    raw.done.wait(600)
    raw.stop()
    base = (raw.n - 1) / (raw.last - raw.first) if raw.last > raw.first else None
    out.append(emit("rate", consumer="raw paho counter", processes=1, stored=raw.n, rate=round(base or 0)))
    one: dict[str, float] = {}
    for g, (url, n) in groups.items():
        r = drain_rate(procs[g], url, messages)
        backend = "sqlite" if g.startswith("sqlite") else "postgres"
        if n == 1 and r["rate"]:
            one[backend] = r["rate"]
        extra = {"vs_raw": round(r["rate"] / base, 3)} if r["rate"] and base else {}
        if n == 2 and r["rate"] and one.get(backend):
            extra["vs_one_process"] = round(r["rate"] / one[backend], 3)
        out.append(emit("rate", consumer=f"ingest -> {backend}", processes=n, **r, **extra))
    forget_sessions(port, ["raw-raw"] + [p.name for ps in procs.values() for p in ps])
    return out

def phase_fleet(work: Path, broker: MosquittoBroker, n: int, url: str, steady_s: float, outage_s: float,
                rate: float, health_interval: float, fault_rate: float, recovery_s: float = 240) -> list[dict]:
    out = []
    ing = ingest_procs(work, broker.port, url, f"fleet{n}", 1, ack=True, batch_max=1000)[0].start()
    sampler = LagSampler(url)
    sampler.start()
    summary = work / f"sim{n}.json"
    sim = simulate_proc(broker.port, n, summary, "--ack", "--ack-timeout", "60", "--fault-rate", str(fault_rate),
                        "--rate", str(rate), "--health-interval", str(health_interval),
                        "--reconnect-max", "20", "--drain-timeout", "120", "--ramp", str(max(2.0, n / 1000)))
    t0 = time.time()
    ramp_end = t0 + max(2.0, n / 1000) + 10
    time.sleep(max(0.0, ramp_end - time.time()))
    # the connect storm (a retained status and health per terminal) is absorbed first: steady state
    # starts once 10 s of committed rows were all under 1 s of lag (or after 300 s, said as such)
    caught_up = None
    while time.time() < ramp_end + 300:
        time.sleep(1)
        now = time.time()
        recent = sampler.lags(now - 10, now)
        if recent and max(recent) < 1 and now - t0 > 20:
            caught_up = now
            break
    start = time.time()
    time.sleep(steady_s)
    steady = sampler.lags(start, time.time())
    assert ing.proc is not None
    row: dict[str, Any] = {"terminals": n, "rate_per_terminal": rate, "health_interval": health_interval,
                           "fault_rate_per_h": fault_rate, "steady_s": steady_s, "samples": len(steady),
                           "caught_up_after_start_s": round(caught_up - t0, 1) if caught_up else None,
                           "lag_p50_s": pct(steady, 50), "lag_p99_s": pct(steady, 99),
                           "ingest_rss_kb_steady": rss_kb(ing.proc.pid)["VmRSS"]}
    out.append(emit("fleet-steady", **row))
    if outage_s:
        broker.stop()
        down_at = time.time()
        time.sleep(outage_s)
        broker.start(timeout_s=30)
        up_at = time.time()
        # backlog in: no row with ts inside the outage has arrived for 5 s; lag back: 10 s of rows all < 1 s
        backlog_in = lag_ok = None
        deadline = up_at + recovery_s
        while time.time() < deadline and (backlog_in is None or lag_ok is None):
            time.sleep(1)
            now = time.time()
            old = [seen for seen, ts, _l in sampler.samples if ts < up_at and seen > up_at]
            if backlog_in is None and old and now - max(old) > 5:
                backlog_in = max(old) - up_at
            recent = [(seen, lag) for seen, _ts, lag in sampler.samples if seen > now - 10]
            if lag_ok is None and backlog_in is not None and recent and all(lag < 1 for _s, lag in recent):
                first_ok = min(s for s, _l in recent)
                lag_ok = first_ok - up_at
        row.update(outage_s=round(up_at - down_at, 1), backlog_rows=len([1 for s, ts, _l in sampler.samples
                                                                       if down_at <= ts < up_at]),
                   backlog_ingested_after_s=round(backlog_in, 1) if backlog_in is not None else None,
                   lag_under_1s_after_s=round(lag_ok, 1) if lag_ok is not None else None)
    row["ingest_rss_kb_peak"] = rss_kb(ing.proc.pid)["VmHWM"]
    sim.send_signal(signal.SIGTERM)
    sim.wait(300)
    sent = json.loads(summary.read_text())
    row["simulator_rss_kb"] = sent["max_rss_kb"]
    settle(url, sent["records_total"])
    sampler.halt.set()
    ing.stop()
    row.update(check_store(url, sent))
    out.append(emit("fleet", **row))
    month = time.strftime("%Y-%m", time.gmtime())
    t = time.monotonic()
    cfg = write_fleet_config(work / "report.toml", broker.port, url)
    r = subprocess.run([sys.executable, "-m", "fleet", "-c", str(cfg), "report", "--month", month, "--json"],
                       capture_output=True, text=True, timeout=600)
    took = time.monotonic() - t
    doc = json.loads(r.stdout) if r.returncode == 0 else {}
    out.append(emit("report", terminals=len(doc.get("terminals", [])), month=month, seconds=round(took, 2),
                    rc=r.returncode, error=r.stderr[-300:] if r.returncode else None))
    return out


def phase_kill(work: Path, broker: MosquittoBroker, n: int, url: str) -> list[dict]:
    ing = ingest_procs(work, broker.port, url, "kill", 1, ack=True, batch_max=1000)[0].start()
    summary = work / "simkill.json"
    sim = simulate_proc(broker.port, n, summary, "--rate", "0.2", "--ack", "--ack-timeout", "10",
                        "--drain-timeout", "120", "--ramp", "2")
    wait_until(lambda: stored(url) > n, 120, interval_s=0.2)
    before = stored(url)
    ing.kill()
    time.sleep(3)
    ing.start()
    time.sleep(5)
    sim.send_signal(signal.SIGTERM)
    sim.wait(300)
    sent = json.loads(summary.read_text())
    settle(url, sent["records_total"])
    ing.stop()
    return [emit("kill", terminals=n, stored_before_kill=before, acked_txns=sent["acked_txns"],
                 **check_store(url, sent))]


def phase_clients(broker: MosquittoBroker, n: int, messages: int) -> list[dict]:
    out = []
    for kind in ("lite", "paho"):
        r = subprocess.run([sys.executable, "-m", "bench.fleet", "--probe", kind, "--probe-n", str(n),
                            "--probe-port", str(broker.port), "--messages", str(messages)],
                           capture_output=True, text=True, timeout=600)
        out.append(emit("clients", **(json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr[-500:]})))
    return out


def phase_agents(work: Path, broker: MosquittoBroker, n: int, outage_s: float, txns: int) -> list[dict]:
    """``n`` real kiosk-agent processes (fleet-ack, a simulated printer each) lose the broker together
    for ``outage_s`` while their kiosk apps keep recording transactions; then they come back."""
    from fleet import ops
    from simulators.kit import SimulatorKit
    from tests.support.agent_proc import AgentProcess, base_config, write_config

    url = f"sqlite:///{work}/agents.db"
    ing = ingest_procs(work, broker.port, url, "agents", 1, ack=True, batch_ms=20.0, health_interval=5.0,
                       check_interval=1.0)[0].start()
    kits, agents = [], []
    store = open_store(url)

    def online() -> int:
        return sum(1 for t in ops.terminals(store) if t["terminal_id"].startswith("T-AG-") and t["online"])

    def post(k: int, count: int) -> list[str]:
        api = agents[k].client()
        out = []
        for _ in range(count):
            status, body = api.post("/v1/transactions", {"kind": "payment", "amount": 500, "method": "cash"})
            assert status == 201, body
            out.append(body["txn_id"])
        return out

    try:
        t0 = time.monotonic()
        for k in range(n):
            wd = work / f"agent{k:02d}"
            wd.mkdir()
            kit = SimulatorKit(wd / "sims", names=["printer"])
            kits.append(kit)
            cfg = base_config(wd, broker.port, f"T-AG-{k:04d}", settle="fleet-ack", health_interval=5,
                              reconnect_max=5.0)
            cfg["devices"] = kit.devices_section(1.0)
            agents.append(AgentProcess(write_config(wd / "agent.toml", cfg), wd).start(timeout_s=60))
        wait_until(lambda: online() == n, 120, interval_s=0.5, message=lambda: f"{online()} of {n} online")
        started_s = time.monotonic() - t0
        ids = [post(k, txns) for k in range(n)]
        broker.stop()
        down = time.monotonic()
        for k in range(n):
            ids[k] += post(k, txns)  # recorded offline, journalled by each agent
        wait_until(lambda: online() == 0, outage_s + 60, interval_s=0.5, message=lambda: f"{online()} online")
        seen_offline_s = time.monotonic() - down
        time.sleep(max(0.0, outage_s - (time.monotonic() - down)))
        broker.start(timeout_s=30)
        up = time.monotonic()
        want = {t for per in ids for t in per}
        wait_until(lambda: online() == n, 120, interval_s=0.2)
        back_s = time.monotonic() - up

        def settled() -> int:
            return sum(1 for k in range(n) for t in ids[k]
                       if agents[k].client().get(f"/v1/transactions/{t}")[1].get("state") == "settled")
        wait_until(lambda: len({r["txn_id"] for r in store.query("SELECT txn_id FROM transactions")} & want)
                   == len(want), 180, interval_s=0.5)
        ingested_s = time.monotonic() - up
        wait_until(lambda: settled() == len(want), 180, interval_s=1.0)
        settled_s = time.monotonic() - up
        rows = store.query("SELECT COUNT(*) AS n FROM transactions WHERE terminal_id LIKE 'T-AG-%'")
        return [emit("agents", agents=n, start_all_online_s=round(started_s, 1), outage_s=round(up - down, 1),
                     all_seen_offline_after_s=round(seen_offline_s, 1), all_online_again_after_s=round(back_s, 1),
                     txns=len(want), all_txns_ingested_after_s=round(ingested_s, 1),
                     all_settled_by_fleet_ack_after_s=round(settled_s, 1), stored_txns=int(rows[0]["n"]),
                     gaps=len([g for g in store.gaps() if g["terminal_id"].startswith("T-AG-")]),
                     counters=store.counters(), ingest_rss_kb=rss_kb(ing.proc.pid)["VmHWM"] if ing.proc else None)]
    finally:
        store.close()
        for a in agents:
            a.terminate()
        for kit in kits:
            kit.stop()
        ing.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--terminals", default="1000,10000")
    ap.add_argument("--rate", type=float, default=0.05, help="records/s per simulated terminal")
    ap.add_argument("--steady", type=float, default=60.0, help="seconds of steady state measured")
    ap.add_argument("--outage", type=float, default=60.0, help="broker outage seconds (largest N only; 0: none)")
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite", help="store of the fleet phase")
    ap.add_argument("--health-interval", type=float, default=60.0, help="of the simulated terminals, seconds")
    ap.add_argument("--agents", type=int, default=20, help="real kiosk-agent processes in the agents phase")
    ap.add_argument("--agents-outage", type=float, default=30.0, help="their broker outage, seconds")
    ap.add_argument("--kill-terminals", type=int, default=300, help="simulated terminals in the kill phase")
    ap.add_argument("--fault-rate", type=float, default=0.5, help="faults per simulated terminal per hour")
    ap.add_argument("--only", default="rate,fleet,kill,clients")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, stores)")
    ap.add_argument("--probe", choices=["lite", "paho"], help=argparse.SUPPRESS)
    ap.add_argument("--probe-n", type=int, default=1000, help=argparse.SUPPRESS)
    ap.add_argument("--probe-port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        print(json.dumps(probe_clients(args.probe, args.probe_n, args.probe_port, args.messages)))
        return 0
    phases = set(args.only.split(","))
    rows: list[dict] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # finally: end every child, broker and cluster
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    emit("workdir", path=str(work), kept=args.keep)
    pg = PostgresCluster(work / "pg").start() if pg_bindir() else None
    # persistence: a graceful broker stop keeps the queued messages, as a production broker does
    broker = BenchBroker(work / "broker", log_type=("error", "warning"), persistence=True).start()
    try:
        emit("machine", cpus=os.cpu_count(), load_1m=os.getloadavg()[0], pg=pg is not None)
        if "rate" in phases:
            rows += phase_rate(work, broker, pg, args.messages)
        sizes = [int(x) for x in args.terminals.split(",") if x]
        for i, n in enumerate(sizes if "fleet" in phases else []):
            url = (pg.create_database(f"fleet{n}") if args.backend == "postgres" and pg
                   else f"sqlite:///{work}/fleet{n}.db")
            outage = args.outage if i == len(sizes) - 1 else 0
            rows += phase_fleet(work, broker, n, url, args.steady, outage, args.rate, args.health_interval,
                                args.fault_rate)
        if "agents" in phases:
            rows += phase_agents(work, broker, args.agents, args.agents_outage, 5)
        if "clients" in phases:
            rows += phase_clients(broker, 1000, args.messages)
        if "kill" in phases:
            rows += phase_kill(work, broker, args.kill_terminals, f"sqlite:///{work}/kill.db")
    finally:
        for child in CHILDREN:
            if isinstance(child, FleetProcess):
                child.kill()
            elif child.poll() is None:
                child.kill()
                child.wait(10)
        broker.stop()
        if pg is not None:
            pg.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"summary": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
