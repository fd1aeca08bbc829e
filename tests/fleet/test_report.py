"""The monthly report from known events: availability by hand, the terminal's own figure compared
over the same window, incidents against the site class's response target, repeats, outcomes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from fleet import ops, records, report, timeutil
from fleet.availability import Change, device_figure, terminal_figure
from fleet.payloads import FakeTerminal
from fleet.store import Store, open_store

M0 = datetime(2026, 11, 1, tzinfo=UTC)
DAY = 86400.0


def test_availability_by_hand() -> None:
    s = M0.timestamp()
    ch = [Change(s - DAY, "printer", True), Change(s + 10 * DAY, "printer", False),
          Change(s + 11 * DAY, "printer", True),
          Change(s + 2 * DAY, "scanner", True), Change(s + 20 * DAY, "scanner", False),
          Change(s + 20.5 * DAY, "scanner", True)]
    end = s + 30 * DAY
    p = device_figure(ch, "printer", s, end)
    assert p.value == pytest.approx(29 / 30) and p.observed_s == 30 * DAY
    sc = device_figure(ch, "scanner", s, end)  # observed from its first state, day 2
    assert sc.value == pytest.approx(27.5 / 28)
    t = terminal_figure(ch, ["printer", "scanner"], s, end)
    assert t.value == pytest.approx(28.5 / 30)  # down while either required device is down
    assert terminal_figure(ch, ["printer"], s, end).value == pytest.approx(29 / 30)
    assert device_figure(ch, "bill_acceptor", s, end).value is None


@pytest.fixture
def store(store_url: str) -> Store:
    s = open_store(store_url)
    s.migrate()
    yield s
    s.close()


def _put(store: Store, t: FakeTerminal, leaf: str, doc: dict) -> None:
    res = store.write_batch([records.parse(t.prefix, t.topic(leaf), json.dumps(doc).encode(), doc["ts"])])
    assert res.quarantined == 0


def test_the_report_from_known_events(store: Store) -> None:
    ops.set_site(store, "S-URB", "Downtown", "urban")
    t = FakeTerminal("T-R-1", "S-URB")
    at = lambda days: M0 + timedelta(days=days)  # noqa: E731
    _put(store, t, "events", t.device_state("printer", "online", None, [], ts=at(0)))
    _put(store, t, "events", t.device_state("printer", "userError", "online", ["paper_out"], "replenish", ts=at(3)))
    _put(store, t, "selftest", t.selftest(ts=at(3) + timedelta(hours=3)))  # response 3 h: misses urban 2 h
    _put(store, t, "events", t.device_state("printer", "online", "userError", [], before=["paper_out"], ts=at(4)))
    _put(store, t, "events", t.device_state("printer", "userError", "online", ["paper_out"], "replenish", ts=at(10)))
    _put(store, t, "selftest", t.selftest(ts=at(10) + timedelta(hours=1)))
    _put(store, t, "events", t.device_state("printer", "online", "userError", [], before=["paper_out"],
                                            ts=at(10) + timedelta(hours=12)))
    _put(store, t, "txn", t.txn(ts=at(5)))
    _put(store, t, "txn", t.txn(ts=at(6)))
    health = t.health({"printer": ("receipt_printer", "online", [], "none")}, ts=at(29))
    health["devices"]["printer"]["availability_month"] = 0.9
    health["availability_month"]["terminal"] = round(27.5 / 29, 6)  # what the terminal says at day 29
    _put(store, t, "health", health)
    doc = report.build(store, "2026-11", now=at(40))
    term = doc["terminals"][0]
    assert term["availability"] == pytest.approx(28.5 / 30, abs=1e-6)
    assert term["met"] is False and doc["below_target"] == ["T-R-1"]
    assert term["agreement"]["agrees"] and term["agreement"]["fleet_at"] == pytest.approx(27.5 / 29, abs=1e-6)
    assert term["devices"]["printer"]["faults"] == 2
    first, second = term["incidents"]
    assert first["response_s"] == 3 * 3600 and first["response_target_s"] == 7200 and first["response_met"] is False
    assert second["response_met"] is True and second["repeat"] is True and second["repair_s"] == 12 * 3600
    assert term["faults_by_class_action"] == {"receipt_printer/paper_out/replenish": 2}
    assert term["transactions"]["total"] == 2 and term["transactions"]["success_rate"] == 1.0
    assert timeutil.month_of(term["agreement"]["at"]) == "2026-11"


def test_the_success_rate_names_the_reasons_and_the_device_failures_behind_it(store: Store) -> None:
    t = FakeTerminal("T-R-2", "S-URB")
    at = lambda days: M0 + timedelta(days=days)  # noqa: E731
    _put(store, t, "events", t.device_state("bill_acceptor", "online", None, [], ts=at(0)))
    _put(store, t, "txn", t.txn(ts=at(1)))
    _put(store, t, "events", t.event("note_rejected", "bill_acceptor",
                                     {"reason": "mag_err", "reason_code": "0x73"}, ts=at(2)))
    failed = t.txn(ts=at(2) + timedelta(minutes=1))
    failed.update(outcome="failed", reason="note_rejected")
    _put(store, t, "txn", failed)
    _put(store, t, "events", t.event("card_read_failed", "card_reader", {"reason": "chip_failure"}, ts=at(3)))
    cancelled = t.txn(ts=at(3) + timedelta(minutes=1))
    cancelled.update(outcome="cancelled", reason="customer_cancelled")
    _put(store, t, "txn", cancelled)
    _put(store, t, "events", t.event("note_rejected", "bill_acceptor",
                                     {"reason": "inhibit_err", "reason_code": "0x71"}, ts=at(40)))  # next month
    tx = report.build(store, "2026-11", now=at(40))["terminals"][0]["transactions"]
    assert tx["total"] == 3 and tx["by_outcome"] == {"completed": 1, "failed": 1, "cancelled": 1}
    assert tx["success_rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert tx["by_reason"] == {"note_rejected": 1, "customer_cancelled": 1}
    assert tx["device_failures"] == {"note_rejected": 1, "card_read_failed": 1}
