"""The clients phase's probe, run in a fresh process (``python -m bench.fleet --probe lite|paho``):
memory per idle connected client and one client's QoS 1 publish rate."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.fleetkit.common import make_records, rss_kb
from fleet.sim.mqttlite import LiteClient


def probe_clients(kind: str, n: int, port: int, messages: int) -> dict[str, Any]:
    """In a fresh process: RSS per connected idle client and one client's QoS 1 publish rate, for our
    asyncio client and for paho driven without threads (its socket API: loop_read/loop_write/loop_misc)."""
    before = rss_kb(os.getpid())["VmRSS"]
    t0 = time.monotonic()
    payload = make_records(1, 1)[0][1]
    if kind == "lite":
        async def go() -> tuple[float, float, int]:
            cs = [LiteClient(f"probe-{i}") for i in range(n)]
            for k in range(0, n, 200):
                await asyncio.gather(*(c.connect("127.0.0.1", port) for c in cs[k:k + 200]))
            took = time.monotonic() - t0
            after = rss_kb(os.getpid())["VmRSS"]
            t1 = time.monotonic()
            await asyncio.gather(*(cs[0].publish("probe/x", payload, 1) for _ in range(messages)))
            rate = messages / (time.monotonic() - t1)
            for c in cs:
                await c.disconnect()
            return took, rate, after
        took, rate, after = asyncio.run(go())
    else:
        cs = []
        for i in range(n):
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{i}", protocol=mqtt.MQTTv311)
            if i == 0:  # the publisher; paho 2 takes the window only before the connection is up
                c.max_inflight_messages_set(500)
            c.connect("127.0.0.1", port)
            while not c.is_connected():
                c.loop(timeout=0.01)
            cs.append(c)
        took = time.monotonic() - t0
        after = rss_kb(os.getpid())["VmRSS"]
        c0 = cs[0]
        t1 = time.monotonic()
        infos = [c0.publish("probe/x", payload, 1) for _ in range(messages)]
        while not all(i.is_published() for i in infos[-50:]) or not infos[0].is_published():
            c0.loop(timeout=0.01)
        rate = messages / (time.monotonic() - t1)
        for c in cs:
            c.disconnect()
    return {"client": kind, "clients": n, "connect_s": round(took, 2),
            "rss_per_client_kb": round((after - before) / n, 1), "one_client_qos1_publish_rate": round(rate)}
