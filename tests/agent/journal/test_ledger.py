"""agent/journal/ledger.py on its own: built from the journal's database and clocks (no Journal),
with a fake clock. Device intervals, crash recovery, meta values, the health-sample ring and the
lifetime counters."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from agent.journal.db import JournalDb
from agent.journal.jclock import META_KEY, JournalClock, Reading
from agent.journal.ledger import Ledger
from drivers.base.clock import FakeClock


@pytest.fixture
def jdb(tmp_path: Path) -> Iterator[JournalDb]:
    db = JournalDb(tmp_path / "j.db")
    yield db
    db.close()


def _ledger(jdb: JournalDb, clock: FakeClock, boot_id: str = "run1", samples: int = 100) -> Ledger:
    return Ledger(jdb, clock=clock, jclock=JournalClock(clock, "kb", None), boot_id=boot_id, kboot="kb",
                  health_samples_max=samples)


def _transition(ledger: Ledger, device: str, state: str, *, usable: bool = True) -> None:
    ledger.transition(device, state=state, faults=[] if usable else ["jam"], action="none" if usable else "clear",
                      usable=usable, required=True)


def test_a_transition_closes_the_open_interval_and_opens_the_next(jdb: JournalDb) -> None:
    clock = FakeClock()
    ledger = _ledger(jdb, clock)
    _transition(ledger, "printer", "online")
    clock.advance(60)
    _transition(ledger, "printer", "fault", usable=False)
    clock.advance(30)
    rows = ledger.intervals("2025-01-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z", device="printer")
    assert [(r["state"], r["open"]) for r in rows] == [("online", False), ("fault", True)]
    first, second = rows
    assert first["end_ts"] == second["start_ts"] == "2026-01-01T00:01:00.000Z"
    assert first["end_mono"] - first["start_mono"] == 60  # monotonic durations survive wall steps
    assert second["faults"] == ["jam"] and second["usable"] is False and second["required"] is True
    assert second["end_ts"] == "2026-01-01T00:01:30.000Z"  # an open interval ends "now"
    assert ledger.intervals("2025-01-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z", device="scanner") == []


def test_after_a_crash_open_intervals_end_at_the_last_heartbeat_and_the_gap_is_agent_down(
        jdb: JournalDb) -> None:
    clock = FakeClock()
    run1 = _ledger(jdb, clock, "run1")
    _transition(run1, "printer", "online")
    clock.advance(100)
    run1.heartbeat()  # the last sign of life: 00:01:40
    clock.advance(500)  # the agent is dead for 500 s, then starts again
    run2 = _ledger(jdb, clock, "run2")
    assert run2.recover_after_crash() == 1
    rows = run2.intervals("2025-01-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z")
    assert [(r["state"], r["start_ts"], r["end_ts"]) for r in rows] == [
        ("online", "2026-01-01T00:00:00.000Z", "2026-01-01T00:01:40.000Z"),
        ("agent_down", "2026-01-01T00:01:40.000Z", "2026-01-01T00:10:00.000Z")]
    assert rows[0]["end_mono"] is None  # ended by another run: its monotonic clock is not ours
    assert run2.close_open() == 0  # nothing left open


def test_heartbeat_saves_the_journal_clock_and_the_time_in_one_commit(jdb: JournalDb, tmp_path: Path) -> None:
    clock = FakeClock()
    ledger = _ledger(jdb, clock)
    clock.advance(42)
    ledger.heartbeat()
    with closing(sqlite3.connect(f"file:{tmp_path / 'j.db'}?mode=ro", uri=True)) as ro:
        saved = dict(ro.execute("SELECT key, value FROM meta").fetchall())
    assert saved["last_alive_ts"] == "2026-01-01T00:00:42.000Z"
    reading = Reading.loads(saved[META_KEY])
    assert reading is not None and reading.jt == 42 and reading.kboot == "kb"


def test_meta_set_get_delete(jdb: JournalDb) -> None:
    ledger = _ledger(jdb, FakeClock())
    assert ledger.meta_get("k") is None
    ledger.meta_set("k", "1")
    ledger.meta_set("k", "2")
    assert ledger.meta_get("k") == "2"
    assert ledger.meta_delete("k") is True
    assert ledger.meta_delete("k") is False
    assert ledger.meta_get("k") is None


def test_the_health_ring_keeps_the_newest_and_sheds_the_oldest(jdb: JournalDb) -> None:
    ledger = _ledger(jdb, FakeClock(), samples=10)
    for i in range(25):
        ledger.add_health_sample({"ts": f"t{i:02d}", "i": i})
    assert [d["i"] for d in ledger.health_samples(limit=100)] == list(range(24, 14, -1))
    assert ledger.shed_health_samples(0.5) == 5
    assert [d["i"] for d in ledger.health_samples(limit=100)] == list(range(24, 19, -1))
    assert ledger.shed_health_samples(1.0) == 5 and ledger.shed_health_samples() == 0


def test_counters_add_up_per_device_and_name(jdb: JournalDb) -> None:
    ledger = _ledger(jdb, FakeClock())
    ledger.add_counters("printer", {"cuts": 3, "lines": 0})
    ledger.add_counters("printer", {"cuts": 2})
    ledger.add_counters("bill", {"notes": 1})
    ledger.add_counters("bill", {})
    assert ledger.counters() == {"bill": {"notes": 1}, "printer": {"cuts": 5}}
