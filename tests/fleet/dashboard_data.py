"""A small fleet with known content for the dashboard tests, written through the ingest's own path:
contract-valid payloads -> ``records.parse`` (the contract check) -> ``Store.write_batch``.

Last month is complete and fixed (exact figures); this month is in progress (figures move with the
clock, so tests compare them only with a report built at about the same time or by their sign):

* T-001 (S-URB, urban): printer, cash (required) and scanner online since day 1 12:00 of last month;
  last month the printer ran out of paper on day 10 08:00-10:00 (an engineer's self-test at 08:30):
  one closed incident, response 30 min, repair 2 h; availability 1 - 2 h / observed time. Its own
  health figure for last month agrees. Online; 3 transactions this month.
* T-002 (S-URB): online, but the bill acceptor jammed halfway through this month: an open incident,
  out of service, below target this month.
* T-003 (S-SUB, suburban): its will said offline (lwt).
* T-004 at a site whose code is hostile HTML (the contract allows it), with a device whose name is
  hostile HTML too.
* A terminal row whose id is hostile HTML, as another tool or an older ingest could have written it
  (the contract refuses such ids, so it goes in by SQL): never seen, offline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fleet import ops, records, timeutil
from fleet.payloads import FakeTerminal
from fleet.store import open_store

HOSTILE_SITE = "<img id=pwn-site src=x>"
HOSTILE_DEVICE = "<img id=pwn-device src=x>"
HOSTILE_TERMINAL = "<img id=pwn-terminal src=x>"
CLASSES = {"printer": "receipt_printer", "cash": "bill_acceptor", "scanner": "barcode_scanner",
           HOSTILE_DEVICE: "receipt_printer"}


@dataclass
class Known:
    now: datetime
    month: str
    last_month: str
    t001_last_month: float | None = None
    offline: list[str] = field(default_factory=list)
    terminals: list[str] = field(default_factory=list)


def month_starts(now: datetime) -> tuple[datetime, datetime]:
    this = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last = (this - timedelta(days=1)).replace(day=1)
    return this, last


def health(t: FakeTerminal, ts: datetime, state: str, devices: dict[str, tuple[str, list[str], str, bool]],
           month_from: datetime, month_figure: float | None) -> dict[str, Any]:
    """A contract-valid up/health document; devices: name -> (state, faults, action, required)."""
    return {
        "v": 1, "terminal_id": t.terminal_id, "site": t.site, "ts": timeutil.iso(ts), "state": state,
        "agent": {"version": "0.1.0", "boot_id": t.boot_id, "uptime_s": 3600.0, "pid": 4242},
        "connectivity": {"online": True, "offline_since": None, "outages_24h": 0, "session": t.session,
                         "broker": "127.0.0.1:1883", "last_error": None},
        "queue": {"pending": 2, "oldest_age_s": 1.5, "dead": 0, "sent_awaiting_ack": 0, "by_kind": {},
                  "drain_rate_per_s": 0.0, "eta_s": None, "redelivered": 0, "inflight": 0,
                  "bytes_written_per_day": 1000},
        "devices": {name: {"class": CLASSES[name], "state": st, "faults": faults, "action": action,
                           "since": timeutil.iso(ts - timedelta(hours=1)), "detail": {}, "required": req,
                           "availability_24h": None, "availability_30d": None, "availability_month": None}
                    for name, (st, faults, action, req) in devices.items()},
        "faults": [], "availability_target": 0.98,
        "availability_month": {"from": timeutil.iso(month_from), "terminal": month_figure, "down_s": 0.0,
                               "target": 0.98, "met": None if month_figure is None else month_figure >= 0.98},
        "system": {"cpu_pct": 3.0, "mem_pct": 20.0, "disk_free_mb": 900.0, "temps_c": {}, "net_up": True,
                   "load_1m": 0.1, "uptime_s": 7200.0},
    }


class Feed:
    """Payloads through the ingest's parse + write_batch; a refused payload fails the test at once."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def __call__(self, t: FakeTerminal, leaf: str, *docs: dict[str, Any]) -> None:
        items = [records.parse(t.prefix, t.topic(leaf), json.dumps(d).encode(), d["ts"]) for d in docs]
        bad = [i for i in items if isinstance(i, records.Quarantined)]
        assert not bad, [b.reason for b in bad]
        self.store.write_batch(items)


def build(store_url: str, now: datetime | None = None) -> Known:
    now = now or datetime.now(UTC)
    this, last = month_starts(now)
    elapsed = now - this
    store = open_store(store_url)
    try:
        store.migrate()
        feed = Feed(store)
        ops.set_site(store, "S-URB", "Downtown branch", "urban")
        ops.set_site(store, "S-SUB", "Riverside branch", "suburban")

        t1 = FakeTerminal("T-001", "S-URB")
        up1 = last + timedelta(hours=12)
        fault = last + timedelta(days=9, hours=8)
        feed(t1, "events", *(t1.device_state(d, "online", None, [], ts=up1) for d in ("printer", "cash", "scanner")))
        feed(t1, "events", t1.device_state("printer", "userError", "online", ["paper_out"], "replenish", ts=fault))
        feed(t1, "selftest", t1.selftest(ts=fault + timedelta(minutes=30)))
        feed(t1, "events", t1.device_state("printer", "online", "userError", [], before=["paper_out"],
                                           ts=fault + timedelta(hours=2)))
        observed = (this - up1).total_seconds()
        t001_last = 1 - 7200 / observed
        ok_devices = {d: ("online", [], "none", d != "scanner") for d in ("printer", "cash", "scanner")}
        feed(t1, "health", health(t1, this - timedelta(minutes=1), "ok", ok_devices, last, t001_last))
        feed(t1, "status", t1.status("online", ts=now - timedelta(minutes=5)))
        feed(t1, "health", health(t1, now - timedelta(minutes=1), "ok", ok_devices, this, 1.0))
        feed(t1, "txn", *(t1.txn(100 * (i + 1), ts=this + elapsed * (0.2 + 0.1 * i)) for i in range(3)))

        t2 = FakeTerminal("T-002", "S-URB")
        feed(t2, "events", *(t2.device_state(d, "online", None, [], ts=last + timedelta(days=1))
                             for d in ("printer", "cash")))
        jam = this + elapsed / 2
        feed(t2, "events", t2.device_state("cash", "hardwareError", "online", ["jam"], "clear", ts=jam))
        feed(t2, "status", t2.status("online", ts=now - timedelta(minutes=5)))
        feed(t2, "health", health(t2, now - timedelta(minutes=1), "out_of_service",
                                  {"printer": ("online", [], "none", True), "cash": ("hardwareError", ["jam"],
                                                                                     "clear", True)},
                                  this, None))

        t3 = FakeTerminal("T-003", "S-SUB")
        feed(t3, "events", *(t3.device_state(d, "online", None, [], ts=last + timedelta(days=2))
                             for d in ("printer", "cash")))
        feed(t3, "status", t3.status("online", ts=now - timedelta(hours=3)))
        feed(t3, "status", t3.status("offline", "lwt", ts=now - timedelta(hours=2)))

        t4 = FakeTerminal("T-004", HOSTILE_SITE)
        feed(t4, "events", t4.device_state(HOSTILE_DEVICE, "online", None, [], ts=last + timedelta(days=3)))
        feed(t4, "status", t4.status("online", ts=now - timedelta(minutes=5)))

        with store.transaction():
            store.execute("INSERT INTO terminals (terminal_id, site) VALUES (?, ?)", (HOSTILE_TERMINAL, "S-SUB"))
    finally:
        store.close()
    return Known(now=now, month=this.strftime("%Y-%m"), last_month=last.strftime("%Y-%m"), t001_last_month=t001_last,
                 offline=sorted(["T-003", HOSTILE_TERMINAL]),
                 terminals=sorted(["T-001", "T-002", "T-003", "T-004", HOSTILE_TERMINAL]))


def build_fleet(store_url: str, n: int, seed: int = 13, now: datetime | None = None) -> Known:
    """``n`` ordinary terminals on three sites (for the chart's limit and the docs' screenshot): all
    devices online since last month; this month some had a fault that was repaired, a few have one
    still open, a few are offline. Deterministic for a seed."""
    import random

    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    this, last = month_starts(now)
    elapsed = now - this
    sites = [("S-URB", "Downtown branch", "urban"), ("S-AIR", "Airport hall", "urban"),
             ("S-SUB", "Riverside branch", "suburban")]
    devices = {"printer": "paper_out", "cash": "jam", "scanner": "no_response"}
    offline, ids = [], []
    store = open_store(store_url)
    try:
        store.migrate()
        feed = Feed(store)
        for code, name, klass in sites:
            ops.set_site(store, code, name, klass)
        for i in range(n):
            t = FakeTerminal(f"K-{i + 1:04d}", sites[i % len(sites)][0])
            ids.append(t.terminal_id)
            feed(t, "events", *(t.device_state(d, "online", None, [], ts=last + timedelta(hours=1)) for d in devices))
            dev = rng.choice(["printer", "cash"])
            roll = rng.random()
            broken = roll < 0.08
            if roll < 0.4:
                start = this + elapsed * rng.uniform(0.05, 0.9)
                feed(t, "events", t.device_state(dev, "hardwareError", "online", [devices[dev]], "maintenance",
                                                 ts=start))
                if not broken:
                    end = min(start + elapsed * rng.uniform(0.001, 0.05), now - timedelta(seconds=1))
                    feed(t, "events", t.device_state(dev, "online", "hardwareError", [], before=[devices[dev]],
                                                     ts=end))
            state = {d: ("hardwareError", [devices[d]], "maintenance", True) if broken and d == dev
                     else ("online", [], "none", d != "scanner") for d in devices}
            feed(t, "status", t.status("online", ts=now - timedelta(minutes=10)))
            feed(t, "health", health(t, now - timedelta(minutes=rng.randint(1, 5)),
                                     "out_of_service" if broken else "ok", state, this, None))
            if roll > 0.9:
                feed(t, "status", t.status("offline", "lwt", ts=now - timedelta(minutes=rng.randint(6, 9))))
                offline.append(t.terminal_id)
    finally:
        store.close()
    return Known(now=now, month=this.strftime("%Y-%m"), last_month=last.strftime("%Y-%m"),
                 offline=offline, terminals=ids)
