"""The stores, SQLite and a real private PostgreSQL, through the same batches the ingest writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from fleet import ops, records, timeutil
from fleet.payloads import FakeTerminal
from fleet.store import Store, open_store

T0 = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Store:
    s = open_store(store_url)
    s.migrate()
    yield s
    s.close()


def parsed(term: FakeTerminal, leaf: str, doc: dict, received: datetime | None = None) -> records.Parsed:
    return records.parse(term.prefix, term.topic(leaf), json.dumps(doc).encode(),
                         timeutil.iso(received or datetime.now(UTC)))


def test_migrations_are_numbered_and_applied_once(store: Store, store_url: str) -> None:
    assert store.applied_versions() == {1, 2}
    again = open_store(store_url)
    try:
        assert again.migrate() == []
    finally:
        again.close()


def test_a_batch_is_idempotent_and_counts_duplicates(store: Store) -> None:
    t = FakeTerminal("T-1", "S1")
    batch = [parsed(t, "txn", t.txn(amount=i + 1)) for i in range(5)]
    batch += [parsed(t, "events", t.scan(f"C{i}")) for i in range(3)]
    first = store.write_batch(batch)
    assert first.new == {"txn": 5, "events": 3, "selftest": 0}
    again = store.write_batch(batch + batch[:2])  # a redelivery, plus copies inside one batch
    assert again.new == {"txn": 0, "events": 0, "selftest": 0}
    assert again.duplicates == {"txn": 7, "events": 3, "selftest": 0}
    assert len(ops.transactions(store)) == 5
    assert store.counters()["duplicates_txn"] == 7
    # the acks name every committed transaction, the re-sent ones too (their first ack may be lost)
    assert sorted(again.acks[("S1", "T-1")]) == sorted([b.txn_id for b in batch[:5]] + [batch[0].txn_id,
                                                                                      batch[1].txn_id])


def test_invalid_payloads_are_quarantined_with_the_reason(store: Store) -> None:
    t = FakeTerminal("T-2", "S1")
    bad_amount = t.txn()
    bad_amount["amount"] = "lots"
    spoofed = t.txn()
    spoofed["terminal_id"] = "T-OTHER"
    items = [records.parse("kiosk/v1", t.topic("txn"), b"\xff\xfe", "2026-11-03T08:00:00.000Z"),
             records.parse("kiosk/v1", t.topic("txn"), b"[1, 2]", "2026-11-03T08:00:00.000Z"),
             parsed(t, "txn", bad_amount), parsed(t, "txn", spoofed)]
    res = store.write_batch(items)
    assert res.quarantined == 4 and res.new["txn"] == 0
    reasons = [q["reason"] for q in ops.quarantine(store)]
    assert any("not UTF-8" in r for r in reasons)
    assert any("not a JSON object" in r for r in reasons)
    assert any("contract" in r and "amount" in r for r in reasons)
    assert any("does not match the topic" in r for r in reasons)


def test_gaps_are_reported_until_filled(store: Store) -> None:
    t = FakeTerminal("T-3", "S1")
    docs = [t.txn() if i % 2 else t.scan(str(i)) for i in range(10)]
    leaves = ["events" if d.get("type") else "txn" for d in docs]
    store.write_batch([parsed(t, lf, d) for lf, d in zip(leaves, docs, strict=True) if d["seq"] not in (4, 5, 8)])
    assert [(g["first"], g["last"]) for g in store.gaps("T-3")] == [(4, 5), (8, 8)]
    store.write_batch([parsed(t, lf, d) for lf, d in zip(leaves, docs, strict=True) if d["seq"] in (4, 5)])
    assert [(g["first"], g["last"]) for g in store.gaps()] == [(8, 8)]
    store.write_batch([parsed(t, lf, d) for lf, d in zip(leaves, docs, strict=True) if d["seq"] == 8])
    assert store.gaps() == []


def test_a_stale_will_does_not_mark_a_live_terminal_offline(store: Store) -> None:
    t = FakeTerminal("T-4", "S1")
    t.session = 2
    store.write_batch([parsed(t, "status", t.status("online", ts=T0))])
    # the will of session 1 (its connection died unseen) arrives after session 2 came online
    store.write_batch([parsed(t, "status", t.status("offline", "lwt", session=1, ts=T0 - timedelta(minutes=5)))])
    row = ops.terminals(store)[0]
    assert row["online"] is True
    # session 2's own will counts
    store.write_batch([parsed(t, "status", t.status("offline", "lwt", session=2, ts=T0))])
    row = ops.terminals(store)[0]
    assert row["online"] is False and row["reason"] == "lwt"
    # a will of an earlier boot, older than what we hold, does not count either
    old = FakeTerminal("T-4", "S1")
    t2 = FakeTerminal("T-4", "S1")
    t2.session = 1
    store.write_batch([parsed(t2, "status", t2.status("online", ts=T0 + timedelta(minutes=1)))])
    store.write_batch([parsed(old, "status", old.status("offline", "lwt", session=7, ts=T0))])
    assert ops.terminals(store)[0]["online"] is True


def test_incidents_open_close_respond_and_repeat(store: Store) -> None:
    t = FakeTerminal("T-5", "S1")
    ev = [t.device_state("printer", "online", None, [], ts=T0),
          t.device_state("printer", "userError", "online", ["paper_out"], "replenish", ts=T0 + timedelta(minutes=1)),
          t.device_state("printer", "userError", "userError", ["cover_open", "paper_out"], "maintenance", before=[
              "paper_out"], ts=T0 + timedelta(minutes=2))]
    store.write_batch([parsed(t, "events", d) for d in ev])
    opened = ops.incidents(store, open_only=True)
    assert sorted((i["device"], i["fault"], i["action"]) for i in opened) == [
        ("printer", "cover_open", "maintenance"), ("printer", "paper_out", "replenish")]
    report = t.selftest(ts=T0 + timedelta(minutes=30))
    store.write_batch([parsed(t, "selftest", report)])
    store.write_batch([parsed(t, "events", t.device_state("printer", "online", "userError", [], before=[
        "cover_open", "paper_out"], ts=T0 + timedelta(minutes=90)))])
    closed = ops.incidents(store)
    assert all(i["closed"] is not None for i in closed)
    paper = next(i for i in closed if i["fault"] == "paper_out")
    assert paper["response_s"] == 29 * 60 and paper["repair_s"] == 89 * 60 and not paper["repeat"]
    # a late copy of an old state change is superseded, it reopens nothing
    store.write_batch([parsed(t, "events", {**ev[1], "event_id": "evt-late", "seq": 2, "boot_id": "0" * 16})])
    assert ops.incidents(store, open_only=True) == []
    # paper out again within 30 days of its repair: a repeat fault
    store.write_batch([parsed(t, "events", t.device_state("printer", "userError", "online", ["paper_out"],
                                                          "replenish", ts=T0 + timedelta(days=3)))])
    again = ops.incidents(store, open_only=True)
    assert len(again) == 1 and again[0]["repeat"] is True


def test_a_silent_terminal_becomes_an_offline_incident(store: Store) -> None:
    t = FakeTerminal("T-6", "S1")
    store.write_batch([parsed(t, "status", t.status("online", ts=T0), received=T0)])
    assert store.mark_silent(T0 + timedelta(seconds=100), 60.0, 3.0) == []
    assert store.mark_silent(T0 + timedelta(seconds=181), 60.0, 3.0) == ["T-6"]
    row = ops.terminals(store)[0]
    assert row["online"] is False and row["reason"] == "silent"
    inc = ops.incidents(store, open_only=True)
    assert [(i["device"], i["fault"], i["opened"]) for i in inc] == [("terminal", "offline", timeutil.iso(T0))]
    store.write_batch([parsed(t, "txn", t.txn(), received=T0 + timedelta(seconds=300))])
    assert ops.terminals(store)[0]["online"] is True
    assert ops.incidents(store)[0]["repair_s"] == 300


def test_postgres_partitions_by_month(store: Store) -> None:
    if store.dialect != "postgres":
        pytest.skip("partitions are PostgreSQL's")
    t = FakeTerminal("T-7", "S1")
    store.write_batch([parsed(t, "txn", t.txn(ts=T0)), parsed(t, "txn", t.txn(ts=T0 + timedelta(days=40))),
                       parsed(t, "events", t.scan("x", ts=T0))])
    assert {"transactions_y2026m11", "transactions_y2026m12", "events_y2026m11"} <= set(store.partitions())


def test_store_engines_must_supply_transaction_and_migration_bookkeeping() -> None:
    with pytest.raises(TypeError, match="abstract"):
        Store()  # type: ignore[abstract]

    class Partial(Store):
        def applied_versions(self) -> set[int]:
            return set()

    with pytest.raises(TypeError, match=r"_apply_script.*transaction|transaction.*_apply_script"):
        Partial()  # type: ignore[abstract]
