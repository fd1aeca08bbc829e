"""Issue 6, item 6: the wall clock jumps backwards and forwards while offline.

The real daemon (a subprocess on a real SQLite file) runs under libfaketime with only its wall
clock faked; the test moves that clock by rewriting the timestamp file (-3 days, +400 days,
-3 days again) while the link to a real Mosquitto is refused by the fault proxy, and submits
transactions and device events in between. Checked: seq is the only order (strictly increasing
in the journal and in publish order once the broker is back, although ``ts`` is not), nothing
is lost, every record carries ``clock_synced`` as adjtimex says, the offline age limit is not
tripped by the forward jump but is by real time passing max_age_s and is not hidden by the
backward jump, ``oldest_age_s`` follows real time, availability and uptimes stay within real
bounds, and a restart 400 days "later" prunes nothing settled minutes ago (retention at the
store level, where real ages of days would be needed, is in test_journal_clock.py).
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.runtime.timesync import clock_synchronised
from tests.support.sims import SimBench
from tests.support.waiting import wait_until

MAX_AGE_S = 3.0
DAY = 86400.0


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[SimBench]:
    bench = SimBench(tmp_path / "sims", names=["printer"])
    try:
        bench.require("printer")
        yield bench
    finally:
        bench.stop()


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def test_wall_clock_jumps_while_offline(printer, agent_factory, mqtt_proxy, recorder, terminal_id, fake_wall):
    root = f"kiosk/v1/TEST-SITE/{terminal_id}"
    rec = recorder(f"{root}/up/#")
    mqtt_proxy.refuse()
    t_start = time.monotonic()
    agent = agent_factory(mqtt_proxy.port, terminal_id=terminal_id, env=fake_wall.env, sections={
        "devices": printer.devices_section(0.5),
        "offline_limits": {"unionpay": {"max_age_s": MAX_AGE_S}},
        "storage": {"retention_days": 1},
    }).start()
    api = agent.client()

    def health() -> dict:
        code, doc = api.get("/v1/health")
        assert code == 200, doc
        return doc

    def printer_state(faulted: bool) -> None:
        printer.set_fault("printer", "paper_out", faulted)
        wait_until(lambda: ("paper_out" in health()["devices"]["printer"]["faults"]) == faulted, 15,
                   message=lambda: health()["devices"]["printer"])

    def wall_offset(offset: str, days: float) -> None:
        fake_wall.set(offset)
        wait_until(lambda: abs((_parse(health()["ts"]) - datetime.now(UTC)).total_seconds() - days * DAY) < 60,
                   10, message=lambda: f"the daemon's wall clock did not follow {offset}: {health()['ts']}")

    ids = (f"tx-{i:04d}" for i in itertools.count(1))

    def submit(method: str = "cash") -> tuple[int, dict]:
        return api.post("/v1/transactions", {"txn_id": next(ids), "kind": "payment", "amount": 100,
                                             "method": method})

    def cash() -> None:
        code, doc = submit()
        assert code == 201, doc

    wait_until(lambda: health()["devices"]["printer"]["state"] == "online", 30,
               message=lambda: health()["devices"]["printer"])
    assert health()["connectivity"]["online"] is False

    # real time: a transaction and a device fault
    cash()
    t_first = time.monotonic()  # the first record is older than this
    printer_state(True)
    # the wall clock steps back three days: a transaction, the fault clears
    wall_offset("-3d", -3)
    cash()
    printer_state(False)

    # a card payment, then NTP "returns" 400 days ahead: the fresh backlog is not a year old
    t_card = time.monotonic()
    code, doc = submit("unionpay")
    assert code == 201, doc
    wall_offset("+400d", 400)
    lo = time.monotonic() - t_first
    doc = health()
    card_age = doc["limits"]["methods"]["unionpay"]["oldest_age_s"]
    assert 0 <= card_age <= time.monotonic() - t_card + 0.5, doc["limits"]
    assert doc["limits"]["mode"] == "normal", doc["limits"]
    assert lo - 0.5 <= doc["queue"]["oldest_age_s"] <= time.monotonic() - t_start + 0.5, doc["queue"]
    code, doc = submit("unionpay")
    assert code == 201 or time.monotonic() - t_card > MAX_AGE_S, doc  # refused only if really that old
    cash()
    printer_state(True)

    # real time passes max_age_s: now unionpay is refused (cash is not)
    refused = wait_until(lambda: (r := submit("unionpay"))[0] == 403 and r, MAX_AGE_S + 10,
                         message="unionpay never refused on the offline age limit")
    assert time.monotonic() - t_card > MAX_AGE_S
    assert refused[1]["error"]["code"] == "offline_age_limit"
    cash()

    # the wall clock steps back 403 days: the backlog is not hidden, the refusal stands
    wall_offset("-3d", -3)
    code, doc = submit("unionpay")
    assert code == 403 and doc["error"]["code"] == "offline_age_limit", doc
    lo = time.monotonic() - t_first
    doc = health()
    assert lo - 0.5 <= doc["queue"]["oldest_age_s"] <= time.monotonic() - t_start + 0.5, doc["queue"]
    assert doc["limits"]["mode"] == "restricted" and doc["limits"]["refused_methods"] == ["unionpay"]
    # health rounds ages to 0.1 s: a refusal at 3.04 s reads 3.0 there
    assert doc["limits"]["methods"]["unionpay"]["oldest_age_s"] >= MAX_AGE_S
    printer_state(False)
    cash()

    # availability and uptimes within what really elapsed, whatever the wall clock did
    doc = health()
    elapsed = time.monotonic() - t_start
    dev = doc["devices"]["printer"]
    for key in ("availability_24h", "availability_30d", "availability_month"):
        assert dev[key] is not None and 0.0 <= dev[key] <= 1.0, dev
    assert dev["availability_24h"] < 1.0  # the paper_out time counted, on the corrected time line
    month = doc["availability_month"]
    assert month["terminal"] is not None and 0.0 <= month["terminal"] <= 1.0, month
    assert 0.0 <= month["down_s"] <= elapsed + 1.0, month  # no 400 days of downtime from a jump
    assert 0.0 <= doc["agent"]["uptime_s"] <= elapsed + 1.0
    boot_s = time.clock_gettime(time.CLOCK_BOOTTIME)
    assert abs(doc["system"]["uptime_s"] - boot_s) < 60, doc["system"]

    # the broker returns: everything goes out, in seq order, nothing lost
    mqtt_proxy.restore()
    wait_until(lambda: api.get("/v1/queue")[1]["pending"] == 0, 30, message=lambda: api.get("/v1/queue")[1])
    db = sqlite3.connect(f"file:{agent.workdir / 'journal.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT seq, kind, ts, jt, clock_synced, payload, state FROM outbox ORDER BY seq").fetchall()
    finally:
        db.close()
    seqs = [r[0] for r in rows]
    assert seqs == sorted(set(seqs)) and len(rows) >= 12
    assert [r[2] for r in rows] != sorted(r[2] for r in rows), "the jumps should show in ts"
    years = {r[2][:4] for r in rows}
    assert len(years) >= 2, years  # records from before and during the +400 days
    jts = [r[3] for r in rows]
    assert all(jt is not None for jt in jts) and jts == sorted(jts), "journal time follows seq"
    synced = clock_synchronised()
    assert all(bool(r[4]) is synced and json.loads(r[5])["clock_synced"] is synced for r in rows)
    assert {r[6] for r in rows} == {"settled"}
    kinds = {r[0]: r[1] for r in rows}
    assert {"txn", "event"} <= set(kinds.values())

    def published(leaf: str) -> list[int]:
        order: list[int] = []
        for m in rec.messages(f"{root}/up/{leaf}"):
            doc = m.json()
            assert isinstance(doc["clock_synced"], bool) and doc["clock_synced"] is synced, doc
            if doc["seq"] not in order:  # at-least-once: a redelivery keeps its seq
                order.append(doc["seq"])
        return order

    expected = {leaf: [s for s, k in kinds.items() if k == kind] for leaf, kind in (("txn", "txn"),
                                                                                  ("events", "event"))}
    wait_until(lambda: all(set(expected[leaf]) <= set(published(leaf)) for leaf in expected), 20,
               message=lambda: {leaf: (expected[leaf], published(leaf)) for leaf in expected})
    for leaf in expected:
        order = published(leaf)
        assert order == sorted(order), (leaf, order)
        assert set(order) == set(expected[leaf])
    events = [m.json() for m in rec.messages(f"{root}/up/events")]
    assert sum(1 for e in events if e["type"] == "device_state" and "paper_out" in e["data"]["raised"]) == 2

    # retention is one day: a restart (it prunes at once) 400 days "later" prunes nothing settled
    # minutes ago
    assert agent.terminate() == 0
    fake_wall.set("+400d")
    log_from = len(agent.log_text())
    agent.start()
    api = agent.client()

    def pruned() -> list[dict]:
        lines = agent.log_text()[log_from:].splitlines()
        return [d for d in (json.loads(ln) for ln in lines if ln.startswith("{")) if d.get("event") == "journal_pruned"]
    done = wait_until(pruned, 15, message=lambda: f"no journal_pruned after the restart:\n{agent.log_tail()}")
    assert done[0]["records"] == 0, done
    wall_offset("+400d", 400)  # it does run 400 days ahead
    kept = api.get("/v1/queue/records?state=settled&limit=1000")[1]["records"]
    assert set(seqs) <= {r["seq"] for r in kept}
    assert api.get("/v1/queue")[1]["oldest_age_s"] < 60
