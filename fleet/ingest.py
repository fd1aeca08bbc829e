"""``kiosk-fleet ingest``: MQTT 5 -> the store, exactly once in effect.

paho's network thread only queues what arrives (``manual_ack``: nothing is PUBACKed yet). The main
thread takes up to ``batch_max`` messages or what came within ``batch_ms`` of the first, stores them
in one transaction, and only then PUBACKs them and, with ``[ingest] ack``, publishes ``down/txn-ack``.
A crash before the commit leaves the messages unacknowledged: the broker redelivers them (our session
persists when ``client_id`` is set) and the terminal re-sends transactions the fleet never acked; the
store's keys absorb every copy. Journal records come through a shared subscription
(``$share/GROUP/...``: N processes share the load), presence through a normal one (retained
messages are not delivered to shared subscriptions).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import structlog

from fleet import records, timeutil
from fleet.config import FleetConfig
from fleet.mqtt import make_client
from fleet.store import BatchResult, Store

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Incoming:
    generation: int
    topic: str
    payload: bytes
    mid: int
    qos: int
    received: str


def subscriptions(prefix: str, group: str) -> list[str]:
    shared = [f"$share/{group}/{prefix}/+/+/up/{leaf}" for leaf in records.SHARED_LEAVES]
    return shared + [f"{prefix}/+/+/up/{leaf}" for leaf in records.PRESENCE_LEAVES]


class Ingest:
    def __init__(self, cfg: FleetConfig, store: Store) -> None:
        self.cfg = cfg
        self.store = store
        self.inbox: queue.SimpleQueue[Incoming] = queue.SimpleQueue()
        self.persistent = bool(cfg.mqtt.client_id)
        self.client, self.props = make_client(cfg.mqtt, manual_ack=True, persistent=self.persistent)
        self.generation = 0
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.touched: set[str] = set()  # terminals with journal records since the last gap check
        self.floor: dict[str, int] = {}  # per terminal: seq up to which no gap is left
        self.totals = {"messages": 0, "batches": 0, "new": 0, "duplicates": 0, "quarantined": 0, "acks": 0}
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    # -- paho thread: only queue ---------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, props: Any) -> None:
        try:
            if reason.is_failure:
                log.error("mqtt_connect_refused", reason=str(reason))
                return
            self.generation += 1
            self.connected.set()
            client.subscribe([(t, 1) for t in subscriptions(self.cfg.mqtt.topic_prefix, self.cfg.mqtt.group)])
            log.info("mqtt_connected", generation=self.generation, session_present=bool(_f.session_present))
        except Exception:  # an exception escaping a callback would kill paho's thread
            log.exception("on_connect_failed")

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, codes: list[Any], _p: Any) -> None:
        try:
            bad = [str(c) for c in codes if c.is_failure]
            if bad:
                log.error("mqtt_subscribe_refused", reasons=bad)
            else:
                self.subscribed.set()
                log.info("ingest_subscribed", topics=subscriptions(self.cfg.mqtt.topic_prefix, self.cfg.mqtt.group))
        except Exception:
            log.exception("on_subscribe_failed")

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        log.warning("mqtt_disconnected", reason=str(reason))

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self.inbox.put(Incoming(self.generation, msg.topic, bytes(msg.payload), msg.mid, msg.qos,
                                    timeutil.now_iso()))
        except Exception:
            log.exception("on_message_failed")

    # -- main thread: batch, commit, then acknowledge ------------------------------------------
    def take_batch(self, wait_s: float) -> list[Incoming]:
        try:
            first = self.inbox.get(timeout=wait_s)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.cfg.ingest.batch_ms / 1000.0
        while len(batch) < self.cfg.ingest.batch_max:
            left = deadline - time.monotonic()
            try:
                batch.append(self.inbox.get_nowait() if left <= 0 else self.inbox.get(timeout=left))
            except queue.Empty:
                break
        return batch

    def store_batch(self, batch: list[Incoming]) -> BatchResult:
        """Store a batch; never raises. A batch the store refuses while it is up is split so one bad
        row is quarantined alone; while the store is down the batch waits (unacked) and is retried."""
        prefix = self.cfg.mqtt.topic_prefix
        parsed = [records.parse(prefix, m.topic, m.payload, m.received) for m in batch]
        journal = (records.Txn, records.Event, records.Report)
        self.touched.update(p.terminal_id for p in parsed if isinstance(p, journal))
        delay = 0.5
        while True:
            try:
                return self.store.write_batch(parsed)
            except Exception as exc:
                error = str(exc)
                if self.store.healthy():
                    log.exception("batch_refused", size=len(parsed))
                    try:
                        return self._one_by_one(parsed)
                    except Exception as again:
                        error = str(again)
                log.error("store_unavailable", error=error, retry_s=delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
                self.store.reconnect()

    def _one_by_one(self, parsed: list[records.Parsed]) -> BatchResult:
        """A batch that failed as a whole: each message alone, so one bad row cannot block the rest."""
        total = BatchResult()
        for p in parsed:
            try:
                r = self.store.write_batch([p])
            except Exception as exc:
                if not self.store.healthy():
                    raise  # the store went away meanwhile: nothing is acked, the broker redelivers
                topic = getattr(p, "topic", type(p).__name__)
                q = records.Quarantined(topic, f"store refused it: {exc}", json.dumps(_asdict(p)), timeutil.now_iso())
                r = self.store.write_batch([q])
            for k in total.new:
                total.new[k] += r.new[k]
                total.duplicates[k] += r.duplicates[k]
            total.quarantined += r.quarantined
            for key, ids in r.acks.items():
                total.acks[key].extend(ids)
        return total

    def acknowledge(self, batch: list[Incoming], res: BatchResult) -> None:
        for m in batch:
            if m.qos > 0 and m.generation == self.generation:
                # a mid from an earlier connection is not ours to ack: the broker redelivers that one
                self.client.ack(m.mid, m.qos)
        if self.cfg.ingest.ack:
            prefix = self.cfg.mqtt.topic_prefix
            for (site, terminal), ids in res.acks.items():
                self.client.publish(f"{prefix}/{site}/{terminal}/down/txn-ack",
                                    json.dumps({"txn_ids": ids}, separators=(",", ":")), qos=1)
                self.totals["acks"] += len(ids)

    def step(self, wait_s: float = 0.2) -> int:
        batch = self.take_batch(wait_s)
        if not batch:
            return 0
        res = self.store_batch(batch)
        self.acknowledge(batch, res)
        self.totals["messages"] += len(batch)
        self.totals["batches"] += 1
        self.totals["new"] += sum(res.new.values())
        self.totals["duplicates"] += sum(res.duplicates.values())
        self.totals["quarantined"] += res.quarantined
        if res.quarantined:
            log.warning("messages_quarantined", count=res.quarantined)
        return len(batch)

    def check(self, last_gaps: dict[str, int]) -> dict[str, int]:
        """Presence from silence, and the seq gaps still open (logged until filled)."""
        gone = self.store.mark_silent(datetime.now(UTC), self.cfg.ingest.health_interval,
                                      self.cfg.ingest.offline_factor)
        for t in gone:
            log.warning("terminal_silent", terminal_id=t)
        gaps: dict[str, int] = {}
        # only terminals heard from since the last check, or with gaps open, and only above the seq
        # up to which each is known to be contiguous: the check costs what arrived, not the history
        todo, self.touched = self.touched | set(last_gaps), set()
        for terminal in sorted(todo):
            found = self.store.gaps(terminal, self.floor.get(terminal, 0))
            for g in found:
                gaps[terminal] = gaps.get(terminal, 0) + g["missing"]
            self.floor[terminal] = found[0]["first"] - 1 if found else self.store.max_seq(terminal)
        for t, n in gaps.items():
            log.warning("seq_gap", terminal_id=t, missing=n)
        for t in set(last_gaps) - set(gaps):
            log.info("seq_gap_filled", terminal_id=t)
        return gaps

    def run(self, stop: threading.Event, on_ready: Callable[[], None] | None = None) -> None:
        m = self.cfg.mqtt
        self.client.connect_async(m.host, m.port, m.keepalive, clean_start=not self.persistent,
                                  properties=self.props)
        self.client.loop_start()
        try:
            if on_ready is not None and self.subscribed.wait(30):
                on_ready()
            next_check = time.monotonic() + self.cfg.ingest.check_interval
            gaps: dict[str, int] = {}
            last_stats = time.monotonic()
            while not stop.is_set():
                self.step()
                now = time.monotonic()
                if now >= next_check:
                    next_check = now + self.cfg.ingest.check_interval
                    try:
                        gaps = self.check(gaps)
                    except Exception:
                        log.exception("check_failed")  # the store is down: the batches say so and wait
                if now - last_stats >= 10:
                    log.info("ingest_stats", **self.totals)
                    last_stats = now
            while self.step(0.0):  # what is already queued is stored and acked before leaving
                pass
        finally:
            self.client.disconnect()
            self.client.loop_stop()
            log.info("ingest_stopped", **self.totals)


def _asdict(p: Any) -> dict[str, Any]:
    return {k: getattr(p, k) for k in getattr(p, "__slots__", ()) if k != "data"}
