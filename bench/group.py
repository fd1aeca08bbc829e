"""Group commit and API latency on a modelled terminal disk (issue 14, items 1 and 2).

    .venv/bin/python -m bench.group [--delays-ms 0.2,2,8] [--agent-repo PATH] [--drain 100000]

The terminal's flash is modelled by ``bench/fsync_delay.c``: an LD_PRELOAD shim, compiled here
with the system C compiler, that adds a fixed latency after every fsync/fdatasync. It is
preloaded alike into the daemon (a real ``python -m agent run`` subprocess) and into the
raw-sqlite3 baseline (a subprocess doing single-row commits with the journal's pragmas), so
every figure is ours against the baseline measured in the same run under the same disk model.
``--agent-repo`` runs the daemon from another checkout (e.g. the main branch: "before").
Nothing here is asserted; the figures go in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from agent.cli.client import ApiClient
from agent.journal.db import PRAGMAS
from simulators.kit import write_agent_config
from tests.support.agent_proc import base_config
from tests.support.broker import MosquittoBroker, free_port
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[1]
TXN = {"kind": "payment", "amount": 1234, "currency": "CNY", "method": "cash", "ref": "order-1"}


def build_shim(workdir: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("no C compiler (cc/gcc) to build bench/fsync_delay.c")
    out = workdir / "fsync_delay.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(out), str(REPO / "bench" / "fsync_delay.c"), "-ldl"],
                   check=True)
    return out


def disk_env(shim: Path | None, delay_us: int, count_file: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FSYNC_DELAY_US", "FSYNC_DELAY_COUNT")}
    if shim is not None:
        env.update(LD_PRELOAD=str(shim), FSYNC_DELAY_US=str(delay_us))
        if count_file is not None:
            env["FSYNC_DELAY_COUNT"] = str(count_file)
    return env


# -- the baseline: raw sqlite3 single-row commits, in a child process under the same shim ----------
def raw_child(path: str, n: int) -> None:
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    for p in PRAGMAS:
        raw.execute(f"PRAGMA {p}")
    raw.execute("CREATE TABLE q (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, payload TEXT)")
    payload = json.dumps(TXN)
    t0 = time.perf_counter()
    for i in range(n):
        raw.execute("BEGIN")
        raw.execute("INSERT INTO q (id, payload) VALUES (?, ?)", (f"t{i}", payload))
        raw.execute("COMMIT")
    print(n / (time.perf_counter() - t0))


def raw_rate(workdir: Path, env: dict[str, str], n: int) -> float:
    path = workdir / f"raw-{time.monotonic_ns()}.db"
    out = subprocess.run([sys.executable, "-m", "bench.group", "raw-child", str(path), str(n)], cwd=REPO, env=env,
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


# -- our daemon ---------------------------------------------------------------------------------------
class Daemon:
    def __init__(self, workdir: Path, mqtt_port: int, repo: Path, env: dict[str, str]) -> None:
        cfg = base_config(workdir, mqtt_port, "T-GC")
        cfg["log"] = {"format": "json", "level": "warning"}
        self.socket = cfg["api"]["socket"]
        self.db = Path(cfg["storage"]["path"])
        path = write_agent_config(workdir / "agent.toml", cfg)
        log = (workdir / "agent.log").open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "agent", "-c", str(path), "run"], cwd=repo, env=env,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        probe = ApiClient(self.socket, timeout_s=2.0)

        def up() -> bool:
            if self.proc.poll() is not None:
                raise SystemExit(f"daemon exited: {(workdir / 'agent.log').read_text()[-2000:]}")
            try:
                return probe.get("/v1/health")[0] == 200
            except Exception:
                return False
        wait_until(up, 30)
        probe.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


class RawClient:
    """A lean HTTP/1.1 client on one kept-alive unix socket (prebuilt request bytes), so that the
    load generator, which shares this machine's two cores with the daemon, costs little CPU."""

    def __init__(self, socket_path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        for _ in range(500):  # the listen backlog is 5: connect one by one, retrying EAGAIN
            try:
                self.sock.connect(socket_path)
                break
            except BlockingIOError:
                time.sleep(0.01)
        self.buf = b""

    def post(self, path: str, body: dict[str, Any]) -> int:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.sock.sendall(b"POST %s HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(data), data))
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._recv()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        while len(rest) < length:
            rest += self._recv()
        self.buf = rest[length:]
        return int(head.split(b" ", 2)[1])

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the daemon closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def submit_load(socket_path: str, clients: int, per_client: int, tag: str) -> tuple[float, list[float]]:
    """``clients`` threads, each with its own kept-alive connection, submit ``per_client`` each."""
    lat: list[float] = []
    errors: list[str] = []
    start = threading.Barrier(clients + 1)
    conns = [RawClient(socket_path) for _ in range(clients)]

    def client(c: int) -> None:
        mine = []
        start.wait()
        for i in range(per_client):
            t0 = time.perf_counter()
            code = conns[c].post("/v1/transactions", {**TXN, "txn_id": f"{tag}-{c}-{i}"})
            mine.append((time.perf_counter() - t0) * 1000)
            if code != 201:
                errors.append(str(code))
        conns[c].close()
        lat.extend(mine)
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"submits failed: {errors[:3]}")
    return clients * per_client / took, sorted(lat)


def pct(lat: list[float], q: float) -> float:
    return lat[min(len(lat) - 1, int(len(lat) * q))]


def bench_group_commit(root: Path, shim: Path, delays_ms: list[float], repo: Path, per_client: int,
                       client_counts: tuple[int, ...] = (1, 8)) -> None:
    for delay_ms in delays_ms:
        us = int(delay_ms * 1000)
        work = root / f"gc-{us}"
        work.mkdir()
        count = work / "fsyncs"
        env = disk_env(shim, us, count)
        n_raw = max(200, int(per_client * 2))
        raw = raw_rate(work, disk_env(shim, us), n_raw)
        daemon = Daemon(work, free_port(), repo, env)
        try:
            submit_load(daemon.socket, 1, 20, "warm")
            proc = psutil.Process(daemon.proc.pid)
            for clients in client_counts:
                before = count.stat().st_size if count.exists() else 0
                cpu0 = sum(proc.cpu_times()[:2])
                rate, lat = submit_load(daemon.socket, clients, per_client if clients == 1 else per_client // 2,
                                        f"c{clients}")
                submits = per_client if clients == 1 else clients * (per_client // 2)
                fsyncs = (count.stat().st_size - before) / submits
                cpu_ms = (sum(proc.cpu_times()[:2]) - cpu0) * 1000 / submits
                print(f"fsync +{delay_ms:>4} ms  {clients} client{'s' if clients > 1 else ' '} "
                      f"{rate:8.0f} submits/s  raw {raw:7.0f} commits/s  ratio {rate / raw:5.2f}x  "
                      f"p50 {pct(lat, .5):6.2f} ms  p99 {pct(lat, .99):6.2f} ms  fsyncs/submit {fsyncs:4.2f}  "
                      f"daemon CPU {cpu_ms:.2f} ms/submit",
                      flush=True)
        finally:
            daemon.stop()


def fill(db: Path, n: int) -> None:
    from agent.journal import Journal
    j = Journal(db, os.urandom(32), terminal_id="T-GC", site="TEST-SITE", boot_id="fill", min_free_mb=0)
    with j.batch():
        for i in range(n):
            j.append_event("note_stacked", {"value_fen": 100, "i": i}, device="bill")
    j.close()


def bench_drain_latency(root: Path, shim: Path | None, delay_ms: float, repo: Path, n: int) -> None:
    """Submit latency from one client, closed loop, while ``n`` queued records drain to Mosquitto."""
    work = root / f"drain-{int(delay_ms * 1000)}-{time.monotonic_ns()}"
    work.mkdir()
    broker = MosquittoBroker(work / "broker", log_type=("error",)).start()
    try:
        cfg_db = work / "journal.db"
        fill(cfg_db, n)
        daemon = Daemon(work, broker.port, repo, disk_env(shim, int(delay_ms * 1000)))
        reader = sqlite3.connect(f"file:{cfg_db}?mode=ro", uri=True)
        lat: list[float] = []
        t0 = time.perf_counter()
        drained = [0.0]
        # the machine's own stalls, same run: how late a 1 ms sleep wakes up in this process
        late: list[float] = []
        stop = threading.Event()

        def oversleep() -> None:
            while not stop.is_set():
                s = time.perf_counter()
                time.sleep(0.001)
                late.append((time.perf_counter() - s - 0.001) * 1000)
        ticker = threading.Thread(target=oversleep, daemon=True)
        ticker.start()

        def pending() -> int:
            # the backlog is events; the submits meanwhile are transactions, always a few in flight
            row = reader.execute("SELECT COALESCE(SUM(n), 0) FROM outbox_counts "
                                 "WHERE kind = 'event' AND state IN ('queued', 'sent')").fetchone()
            return int(row[0])
        try:
            api = RawClient(daemon.socket)
            if True:
                i, last_check = 0, 0.0
                while True:
                    s = time.perf_counter()
                    code = api.post("/v1/transactions", {**TXN, "txn_id": f"dr-{i}"})
                    lat.append((time.perf_counter() - s) * 1000)
                    if code != 201:
                        raise SystemExit(f"submit failed during the drain: {code}")
                    i += 1
                    if s - last_check > 0.5:
                        last_check = s
                        if pending() == 0:
                            drained[0] = s - t0
                            break
                    if s - t0 > 900:
                        break
        finally:
            stop.set()
            reader.close()
            daemon.stop()
        lat.sort()
        late.sort()
        print(f"drain {n} records, fsync +{delay_ms} ms: {n / drained[0] if drained[0] else 0:7.0f} rec/s; "
              f"{len(lat)} submits meanwhile: p50 {pct(lat, .5):.2f} ms, p99 {pct(lat, .99):.2f} ms, "
              f"max {lat[-1]:.1f} ms (target p99 <= 5 ms, max <= 50 ms); machine baseline, a 1 ms sleep "
              f"woke late by p99 {pct(late, .99):.2f} ms, max {late[-1]:.1f} ms", flush=True)
    finally:
        broker.stop()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "raw-child":
        raw_child(sys.argv[2], int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--delays-ms", default="0.2,2,8")
    ap.add_argument("--per-client", type=int, default=800)
    ap.add_argument("--clients", default="1,8", help="concurrent API clients, one run each")
    ap.add_argument("--agent-repo", type=Path, default=REPO, help="run the daemon from this checkout")
    ap.add_argument("--drain", type=int, default=100_000, help="records queued for the latency-during-drain run")
    ap.add_argument("--drain-delay-ms", type=float, default=0.0)
    ap.add_argument("--only", choices=["group", "drain"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR", "/var/tmp")) as d:
        root = Path(d)
        shim = build_shim(root)
        print(f"daemon from {args.agent_repo}", flush=True)
        if args.only in (None, "group"):
            bench_group_commit(root, shim, [float(x) for x in args.delays_ms.split(",")], args.agent_repo,
                               args.per_client, tuple(int(c) for c in args.clients.split(",")))
        if args.only in (None, "drain"):
            bench_drain_latency(root, shim if args.drain_delay_ms else None, args.drain_delay_ms,
                                args.agent_repo, args.drain)


if __name__ == "__main__":
    main()
