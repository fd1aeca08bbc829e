"""The observers: a persistent-session QoS 1 subscriber on ``#``, the ThingsBoard platform stub,
and a psutil sampler (1 Hz: RSS, CPU % of one core)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

HOST = "127.0.0.1"


def _client(client_id: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                    clean_session=False)
    c.reconnect_delay_set(min_delay=0.1, max_delay=0.2)  # type: ignore[arg-type]
    return c


@dataclass(frozen=True)
class Msg:
    t: float  # time.monotonic() at receipt
    topic: str
    payload: bytes


class Subscriber:
    """Records every message on the broker (MQTT 3.1.1, clean_session=False, QoS 1, ``#``).

    The broker runs with persistence, so the session and its queued messages survive restarts.
    """

    def __init__(self, port: int, client_id: str = "bench-peer-probe") -> None:
        self.msgs: list[Msg] = []
        self.lock = threading.Lock()
        self.connects = 0
        self._c = _client(client_id)
        self._c.on_connect = self._on_connect
        self._c.on_message = self._on_message
        self._c.connect(HOST, port, keepalive=10)
        self._c.loop_start()

    def _on_connect(self, c: mqtt.Client, u: object, flags: object, rc: object, props: object) -> None:
        self.connects += 1
        c.subscribe("#", qos=1)

    def _on_message(self, c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.msgs.append(Msg(time.monotonic(), m.topic, m.payload))

    def mark(self) -> int:
        with self.lock:
            return len(self.msgs)

    def since(self, mark: int) -> list[Msg]:
        with self.lock:
            return self.msgs[mark:]

    def close(self) -> None:
        self._c.disconnect()
        self._c.loop_stop()


class PlatformStub:
    """Answers the gateway's ``getSessionLimits`` RPC (no rate limits) and attribute requests
    with ``{}``: without it ThingsBoard IoT Gateway never sends uplink data."""

    LIMITS = {"maxPayloadSize": 65536, "maxInflightMessages": 100, "rateLimits": {}, "gatewayRateLimits": {}}

    def __init__(self, port: int) -> None:
        self.rpc_answered = 0
        self.attr_answered = 0
        self._c = _client("bench-platform-stub")
        self._c.on_connect = self._on_connect
        self._c.on_message = self._on_message
        self._c.connect(HOST, port, keepalive=10)
        self._c.loop_start()

    def _on_connect(self, c: mqtt.Client, u: object, flags: object, rc: object, props: object) -> None:
        c.subscribe([("v1/devices/me/rpc/request/+", 1), ("v1/devices/me/attributes/request/+", 1)])

    def _on_message(self, c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        rid = m.topic.rsplit("/", 1)[-1]
        if "/rpc/request/" in m.topic:
            try:
                method = json.loads(m.payload).get("method")
            except ValueError:
                method = None
            body = self.LIMITS if method == "getSessionLimits" else {}
            c.publish(f"v1/devices/me/rpc/response/{rid}", json.dumps(body), qos=1)
            self.rpc_answered += 1
        else:
            c.publish(f"v1/devices/me/attributes/response/{rid}", "{}", qos=1)
            self.attr_answered += 1

    def close(self) -> None:
        self._c.disconnect()
        self._c.loop_stop()


def _cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _rss(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def sample(pid: int, window_s: float) -> dict[str, float]:
    """1 Hz for ``window_s`` over the process and its children: mean/max RSS (MB), CPU % of one
    core over the window (Δ(user+sys)/Δwall), the highest 1-s CPU %, threads."""
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    t0, c0 = time.monotonic(), _cpu_s(procs)
    rss: list[int] = []
    per_s: list[float] = []
    prev_t, prev_c = t0, c0
    while time.monotonic() - t0 < window_s:
        time.sleep(max(0.0, 1.0 - (time.monotonic() - prev_t)))
        now, c = time.monotonic(), _cpu_s(procs)
        per_s.append((c - prev_c) / (now - prev_t) * 100)
        prev_t, prev_c = now, c
        rss.append(_rss(procs))
    wall = prev_t - t0
    return {"rss_mb": sum(rss) / len(rss) / 1e6, "rss_max_mb": max(rss) / 1e6,
            "cpu_pct": (prev_c - c0) / wall * 100, "cpu_max_1s": max(per_s), "window_s": wall,
            "threads": float(root.num_threads())}
