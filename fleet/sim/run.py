"""Run N simulated terminals in one asyncio loop and say what they sent.

The summary (JSON on stdout, or ``--summary FILE``) counts the unique journal records written by
leaf, every PUBLISH, the re-sends (and how many of those the broker had already acknowledged: sure
duplicates the fleet must absorb) and what was still unsettled at the end, so a test or a benchmark
can compare the fleet's store with exactly what was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import structlog

from fleet.sim.terminal import SimOptions, Stats, Terminal

log = structlog.get_logger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = SimOptions()
    p.add_argument("--terminals", type=int, default=10, help="how many terminals (default 10)")
    p.add_argument("--host", help="broker host (default: [mqtt] host of the config)")
    p.add_argument("--port", type=int, help="broker port (default: [mqtt] port of the config)")
    p.add_argument("--rate", type=float, default=d.rate, help="journal records per second per terminal")
    p.add_argument("--txn-share", type=float, default=d.txn_share, help="share of records that are transactions")
    p.add_argument("--health-interval", type=float, default=d.health_interval, help="seconds")
    p.add_argument("--fault-rate", type=float, default=d.fault_rate, help="faults per terminal per hour")
    p.add_argument("--fault-duration", type=float, default=d.fault_duration, help="mean seconds until cleared")
    p.add_argument("--ack", action="store_true", help="honour down/txn-ack (settle = fleet-ack)")
    p.add_argument("--ack-timeout", type=float, default=d.ack_timeout, help="re-send an unacked txn after (s)")
    p.add_argument("--flap", type=float, default=d.flap, help="link drop probability per terminal per second")
    p.add_argument("--duration", type=float, default=0.0, help="seconds to run (0: until SIGINT/SIGTERM)")
    p.add_argument("--ramp", type=float, default=None, help="seconds over which terminals start (default N/500)")
    p.add_argument("--drain-timeout", type=float, default=30.0, help="seconds to settle the journals at the end")
    p.add_argument("--window", type=int, default=d.window, help="QoS 1 publishes in flight per terminal")
    p.add_argument("--reconnect-max", type=float, default=d.reconnect_max, help="backoff ceiling, seconds")
    p.add_argument("--sites", type=int, default=d.sites, help="terminals are spread over this many sites")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--summary", metavar="FILE", help="write the JSON summary here (default: stdout)")


def options(args: argparse.Namespace, host: str, port: int, prefix: str) -> SimOptions:
    if args.terminals < 1 or args.terminals > 100_000:
        raise ValueError(f"--terminals: expected 1..100000, got {args.terminals}")
    for name in ("rate", "health_interval", "fault_rate", "fault_duration", "duration", "ack_timeout"):
        if getattr(args, name) < 0 or (name in ("health_interval", "fault_duration", "ack_timeout")
                                       and getattr(args, name) == 0):
            raise ValueError(f"--{name.replace('_', '-')}: must be positive, got {getattr(args, name)}")
    if not 0 <= args.txn_share <= 1 or not 0 <= args.flap <= 1:
        raise ValueError("--txn-share and --flap are probabilities (0..1)")
    return SimOptions(host=args.host or host, port=args.port or port, prefix=prefix, rate=args.rate,
                      txn_share=args.txn_share, health_interval=args.health_interval, fault_rate=args.fault_rate,
                      fault_duration=args.fault_duration, ack=args.ack, ack_timeout=args.ack_timeout,
                      flap=args.flap, window=args.window, reconnect_max=args.reconnect_max, sites=args.sites,
                      seed=args.seed)


def summary(terminals: list[Terminal], stats: Stats, started: float) -> dict[str, Any]:
    s = asdict(stats)
    return {
        "terminals": len(terminals),
        "elapsed_s": round(time.monotonic() - started, 3),
        "records": dict(stats.records), "records_total": sum(stats.records.values()),
        "published": dict(stats.published),
        **{k: v for k, v in s.items() if k not in ("records", "published")},
        "unsettled": sum(len(t.journal) for t in terminals),
        "last_seq": {t.id: t.seq for t in terminals},
        "boot_id": {t.id: t.boot_id for t in terminals},
        "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


async def simulate(opts: SimOptions, count: int, duration: float, ramp: float | None = None,
                   drain_timeout: float = 30.0, stop: asyncio.Event | None = None) -> dict[str, Any]:
    stop = stop or asyncio.Event()
    stats = Stats()
    terminals = [Terminal(i, opts, stats) for i in range(count)]
    ramp = count / 500 if ramp is None else ramp
    started = time.monotonic()
    tasks = []
    for i, t in enumerate(terminals):
        t.drain_timeout = drain_timeout
        tasks.append(asyncio.create_task(t.run(stop)))
        if ramp and i % 50 == 49:
            await asyncio.sleep(ramp * 50 / count)
    log.info("simulate_started", terminals=count, broker=f"{opts.host}:{opts.port}", rate=opts.rate)
    progress = asyncio.create_task(_progress(stats, terminals, stop))
    if duration:
        try:
            await asyncio.wait_for(stop.wait(), duration)
        except TimeoutError:
            stop.set()
    else:
        await stop.wait()
    await asyncio.gather(*tasks, return_exceptions=True)
    progress.cancel()
    out = summary(terminals, stats, started)
    log.info("simulate_stopped", records=out["records_total"], resent=out["resent"], unsettled=out["unsettled"])
    return out


async def _progress(stats: Stats, terminals: list[Terminal], stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.sleep(10)
        log.info("simulate_progress", records=sum(stats.records.values()), published=sum(stats.published.values()),
                 connected=sum(t.client is not None for t in terminals), resent=stats.resent,
                 unsettled=sum(len(t.journal) for t in terminals))


def main(args: argparse.Namespace, host: str, port: int, prefix: str) -> int:
    try:
        opts = options(args, host, port, prefix)
    except ValueError as exc:
        print(f"kiosk-fleet simulate: {exc}", file=sys.stderr)
        return 2

    async def go() -> dict[str, Any]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await simulate(opts, args.terminals, args.duration, args.ramp, args.drain_timeout, stop)

    out = asyncio.run(go())
    text = json.dumps(out, indent=1)
    if args.summary:
        Path(args.summary).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0
