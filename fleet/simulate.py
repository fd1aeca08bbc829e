"""``kiosk-fleet simulate --terminals N``: N lightweight terminals in one asyncio process.

Each is one paho client driven by the event loop (paho's socket callbacks register the socket with
``add_reader``/``add_writer``; no thread per terminal): a Last Will naming its session, ``status``
online (retained) and ``health`` (retained) on connect and every ``health_interval``, device events
and transactions at random, and faults that come and go (``device_state`` events, incidents on the
fleet side). Every payload is contract-valid (checked in tests). The seq space is per terminal, as
the agent's journal's is.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion

from fleet.config import MqttConfig
from fleet.payloads import FakeTerminal

log = structlog.get_logger(__name__)

DEVICES = {"printer": ("receipt_printer", "paper_out", "replenish"),
           "bill_acceptor": ("bill_acceptor", "jam", "maintenance"),
           "scanner": ("barcode_scanner", None, "none")}


@dataclass
class SimTerminal:
    term: FakeTerminal
    client: mqtt.Client
    started: float = field(default_factory=time.monotonic)
    faults: dict[str, list[str]] = field(default_factory=lambda: {d: [] for d in DEVICES})
    connected: bool = False
    published: int = 0
    announced: bool = False  # each device's first state sent (as the agent does when its pollers start)

    def devices(self) -> dict[str, tuple[str, str, list[str], str]]:
        return {name: (klass, "userError" if self.faults[name] else "online", list(self.faults[name]),
                       action if self.faults[name] else "none")
                for name, (klass, _, action) in DEVICES.items()}

    def send(self, leaf: str, doc: dict[str, Any], retain: bool = False) -> None:
        self.client.publish(self.term.topic(leaf), json.dumps(doc, separators=(",", ":")), qos=1, retain=retain)
        self.published += 1

    def health(self, cfg: MqttConfig) -> None:
        self.send("health", self.term.health(self.devices(), uptime_s=time.monotonic() - self.started,
                                             broker=f"{cfg.host}:{cfg.port}"), retain=True)

    def toggle_fault(self, name: str) -> None:
        _klass, fault, action = DEVICES[name]
        if fault is None:
            return
        before = list(self.faults[name])
        self.faults[name] = [] if before else [fault]
        state = "userError" if self.faults[name] else "online"
        self.send("events", self.term.device_state(name, state, "online" if not before else "userError",
                                                   self.faults[name], action if self.faults[name] else "none",
                                                   before=before))


class Simulator:
    def __init__(self, cfg: MqttConfig, terminals: int, *, id_prefix: str = "T-SIM", health_interval: float = 60.0,
                 txn_interval: float = 30.0, fault_interval: float = 300.0, seed: int | None = None) -> None:
        self.cfg = cfg
        self.health_interval = health_interval
        self.txn_interval = txn_interval
        self.fault_interval = fault_interval
        self.rng = random.Random(seed)
        self.loop = asyncio.get_running_loop()
        self.terms = [self._make(f"{id_prefix}-{i:05d}", f"SITE-{i % 100:03d}") for i in range(terminals)]

    def _make(self, terminal_id: str, site: str) -> SimTerminal:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=terminal_id, protocol=mqtt.MQTTv5)
        sim = SimTerminal(FakeTerminal(terminal_id, site, prefix=self.cfg.topic_prefix), client)
        loop = self.loop

        def on_open(_c: Any, _u: Any, sock: socket.socket) -> None:
            loop.add_reader(sock, client.loop_read)

        def on_close(_c: Any, _u: Any, sock: socket.socket) -> None:
            loop.remove_reader(sock)

        def on_write(_c: Any, _u: Any, sock: socket.socket) -> None:
            loop.add_writer(sock, client.loop_write)

        def on_unwrite(_c: Any, _u: Any, sock: socket.socket) -> None:
            loop.remove_writer(sock)

        def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            try:
                if reason.is_failure:
                    return
                sim.connected = True
                sim.send("status", sim.term.status("online"), retain=True)
                if not sim.announced:  # availability is observed from a device's first state event
                    sim.announced = True
                    for name, (_klass, state, faults, action) in sim.devices().items():
                        sim.send("events", sim.term.device_state(name, state, None, faults, action))
                sim.health(self.cfg)
            except Exception:
                log.exception("sim_on_connect_failed", terminal_id=terminal_id)

        def on_disconnect(*_: Any) -> None:
            sim.connected = False

        client.on_socket_open, client.on_socket_close = on_open, on_close
        client.on_socket_register_write, client.on_socket_unregister_write = on_write, on_unwrite
        client.on_connect, client.on_disconnect = on_connect, on_disconnect
        return sim

    def _will(self, sim: SimTerminal) -> None:
        sim.term.session += 1
        will = sim.term.status("offline", "lwt")
        sim.client.will_set(sim.term.topic("status"), json.dumps(will), qos=1, retain=True)

    async def _connect(self, sim: SimTerminal) -> None:
        self._will(sim)
        try:
            sim.client.connect(self.cfg.host, self.cfg.port, self.cfg.keepalive)
        except OSError as exc:
            log.warning("sim_connect_failed", terminal_id=sim.term.terminal_id, error=str(exc))

    async def _life(self, sim: SimTerminal, stop: asyncio.Event) -> None:
        await asyncio.sleep(self.rng.uniform(0, min(2.0, self.health_interval)))  # no lock-step start
        await self._connect(sim)
        next_health = time.monotonic() + self.health_interval
        next_txn = time.monotonic() + self.rng.expovariate(1 / self.txn_interval)
        next_fault = time.monotonic() + self.rng.expovariate(1 / self.fault_interval)
        while not stop.is_set():
            now = time.monotonic()
            if sim.client.socket() is None:
                await asyncio.sleep(self.rng.uniform(0.5, 2.0))  # reconnect with jitter
                self._will(sim)
                try:
                    sim.client.reconnect()
                except OSError:
                    pass
                continue
            sim.client.loop_misc()
            if sim.connected:
                if now >= next_health:
                    sim.health(self.cfg)
                    next_health = now + self.health_interval
                if now >= next_txn:
                    sim.send("txn", sim.term.txn(amount=self.rng.randrange(100, 100_000)))
                    sim.send("events", sim.term.scan(f"ORDER-{self.rng.randrange(10**8)}"))
                    next_txn = now + self.rng.expovariate(1 / self.txn_interval)
                if now >= next_fault:
                    sim.toggle_fault(self.rng.choice(["printer", "bill_acceptor"]))
                    sim.health(self.cfg)
                    next_fault = now + self.rng.expovariate(1 / self.fault_interval)
            try:
                await asyncio.wait_for(stop.wait(), 0.2)
            except TimeoutError:
                pass

    async def run(self, duration: float | None = None) -> dict[str, int]:
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, stop.set)
        tasks = [asyncio.create_task(self._life(s, stop)) for s in self.terms]
        if duration is not None:
            self.loop.call_later(duration, stop.set)
        await stop.wait()
        await asyncio.gather(*tasks)
        for sim in self.terms:  # a clean stop says so, as the agent does
            if sim.connected:
                sim.send("status", sim.term.status("offline", "shutdown"), retain=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(s.client.want_write() for s in self.terms if s.connected):
            await asyncio.sleep(0.05)
        for sim in self.terms:
            sim.client.disconnect()
        await asyncio.sleep(0.2)
        return {"terminals": len(self.terms), "published": sum(s.published for s in self.terms)}
