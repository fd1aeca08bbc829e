"""The experiments, each run on one side at a time on the shared broker: idle, offline ingest +
drain, kill -9 during offline ingest, kill -9 during the drain, (ours) transactions via the API."""

from __future__ import annotations

import collections
import http.client
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.peerkit.feed import Feeder
from bench.peerkit.observe import Msg, Subscriber, sample
from bench.peerkit.ours import OurAgent
from bench.peerkit.procs import ProcessBook, until
from bench.peerkit.systems import System
from tests.support.broker import MosquittoBroker

Parse = Callable[[list[Msg]], list[tuple[float, int]]]


class BenchBroker(MosquittoBroker):
    """The repo's test broker plus the note's queue settings (no cap on queued QoS 1 messages
    for the probe's persistent session, so nothing is dropped while it catches up)."""

    def _config_text(self) -> str:
        return super()._config_text() + "max_queued_messages 0\nmax_inflight_messages 100\n"


@dataclass
class Bed:
    broker: BenchBroker
    sub: Subscriber
    book: ProcessBook
    work: Path
    drain_deadline_s: float = 300.0
    quiet_s: float = 10.0

    def broker_down(self) -> None:
        self.broker.stop()

    def broker_up(self) -> float:
        self.broker.start()
        assert self.broker.pid is not None
        self.book.note("mosquitto", self.broker.pid)
        return time.monotonic()


@dataclass
class Tally:
    """Incremental view of what the probe received since ``pos`` (parsed once)."""

    sub: Subscriber
    parse: Parse
    pos: int
    counts: collections.Counter[int] = field(default_factory=collections.Counter)
    times: dict[int, float] = field(default_factory=dict)  # first receipt per seq
    last_new: float = 0.0

    def update(self) -> Tally:
        msgs = self.sub.since(self.pos)
        self.pos += len(msgs)
        for t, seq in self.parse(msgs):
            self.counts[seq] += 1
            self.times.setdefault(seq, t)
            self.last_new = max(self.last_new, t)
        return self

    def distinct(self, universe: set[int]) -> int:
        return sum(1 for s in universe if s in self.counts)

    def dups(self, universe: set[int]) -> int:
        return sum(c - 1 for s, c in self.counts.items() if s in universe)


def await_delivery(bed: Bed, tally: Tally, want: set[int]) -> bool:
    """Until everything in ``want`` arrived, or nothing new for ``quiet_s`` after a first arrival
    (the peer merges same-millisecond readings, so it may never deliver all), or the deadline."""
    def done() -> bool:
        tally.update()
        if tally.distinct(want) >= len(want):
            return True
        return bool(tally.counts) and time.monotonic() - tally.last_new > bed.quiet_s
    return until(done, bed.drain_deadline_s, 0.05) and tally.distinct(want) >= len(want)


def fresh_online(bed: Bed, s: System) -> None:
    s.reset()
    mark = bed.sub.mark()
    s.start()
    if not s.wait_ready(bed.sub, mark, online=True, timeout_s=60):
        raise RuntimeError(f"{s.name} did not come online within 60 s")


def restart_offline(s: System, bed: Bed) -> None:
    s.start()
    if not s.wait_ready(bed.sub, bed.sub.mark(), online=False, timeout_s=60):
        raise RuntimeError(f"{s.name} did not open its port within 60 s after restart")
    if isinstance(s, OurAgent):
        until(s.api_up, 30)
    else:
        time.sleep(2.0)  # the peer's threads; it has no readiness signal while offline


def same_ms(stored: dict[int, object]) -> set[int]:
    """Seqs stored with a timestamp another stored seq shares (the peer merges those at send)."""
    by_ts = collections.Counter(v for v in stored.values() if v is not None)
    return {s for s, v in stored.items() if v is not None and by_ts[v] > 1}


def idle(bed: Bed, s: System, warmup_s: float, window_s: float) -> dict[str, Any]:
    fresh_online(bed, s)
    time.sleep(warmup_s)  # the warm-up is what is being waited for
    out = sample(s.pid, window_s)
    s.stop()
    return out


def _ingest_offline(bed: Bed, s: System, n: int, tag: str, rate: float = 0.0) -> tuple[Feeder, dict[str, Any]]:
    """Broker down, feed ``n`` lines (as fast as accepted, or at ``rate``/s), wait until stored."""
    bed.broker_down()
    feeder = Feeder(s.port, s.encode, 1, n, rate=rate)
    feeder.start()
    counts: list[tuple[float, int]] = []

    def stored_all() -> bool:
        c = s.durable()
        if not counts or c != counts[-1][1]:
            counts.append((time.monotonic(), c))
        stalled = not feeder.is_alive() and time.monotonic() - counts[-1][0] > 10
        return c >= n or stalled
    until(stored_all, n / 50 + 60, 0.05)
    feeder.join(30)
    t_last, c_last = counts[-1]
    return feeder, {f"{tag}_fed": feeder.fed, f"{tag}_stored": c_last,
                    f"{tag}_feed_s": feeder.t_end - feeder.t_start,
                    f"{tag}_rate": c_last / max(1e-6, t_last - feeder.t_start)}


def ingest_and_drain(bed: Bed, s: System, n: int) -> dict[str, Any]:
    fresh_online(bed, s)
    _, out = _ingest_offline(bed, s, n, "ingest")
    stored = s.snapshot(bed.work / f"snap-drain-{s.name}")
    want = set(stored) & set(range(1, n + 1))
    tally = Tally(bed.sub, s.received, bed.sub.mark())
    t_up = bed.broker_up()
    complete = await_delivery(bed, tally, want)
    got = [tally.times[q] for q in want if q in tally.times]
    missing = want - set(tally.counts)
    out.update(drain_complete=complete, drain_received=tally.distinct(want), drain_dups=tally.dups(want),
               drain_missing=len(missing), drain_missing_same_ms=len(missing & same_ms(stored)),
               stored_same_ms=len(same_ms(stored)), stored_spurious=len(s.spurious),
               spurious_sample=s.spurious[:3])
    if got:
        first, last = min(got), max(got)
        out.update(up_to_first_s=first - t_up, up_to_all_s=last - t_up, first_to_last_s=last - first,
                   drain_rate=len(got) / (last - first) if last - first > 0.001 else None,
                   drain_rows_rate=len(want) / (last - first) if last - first > 0.001 else None)
    s.stop()
    return out


def kill_during_ingest(bed: Bed, s: System, after_s: float) -> dict[str, Any]:
    fresh_online(bed, s)
    bed.broker_down()
    feeder = Feeder(s.port, s.encode, 1, 10_000_000)
    feeder.start()
    time.sleep(after_s)  # ingest runs for this long before the kill
    feeder.stop()
    feeder.join(30)
    s.kill9()  # right after the last line was written, while the reader works off the pty backlog
    unread = s.port.drain_unread()
    consumed = feeder.consumed(unread)
    stored = s.snapshot(bed.work / f"snap-kill-ingest-{s.name}")
    universe = set(range(1, consumed + 1))
    tally = Tally(bed.sub, s.received, bed.sub.mark())
    restart_offline(s, bed)
    bed.broker_up()
    await_delivery(bed, tally, set(stored) & universe)
    lost = universe - set(tally.counts)
    s.stop()
    return {"fed": feeder.fed, "unread": feeder.fed - consumed, "consumed": consumed,
            "stored_at_kill": len(set(stored) & universe), "delivered": tally.distinct(universe),
            "lost": len(lost), "lost_not_stored": len(lost - set(stored)),
            "lost_same_ms": len(lost & same_ms(stored)), "dups": tally.dups(universe),
            "stored_spurious": len(s.spurious)}


def kill_during_drain(bed: Bed, s: System, n: int, frac: float, rate: float) -> dict[str, Any]:
    """The backlog is fed paced (``rate``/s): fed as fast as possible, the peer merges most
    same-millisecond readings and never reaches ``frac`` delivered."""
    fresh_online(bed, s)
    _, out = _ingest_offline(bed, s, n, "backlog", rate)
    stored = s.snapshot(bed.work / f"snap-kill-drain-{s.name}")
    universe = set(range(1, n + 1))
    tally = Tally(bed.sub, s.received, bed.sub.mark())
    bed.broker_up()
    killed = until(lambda: tally.update().distinct(universe) >= frac * n, bed.drain_deadline_s, 0.002)
    s.kill9()
    out["killed_mid_drain"] = killed
    at_kill = tally.update().distinct(universe)
    s.start()
    if not s.wait_ready(bed.sub, bed.sub.mark(), online=False, timeout_s=60):
        raise RuntimeError(f"{s.name} did not restart")
    await_delivery(bed, tally, set(stored) & universe)
    lost = (set(stored) & universe) - set(tally.counts)
    s.stop()
    out.update(delivered_at_kill=at_kill, delivered=tally.distinct(universe), lost=len(lost),
               lost_same_ms=len(lost & same_ms(stored)), dups=tally.dups(universe),
               stored_spurious=len(s.spurious))
    return out


def txns_offline(bed: Bed, s: OurAgent, n: int) -> dict[str, Any]:
    """Our transaction path: POST /v1/transactions while offline (201 = committed), then drain."""
    fresh_online(bed, s)
    bed.broker_down()
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(s.root / "api.sock"))
    conn = http.client.HTTPConnection("localhost", timeout=30)
    conn.sock = sock  # one keep-alive connection, as the kiosk application holds it (and bench.core)
    t0 = time.monotonic()
    ok = 0
    for i in range(1, n + 1):
        body = json.dumps({"txn_id": f"bt-{i}", "kind": "payment", "amount": 1234, "currency": "CNY",
                           "method": "cash", "ref": f"o-{i}"})
        conn.request("POST", "/v1/transactions", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        ok += resp.status == 201
    conn.close()
    elapsed = time.monotonic() - t0
    out: dict[str, Any] = {"txn_accepted": ok, "txn_rate": ok / elapsed, "txn_durable": s.durable_txns()}
    want = set(range(1, n + 1))
    tally = Tally(bed.sub, s.received_txns, bed.sub.mark())
    t_up = bed.broker_up()
    out["txn_complete"] = await_delivery(bed, tally, want)
    got = list(tally.times.values())
    if got:
        first, last = min(got), max(got)
        out.update(txn_received=tally.distinct(want), txn_dups=tally.dups(want), txn_up_to_first_s=first - t_up,
                   txn_up_to_all_s=last - t_up, txn_first_to_last_s=last - first,
                   txn_drain_rate=len(got) / (last - first) if last - first > 0.001 else None)
    s.stop()
    return out
