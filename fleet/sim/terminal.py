"""One simulated terminal: an in-memory journal drained in seq order over one MQTT connection.

It behaves as the agent does on the wire: presence (retained ``up/status`` online, a Last Will
offline/lwt naming the next session), retained ``up/health`` every interval, journal records
(``up/txn``, ``up/events``) with one seq per terminal across kinds, a ``boot_id`` per run, records
kept until settled (PUBACK; or, honouring ``down/txn-ack``, the fleet's ack for transactions) and
re-sent on reconnect (the duplicates the fleet must absorb), records written while offline, an
``outage`` event when the link comes back, and faults that are raised and later cleared.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fleet.sim import payloads
from fleet.sim.mqttlite import LiteClient, MqttError, Will


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class SimOptions:
    host: str = "127.0.0.1"
    port: int = 1883
    prefix: str = "kiosk/v1"
    rate: float = 0.2  # journal records per second per terminal (transactions + device events)
    txn_share: float = 0.5
    health_interval: float = 60.0
    fault_rate: float = 6.0  # faults raised per terminal per hour
    fault_duration: float = 120.0  # mean seconds until a fault clears
    ack: bool = False  # honour down/txn-ack: a transaction is settled by the fleet's ack, not by PUBACK
    ack_timeout: float = 30.0  # re-send a transaction the fleet has not acked after this long
    flap: float = 0.0  # probability per second that a terminal's link drops (no DISCONNECT: the will fires)
    keepalive: int = 60
    window: int = 20  # QoS 1 publishes in flight per terminal
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    sites: int = 100
    seed: int = 1


@dataclass
class Stats:
    records: Counter[str] = field(default_factory=Counter)  # unique journal records written, by leaf
    published: Counter[str] = field(default_factory=Counter)  # every PUBLISH sent, by leaf
    resent: int = 0  # journal records published again (after a drop or an ack timeout)
    resent_after_puback: int = 0  # of those, ones the broker had already acknowledged: sure duplicates
    connects: int = 0
    connect_failures: int = 0
    drops: int = 0
    acked_txns: int = 0
    faults_raised: int = 0
    faults_cleared: int = 0


@dataclass(slots=True)
class Record:
    seq: int
    leaf: str
    payload: bytes
    txn_id: str | None
    created: float
    sent: bool = False
    pubacked: bool = False
    sent_at: float = 0.0


class Terminal:
    def __init__(self, index: int, opts: SimOptions, stats: Stats) -> None:
        self.opts, self.stats = opts, stats
        self.rng = random.Random(f"{opts.seed}:{index}")
        self.id = f"sim-{index:05d}"
        self.site = f"S{index % max(opts.sites, 1):03d}"
        self.boot_id = f"{self.rng.getrandbits(64):016x}"
        self.base_topic = f"{opts.prefix}/{self.site}/{self.id}"
        self.session = 0
        self.seq = 0
        self.journal: dict[int, Record] = {}  # unsettled records, in seq order
        self.by_txn: dict[str, int] = {}
        self.unsent: deque[Record] = deque()
        self.wake = asyncio.Event()
        self.window = asyncio.Semaphore(opts.window)
        self.client: LiteClient | None = None
        self.started = time.time()
        self.offline_since: float | None = None
        self.outages = 0
        self.devices = {name: {"state": "online", "faults": [], "since": None} for name in payloads.DEVICES}
        self.generating = True

    # -- the journal -----------------------------------------------------------------------------
    def _base(self, now: float) -> dict[str, Any]:
        self.seq += 1
        return payloads.envelope(self.id, self.site, self.boot_id, iso(now), self.seq)

    def _append(self, leaf: str, doc: dict[str, Any], now: float, txn_id: str | None = None) -> None:
        rec = Record(doc["seq"], leaf, _json(doc), txn_id, now)
        self.journal[rec.seq] = rec
        if txn_id is not None:
            self.by_txn[txn_id] = rec.seq
        self.stats.records[leaf] += 1
        if self.client is not None:
            self.unsent.append(rec)
            self.wake.set()

    def add_txn(self, now: float) -> None:
        base = self._base(now)
        txn_id = f"tx-{self.rng.getrandbits(128):032x}"
        self._append("txn", payloads.txn(base, txn_id, self.rng, offline=self.client is None), now, txn_id)

    def add_event(self, now: float, type_: str, device: str | None, data: dict[str, Any]) -> None:
        doc = payloads.event(self._base(now), f"evt-{self.rng.getrandbits(128):032x}", type_, device, data)
        self._append("events", doc, now)

    def add_business_event(self, now: float) -> None:
        self.add_event(now, *payloads.business_event(self.rng))

    def toggle_fault(self, now: float, name: str, code: str, raise_it: bool) -> None:
        dev = self.devices[name]
        prev_state, faults = dev["state"], list(dev["faults"])
        if raise_it == (code in faults):
            return
        faults = [*faults, code] if raise_it else [f for f in faults if f != code]
        action = payloads.DEVICES[name][3]
        state = ("online" if not faults else "offline" if action == "check_connection"
                 else "hardwareError" if action == "maintenance" else "userError")
        dev.update(state=state, faults=faults, since=iso(now))
        self.add_event(now, "device_state", name, payloads.device_state(
            state, prev_state, faults, [code] if raise_it else [], [] if raise_it else [code],
            action if faults else "none"))
        if raise_it:
            self.stats.faults_raised += 1
        else:
            self.stats.faults_cleared += 1

    def settle(self, rec: Record) -> None:
        if self.journal.pop(rec.seq, None) is not None and rec.txn_id is not None:
            self.by_txn.pop(rec.txn_id, None)

    def on_message(self, topic: str, payload: bytes) -> None:
        if not topic.endswith("/down/txn-ack"):
            return
        try:
            ids = json.loads(payload).get("txn_ids") or []
        except (ValueError, AttributeError):
            return
        for txn_id in ids:
            seq = self.by_txn.get(txn_id) if isinstance(txn_id, str) else None
            if seq is not None and seq in self.journal:
                self.settle(self.journal[seq])
                self.stats.acked_txns += 1

    # -- publishing ------------------------------------------------------------------------------
    def _published(self, rec: Record, window: asyncio.Semaphore, fut: asyncio.Future[None]) -> None:
        window.release()
        if fut.cancelled() or fut.exception() is not None:
            return  # still in the journal: re-sent on the next connection
        rec.pubacked = True
        if not (self.opts.ack and rec.txn_id is not None):
            self.settle(rec)

    async def _sender(self, client: LiteClient) -> None:
        window = self.window
        while True:
            if not self.unsent:
                self.wake.clear()
                await self.wake.wait()
                continue
            await window.acquire()
            rec = self.unsent.popleft()
            if rec.seq not in self.journal:
                window.release()
                continue
            if rec.sent:
                self.stats.resent += 1
                self.stats.resent_after_puback += rec.pubacked
            dup = rec.sent
            rec.sent, rec.sent_at = True, time.time()
            self.stats.published[rec.leaf] += 1
            fut = asyncio.ensure_future(client.publish(f"{self.base_topic}/up/{rec.leaf}", rec.payload, 1,
                                                       dup=dup))
            fut.add_done_callback(lambda f, r=rec: self._published(r, window, f))

    def publish_health(self, client: LiteClient, now: float) -> None:
        pending = len(self.journal)
        inflight = sum(1 for r in self.journal.values() if r.sent and not r.pubacked)
        oldest = max(0.0, now - next(iter(self.journal.values())).created) if pending else 0.0
        devices = {n: payloads.device_entry(n, d["state"], d["faults"], d["since"]) for n, d in self.devices.items()}
        start = datetime.fromtimestamp(now, UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        doc = payloads.health(self.id, self.site, iso(now), boot_id=self.boot_id, uptime_s=now - self.started,
                              pid=10_000 + int(self.id[-5:]), session=self.session,
                              broker=f"{self.opts.host}:{self.opts.port}", outages=self.outages, pending=pending,
                              oldest_age_s=oldest, inflight=inflight,
                              devices=devices, month_from=iso(start.timestamp()))
        self.stats.published["health"] += 1
        asyncio.ensure_future(client.publish(f"{self.base_topic}/up/health", _json(doc), 1, retain=True)) \
            .add_done_callback(lambda f: f.cancelled() or f.exception())

    def resend_unacked(self, now: float) -> None:
        """fleet-ack: a transaction the broker took but the fleet never acked goes out again."""
        late = [r for r in self.journal.values()
                if r.txn_id is not None and r.pubacked and now - r.sent_at >= self.opts.ack_timeout]
        for r in late:
            r.sent_at = now  # queued once per timeout
            self.unsent.append(r)
        if late:
            self.wake.set()

    # -- the life of the terminal -----------------------------------------------------------------
    drain_timeout = 30.0

    async def run(self, stop: asyncio.Event) -> None:
        """Connect (again and again, with jittered backoff) until ``stop``; then stop writing, wait
        (bounded) for the journal to settle, say offline/shutdown and disconnect."""
        # each device's first state, journalled at start as the agent does (previous null), so the
        # fleet sees every device from the first moment and can compute its availability
        now = time.time()
        for name, dev in self.devices.items():
            self.add_event(now, "device_state", name, payloads.device_state(
                dev["state"], None, list(dev["faults"]), [], [], "none"))
        tasks = [asyncio.create_task(self._generate(stop))]
        attempt = 0
        try:
            while not stop.is_set():
                if await self._session(stop):
                    attempt = 0
                else:
                    attempt += 1
                if stop.is_set():
                    break
                delay = min(self.opts.reconnect_max, self.opts.reconnect_min * 2 ** min(attempt, 10))
                await _sleep_or_stop(stop, self.rng.uniform(delay / 2, delay))
            self.generating = False
            if self.client is None:
                await self._session(stop)  # stopped while the link was down: one last try to settle, say bye
        finally:
            for t in tasks:
                t.cancel()

    async def _session(self, stop: asyncio.Event) -> bool:
        """One connection; True when it got as far as CONNACK."""
        will = payloads.status(self.id, iso(time.time()), "offline", self.boot_id, self.session + 1, "lwt")
        client = LiteClient(self.id, self.on_message, max_inflight=self.opts.window + 4)
        try:
            await client.connect(self.opts.host, self.opts.port, keepalive=self.opts.keepalive,
                                 will=Will(f"{self.base_topic}/up/status", _json(will)))
        except MqttError:
            self.stats.connect_failures += 1
            return False
        self.session += 1
        self.stats.connects += 1
        now = time.time()
        tasks: list[asyncio.Task[Any]] = []
        try:
            online = payloads.status(self.id, iso(now), "online", self.boot_id, self.session)
            self.stats.published["status"] += 1
            await client.publish(f"{self.base_topic}/up/status", _json(online), 1, retain=True)
            self.publish_health(client, now)
            if self.opts.ack:
                await client.subscribe([f"{self.base_topic}/down/txn-ack"])
            if self.offline_since is not None:
                self.outages += 1
                during = [r.leaf for r in self.journal.values() if r.created >= self.offline_since]
                queued = {"txn": during.count("txn"), "event": during.count("events"), "report": 0}
                self.add_event(now, "outage", None, payloads.outage(iso(self.offline_since), iso(now),
                                                                     now - self.offline_since, queued))
            self.offline_since = None
            self.client = client
            self.window = asyncio.Semaphore(self.opts.window)
            self.unsent = deque(self.journal.values())
            self.wake.set()
            tasks = [asyncio.create_task(self._sender(client)), asyncio.create_task(self._periodic(client))]
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([client.closed, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if stop.is_set() and not client.closed.done():
                await self._shutdown(client)
        except MqttError:
            pass
        finally:
            for t in tasks:
                t.cancel()
            if self.client is client:
                self.client = None
            if not client.closed.done():
                client.abort("session ended")
            if not stop.is_set():
                self.offline_since = time.time()
                self.stats.drops += 1
        return True

    async def _shutdown(self, client: LiteClient) -> None:
        self.generating = False
        deadline = time.monotonic() + self.drain_timeout
        while self.journal and time.monotonic() < deadline and not client.closed.done():
            await asyncio.sleep(0.05)
        bye = payloads.status(self.id, iso(time.time()), "offline", self.boot_id, self.session, "shutdown")
        self.stats.published["status"] += 1
        try:
            await asyncio.wait_for(client.publish(f"{self.base_topic}/up/status", _json(bye), 1, retain=True), 5)
        except (MqttError, TimeoutError):
            pass
        await client.disconnect()

    async def _periodic(self, client: LiteClient) -> None:
        """Health every interval (first one at a random phase), the ack timeout, link flaps."""
        interval = self.opts.health_interval
        next_health = time.monotonic() + self.rng.uniform(0, interval)
        while True:
            await asyncio.sleep(1.0)
            now_m, now = time.monotonic(), time.time()
            if now_m >= next_health:
                self.publish_health(client, now)
                next_health += interval
            if self.opts.ack:
                self.resend_unacked(now)
            if self.opts.flap and self.generating and self.rng.random() < self.opts.flap:
                await client.lose_link(self.rng.uniform(0.2, 1.0))
                return

    async def _generate(self, stop: asyncio.Event) -> None:
        """Records at ``rate`` per second (Poisson), faults raised at ``fault_rate`` per hour and
        cleared after an exponential time; written whether the link is up or not."""
        o = self.opts
        fault_per_s = o.fault_rate / 3600.0
        total = o.rate + fault_per_s
        if total <= 0:
            return
        while self.generating and not stop.is_set():
            await asyncio.sleep(self.rng.expovariate(total))
            if not self.generating or stop.is_set():
                return
            now = time.time()
            if self.rng.random() < fault_per_s / total:
                name = self.rng.choice(list(payloads.DEVICES))
                code = self.rng.choice(payloads.DEVICES[name][2])
                self.toggle_fault(now, name, code, True)
                asyncio.get_running_loop().call_later(self.rng.expovariate(1 / o.fault_duration),
                                                      self._clear, name, code)
            elif self.rng.random() < o.txn_share:
                self.add_txn(now)
            else:
                self.add_business_event(now)

    def _clear(self, name: str, code: str) -> None:
        if self.generating:
            self.toggle_fault(time.time(), name, code, False)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
