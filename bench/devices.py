"""Device figures: poll round-trip per device over a real pty, and the daemon's CPU share with
every simulated device polled once a second.

    .venv/bin/python -m bench.devices [--polls 200] [--seconds 60]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from agent.runtime import logs as logsetup
from drivers import build_driver
from drivers.base.device import DeviceSpec, DriverContext
from simulators.broker import LocalBroker
from tests.support.agent_proc import AgentProcess, base_config, write_config
from tests.support.sims import SimBench


def bench_roundtrip(root: Path, polls: int) -> None:
    sims = SimBench(root / "rt")
    try:
        for name, section in sims.devices_section().items():
            spec = DeviceSpec(name=name, device_class=section["class"], driver=section["driver"],
                              port=section["port"], baudrate=section.get("baudrate"), timeout_s=1.0)
            drv = build_driver(spec, DriverContext())
            drv.open()
            drv.poll()  # warm-up: the first poll may initialise the device
            lat = []
            for _ in range(polls):
                t0 = time.perf_counter()
                drv.poll()
                lat.append((time.perf_counter() - t0) * 1000)
            drv.close()
            lat.sort()
            print(f"poll round-trip {name:<14} ({section['class']:<16}) p50 {statistics.median(lat):6.2f} ms  "
                  f"p99 {lat[int(len(lat) * 0.99) - 1]:6.2f} ms  over {polls} polls on a pty")
    finally:
        sims.stop()


def bench_cpu(root: Path, seconds: float) -> None:
    sims = SimBench(root / "cpu")
    broker = LocalBroker(root / "broker").start()
    try:
        work = root / "agent"
        work.mkdir()
        cfg = base_config(work, broker.port, "T-CPU")
        cfg["devices"] = sims.devices_section(poll_interval=1.0, timeout=1.0)
        cfg["log"] = {"level": "warning", "format": "json"}
        agent = AgentProcess(write_config(work / "agent.toml", cfg), work).start()
        api = agent.client()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(d["state"] == "online" for d in api.get("/v1/health")[1]["devices"].values()):
                break
            time.sleep(0.2)  # waiting for the devices to come up before measuring
        p = psutil.Process(agent.proc.pid)  # type: ignore[union-attr]
        polls0 = {n: peer.requests for n, peer in sims.peers.items()}
        c0, t0 = p.cpu_times(), time.monotonic()
        time.sleep(seconds)  # the measurement window itself
        c1, t1 = p.cpu_times(), time.monotonic()
        polls = {n: peer.requests - polls0[n] for n, peer in sims.peers.items()}
        share = (c1.user + c1.system - c0.user - c0.system) / (t1 - t0) * 100
        rss = p.memory_info().rss / 1e6
        print(f"daemon CPU with {len(sims.peers)} devices polled every 1 s: {share:.2f}% of one core "
              f"(target < 2%), RSS {rss:.1f} MB; requests seen per device in {seconds:.0f} s: {polls}")
        agent.terminate()
    finally:
        broker.stop()
        sims.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--polls", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    logsetup.configure(level="warning", fmt="json")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        bench_roundtrip(Path(d), args.polls)
        bench_cpu(Path(d), args.seconds)


if __name__ == "__main__":
    main()
