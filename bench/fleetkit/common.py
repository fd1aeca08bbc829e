"""What the fleet benchmark's phases share (bench/fleet.py): the broker with unlimited queues, the
contract-valid records, the consumers (a bare counting subscriber, ``kiosk-fleet ingest`` processes),
the lag sampler, the simulator process and the store checks."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from fleet.sim import payloads
from fleet.sim.mqttlite import LiteClient
from fleet.sim.terminal import iso
from fleet.store import open_store
from tests.fleet.conftest import FleetProcess, write_fleet_config
from tests.support.broker import MosquittoBroker
from tests.support.waiting import wait_until

PREFIX = "kiosk/v1"
CHILDREN: list[Any] = []  # every process started, ended by main() whatever happens
SHARED = [f"{PREFIX}/+/+/up/{leaf}" for leaf in ("txn", "events", "selftest")]


class BenchBroker(MosquittoBroker):
    """The test broker, with no cap on what it queues for an offline persistent session."""

    def _config_text(self) -> str:
        return super()._config_text() + "max_queued_messages 0\nmax_inflight_messages 0\n"


def emit(phase: str, **fig: Any) -> dict[str, Any]:
    row = {"phase": phase, **fig}
    print(json.dumps(row), flush=True)
    return row


def rss_kb(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1])
    return out


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(p / 100 * len(s)))], 3)


# -- the records --------------------------------------------------------------------------------
def make_records(total: int, terminals: int, seed: int = 1) -> list[tuple[str, bytes]]:
    """``total`` contract-valid journal records spread over ``terminals``, seq 1.. per terminal."""
    rng = random.Random(seed)
    out = []
    seqs = [0] * terminals
    for i in range(total):
        t = i % terminals
        seqs[t] += 1
        tid, site = f"bench-{t:05d}", f"B{t % 50:02d}"
        base = payloads.envelope(tid, site, f"{t:016x}", iso(time.time()), seqs[t])
        if rng.random() < 0.5:
            doc, leaf = payloads.txn(base, f"tx-{t:05d}-{seqs[t]:08d}", rng, offline=False), "txn"
        else:
            doc, leaf = payloads.event(base, f"evt-{rng.getrandbits(128):032x}",
                                       *payloads.business_event(rng)), "events"
        out.append((f"{PREFIX}/{site}/{tid}/up/{leaf}", json.dumps(doc, separators=(",", ":")).encode()))
    return out


async def _publish_all(port: int, records: list[tuple[str, bytes]], conns: int = 4) -> None:
    async def one(k: int) -> None:
        c = LiteClient(f"bench-pub-{k}", max_inflight=500)
        await c.connect("127.0.0.1", port)
        await asyncio.gather(*(c.publish(t, p, 1) for t, p in records[k::conns]))
        await c.disconnect()
    await asyncio.gather(*(one(k) for k in range(conns)))


def publish_all(port: int, records: list[tuple[str, bytes]]) -> float:
    t0 = time.monotonic()
    asyncio.run(_publish_all(port, records))
    return time.monotonic() - t0


# -- consumers ----------------------------------------------------------------------------------
class RawCounter:
    """The baseline: a bare paho MQTT 5 subscriber on a shared subscription that only counts."""

    def __init__(self, port: int, group: str) -> None:
        self.n, self.first, self.last = 0, 0.0, 0.0
        self.done = threading.Event()
        self.want = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{group}", protocol=mqtt.MQTTv5)
        self.port, self.group = port, group
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe([(f"$share/{group}/{t}", 1) for t in SHARED])

    def _on_message(self, *_a: Any) -> None:
        now = time.monotonic()
        self.first = self.first or now
        self.last = now
        self.n += 1
        if self.n >= self.want:
            self.done.set()

    def connect(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", self.port, clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def ingest_procs(work: Path, port: int, url: str, group: str, n: int, **ingest: Any) -> list[FleetProcess]:
    out = []
    for k in range(n):
        name = f"{group}-{k}"
        cfg = write_fleet_config(work / f"{name}.toml", port, url,
                                 mqtt={"group": group, "client_id": name}, ingest=ingest,
                                 log={"level": "info", "format": "json"})
        out.append(FleetProcess(cfg, work, name))
    CHILDREN.extend(out)
    return out


def stored(url: str) -> int:
    store = open_store(url)
    try:
        return sum(int(store.query(f"SELECT COUNT(*) AS n FROM {t}")[0]["n"]) for t in ("transactions", "events"))
    finally:
        store.close()


def drain_rate(procs: list[FleetProcess], url: str, want: int, timeout_s: float = 600) -> dict[str, Any]:
    """Start the consumers on their queued backlog; rate from the first to the last committed row."""
    for p in procs:
        p.start()
    first = last = 0.0
    n = n_first = 0
    peak: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    while n < want and time.monotonic() < deadline:
        time.sleep(0.1)
        n = stored(url)
        now = time.monotonic()
        if n and not first:
            first, n_first = now, n
        last = now
        for p in procs:
            assert p.proc is not None
            r = rss_kb(p.proc.pid)
            peak[p.name] = max(peak.get(p.name, 0), r["VmRSS"])
    for p in procs:
        p.stop()
    rate = (n - n_first) / (last - first) if last > first else None
    return {"stored": n, "want": want, "rate": round(rate) if rate else None,
            "rate_per_process": round(rate / len(procs)) if rate else None, "rss_kb": peak}


def forget_sessions(port: int, client_ids: list[str]) -> None:
    """End the benchmark groups' persistent sessions, so the broker stops queueing for them."""
    for cid in client_ids:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0
        c.connect("127.0.0.1", port, clean_start=True, properties=props)
        c.loop_start()
        wait_until(c.is_connected, 10)
        c.disconnect()
        c.loop_stop()


class LagSampler(threading.Thread):
    """Polls the store every 0.1 s for rows not seen yet; lag = the poll's wall clock - the record's ts."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[tuple[float, float, float]] = []  # (seen wall time, record ts, lag)
        self.halt = threading.Event()
        self.seen: set[tuple[str, int]] = set()

    def run(self) -> None:
        from fleet import timeutil
        store = open_store(self.url)
        horizon = "0"
        try:
            while not self.halt.wait(0.1):
                rows = store.query("SELECT terminal_id, seq, ts, received FROM transactions WHERE received >= ? "
                                   "UNION ALL SELECT terminal_id, seq, ts, received FROM events WHERE received >= ?",
                                   (horizon, horizon))
                now = time.time()
                newest = horizon
                for r in rows:
                    key = (r["terminal_id"], int(r["seq"]))
                    if key in self.seen:
                        continue
                    self.seen.add(key)
                    ts = timeutil.parse(r["ts"]).timestamp()
                    self.samples.append((now, ts, now - ts))
                    newest = max(newest, str(r["received"]))
                if newest != horizon:  # a batch committed late may hold rows received a little earlier
                    horizon = iso(timeutil.parse(newest).timestamp() - 5)
        finally:
            store.close()

    def lags(self, since: float, until: float) -> list[float]:
        return [lag for seen, _ts, lag in self.samples if since <= seen < until]


def simulate_proc(port: int, n: int, summary: Path, *extra: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "fleet", "simulate", "--port", str(port), "--terminals", str(n),
           "--summary", str(summary), "--log-level", "warning", *extra]
    with open(summary.with_suffix(".log"), "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    CHILDREN.append(proc)
    return proc


def check_store(url: str, sent: dict[str, Any]) -> dict[str, Any]:
    store = open_store(url)
    try:
        n = {t: int(store.query(f"SELECT COUNT(*) AS n FROM {t}")[0]["n"]) for t in ("transactions", "events")}
        gaps = store.gaps()
        counters = store.counters()
    finally:
        store.close()
    return {"sent_txn": sent["records"].get("txn", 0), "stored_txn": n["transactions"],
            "sent_events": sent["records"].get("events", 0), "stored_events": n["events"],
            "lost_txn": sent["records"].get("txn", 0) - n["transactions"],
            "lost_events": sent["records"].get("events", 0) - n["events"], "gaps": len(gaps),
            "duplicates_absorbed": sum(v for k, v in counters.items() if k.startswith("duplicates")),
            "resent_by_terminals": sent["resent"], "unsettled_at_end": sent["unsettled"]}


def settle(url: str, want: int, quiet_s: float = 15.0, limit_s: float = 300.0) -> None:
    """Wait until the store holds ``want`` rows, or has not grown for ``quiet_s`` (then the
    difference is reported as lost, not hidden)."""
    last, since, deadline = -1, time.monotonic(), time.monotonic() + limit_s
    while time.monotonic() < deadline:
        n = stored(url)
        if n >= want:
            return
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            return
        time.sleep(0.5)


