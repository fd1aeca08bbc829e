"""A long outage: a busy terminal's day of records, queued offline, drains in order with bounded
memory once the broker is back.

A day at a busy kiosk is of the order of 100,000 journal records (transactions and device
events); the CI form queues 20,000 (``OUTAGE_RECORDS`` sets it), the long form 100,000
(``pytest -m soak``); both go as fast as the local API takes them, so the day is compressed into
a minute or so. The daemon's RSS is sampled throughout: queueing and draining must not grow it
by 20 MB or more (nothing of the backlog lives in memory; the uplink hands paho a bounded window
at a time). Every record arrives, first deliveries in seq order, and the outage event says how
much was queued.
"""

from __future__ import annotations

import json
import os
import threading
import time

import psutil
import pytest

from tests.support.waiting import wait_until

SHORT = int(os.environ.get("OUTAGE_RECORDS", "20000"))
RSS_GROWTH_LIMIT_MB = 20.0


class RssSampler(threading.Thread):
    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.interval_s = interval_s
        self.peak = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.interval_s):
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return


@pytest.mark.parametrize("records", [
    pytest.param(SHORT, marks=pytest.mark.timeout(max(300, SHORT // 40))),
    pytest.param(100_000, marks=[pytest.mark.soak, pytest.mark.timeout(3600)], id="100k")])
def test_a_days_backlog_drains_in_order_with_bounded_memory(records, agent_factory, mqtt_proxy, recorder,
                                                            terminal_id):
    root = f"kiosk/v1/TEST-SITE/{terminal_id}"
    rec = recorder(f"{root}/up/#")
    mqtt_proxy.refuse()
    agent = agent_factory(mqtt_proxy.port, terminal_id=terminal_id, sections={"log": {"level": "warning"}})
    agent.start()
    # warm up (imports, caches, the first pages of the journal) before the baseline
    warm = agent.client()
    for i in range(200):
        assert warm.post("/v1/transactions", {"txn_id": f"warm-{i}", "kind": "fee", "amount": 1,
                                              "method": "cash"})[0] == 201
    assert agent.proc is not None
    sampler = RssSampler(agent.proc.pid)
    base_rss = sampler.proc.memory_info().rss
    sampler.start()

    t0 = time.monotonic()
    failures: list[str] = []

    def submit(worker: int, count: int) -> None:
        api = agent.client(timeout_s=30)
        for i in range(count):
            n = worker * records + i
            body = {"txn_id": f"day-{n:07d}", "kind": ("payment", "refund", "cash_in", "fee")[n % 4],
                    "amount": 100 + n % 50_000, "method": ("cash", "unionpay", "qr")[n % 3],
                    "ref": f"order-{n}"}
            if n % 10 == 0:
                body["data"] = {"payer": "李四", "items": [{"sku": n, "qty": 1}]}
            code, doc = api.post("/v1/transactions", body)
            if code != 201:
                failures.append(f"{body['txn_id']}: {code} {doc}")
                return
    per = (records - 200) // 2
    workers = [threading.Thread(target=submit, args=(w, per + (records - 200) % 2 * (w == 0))) for w in (0, 1)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=records / 50)
    assert not failures, failures[:3]
    queue_s = time.monotonic() - t0
    api = agent.client(timeout_s=30)
    queued = api.get("/v1/queue")[1]
    assert queued["pending_txns"] == records, queued
    assert not rec.messages(f"{root}/up/txn")
    queued_rss = sampler.peak

    t1 = time.monotonic()
    mqtt_proxy.forward()
    wait_until(lambda: api.get("/v1/queue")[1]["pending"] == 0, max(120.0, records / 200),
               interval_s=0.5, message=lambda: api.get("/v1/queue")[1])
    drain_s = time.monotonic() - t1
    wait_until(lambda: len({m.json()["txn_id"] for m in rec.messages(f"{root}/up/txn")}) >= records, 30,
               interval_s=0.5, message="the last PUBACKed transactions did not reach the subscriber")
    sampler.halt.set()
    sampler.join(5)
    growth_mb = (sampler.peak - base_rss) / 1_048_576

    seen: dict[int, str] = {}
    first_order: list[int] = []
    for m in rec.messages():
        kind = m.topic.rsplit("/", 1)[1]
        if kind not in ("txn", "events"):
            continue
        doc = m.json()
        rid = doc.get("txn_id") or doc.get("event_id")
        if doc["seq"] in seen:
            assert seen[doc["seq"]] == rid, "a seq was reused for another record"
            continue
        seen[doc["seq"]] = rid
        first_order.append(doc["seq"])
    assert first_order == sorted(first_order), "first deliveries out of seq order"
    assert sum(1 for rid in seen.values() if rid and rid.startswith("day-")) == records - 200
    outage = [m.json() for m in rec.messages(f"{root}/up/events") if m.json()["type"] == "outage"]
    assert outage and outage[0]["data"]["queued"]["txn"] >= records, outage[:1]
    print(json.dumps({"records": records, "queue_s": round(queue_s, 1), "queue_rate": round(records / queue_s),
                      "drain_s": round(drain_s, 1), "drain_rate": round(records / drain_s),
                      "rss_base_mb": round(base_rss / 1_048_576, 1),
                      "rss_peak_queueing_mb": round(queued_rss / 1_048_576, 1),
                      "rss_peak_mb": round(sampler.peak / 1_048_576, 1), "rss_growth_mb": round(growth_mb, 1)}))
    assert growth_mb < RSS_GROWTH_LIMIT_MB, f"RSS grew {growth_mb:.1f} MB over a {records}-record outage"
