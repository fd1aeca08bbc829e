"""Availability from a ledger with known intervals: reboots (agent_down), clock jumps, windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.availability import device_availability, terminal_availability
from agent.inspection import fault_episodes, faults_by_class, month_bounds
from agent.journal import Journal
from agent.journal.store import iso
from drivers.base.clock import FakeClock

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def iv(device: str, start_h: float, end_h: float, usable: bool, faults: list[str] | None = None,
       mono: tuple[float, float] | None = None, state: str | None = None) -> dict:
    return {"device": device, "state": state or ("online" if usable else "userError"), "faults": faults or [],
            "action": "replenish" if faults else "none", "usable": usable, "required": True,
            "start_ts": iso(T0 + timedelta(hours=start_h)), "end_ts": iso(T0 + timedelta(hours=end_h)),
            "start_mono": mono[0] if mono else None, "end_mono": mono[1] if mono else None, "open": False}


def test_device_availability_to_the_second() -> None:
    ivs = [iv("printer", 0, 100, True), iv("printer", 100, 102, False, ["paper_out"]), iv("printer", 102, 200, True)]
    a = device_availability(ivs, T0, T0 + timedelta(hours=200))
    assert a == pytest.approx(198 / 200)
    # a window that cuts intervals: [99 h, 103 h) holds 2 h down of 4 h
    assert device_availability(ivs, T0 + timedelta(hours=99), T0 + timedelta(hours=103)) == pytest.approx(0.5)
    assert device_availability([], T0, T0 + timedelta(hours=1)) is None


def test_a_reboot_gap_counts_as_unavailable() -> None:
    ivs = [iv("printer", 0, 10, True), iv("printer", 10, 11, False, state="agent_down"), iv("printer", 11, 20, True)]
    assert device_availability(ivs, T0, T0 + timedelta(hours=20)) == pytest.approx(19 / 20)


def test_a_wall_clock_jump_inside_an_interval_is_measured_on_the_monotonic_clock() -> None:
    # the wall clock jumped forward 5 h during the second interval; the monotonic clock says 1 h
    ivs = [iv("printer", 0, 1, True, mono=(0, 3600)), iv("printer", 1, 7, False, ["cover_open"], mono=(3600, 7200))]
    assert device_availability(ivs, T0, T0 + timedelta(hours=7)) == pytest.approx(0.5)


def test_terminal_availability_needs_every_required_device() -> None:
    ivs = [iv("printer", 0, 10, True), iv("bill", 0, 4, True), iv("bill", 4, 5, False, ["jam"]),
           iv("bill", 5, 10, True), iv("printer", 10, 12, False, ["paper_out"]), iv("bill", 10, 12, True)]
    assert terminal_availability(ivs, T0, T0 + timedelta(hours=12), ["printer", "bill"]) == pytest.approx(9 / 12)
    assert terminal_availability(ivs, T0, T0 + timedelta(hours=12), ["bill"]) == pytest.approx(11 / 12)


def test_fault_episodes_and_classes() -> None:
    ivs = [iv("printer", 0, 1, True), iv("printer", 1, 2, False, ["paper_out"]), iv("bill", 3, 3.5, False, ["jam"]),
           iv("printer", 5, 6, False, ["paper_out"])]
    eps = fault_episodes(ivs, T0, T0 + timedelta(hours=10))
    by = faults_by_class(eps)
    assert by["paper_out"]["episodes"] == 2 and by["paper_out"]["total_s"] == 7200.0
    assert by["jam"]["devices"] == ["bill"] and by["jam"]["total_s"] == 1800.0


def test_month_bounds() -> None:
    now = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
    (a, b), (c, d) = month_bounds(now)
    assert (a.day, a.month, b) == (1, 3, now) and (c.day, c.month, d) == (1, 2, a)


def test_ledger_survives_a_crash_and_a_clock_jump(tmp_path: Path) -> None:
    clock = FakeClock(wall=T0)
    j = Journal(tmp_path / "j.db", b"k" * 32, terminal_id="T", site="S", boot_id="run1", clock=clock)
    j.ledger.transition("printer", state="online", faults=[], action="none", usable=True, required=True)
    clock.advance(3600)
    j.ledger.heartbeat()
    clock.advance(1800)  # the agent dies here without closing its interval (kill -9 / power cut)
    j.conn.close()
    clock.advance(1800)  # down for half an hour before it comes back
    j = Journal(tmp_path / "j.db", b"k" * 32, terminal_id="T", site="S", boot_id="run2", clock=clock)
    assert j.ledger.recover_after_crash() == 1
    j.ledger.transition("printer", state="online", faults=[], action="none", usable=True, required=True)
    clock.advance(1800)
    clock.jump_wall(-600)  # NTP steps the wall clock back 10 minutes
    clock.advance(1800)
    rows = j.ledger.intervals(iso(T0 - timedelta(days=1)), iso(T0 + timedelta(days=1)), "printer")
    states = [r["state"] for r in rows]
    assert states == ["online", "agent_down", "online"]
    # the crashed interval ends at the last heartbeat; the gap to the restart is agent_down
    assert rows[0]["end_ts"] == iso(T0 + timedelta(hours=1))
    a = device_availability(rows, T0, clock.now())
    # 1 h up + 1 h agent_down (after the last heartbeat) + the open new run, measured on the wall
    # clock until it closes: 1 h minus the 10-minute step back = 50 min
    assert a == pytest.approx(110 / 170, abs=0.005)
    j.close()
