"""Availability from a ledger with known intervals, written through the real Journal/Ledger with a
fake clock: a power cut and reboot (agent_down, the monotonic clock restarting), NTP steps of the
wall clock, a kill without reboot, a clean stop, windows that cut intervals — checked to the second.

The story of the main ledger, in true time from T0 (2026-10-01 00:00 UTC):

  boot 1 (kernel boot kb1): the wall clock is 30 min slow until NTP steps it at 2 h
    0:00   printer online, bill online
    1:00   printer paper_out (userError)       1:15  printer online
    2:00   wall clock stepped +30 min (now correct)
    2:30   bill jam (userError)                2:40  bill online
    3:00   last heartbeat;  3:03:20 power cut (nothing closed)
  boot 2 (kb2), from 3:30, monotonic clock restarted at 20 s
    3:30   the agent starts: crashed intervals closed at 3:00, agent_down 3:00-3:30;
           printer online, bill online
    4:00   now
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.health.availability import (
    device_availability,
    device_figure,
    fault_episodes,
    faults_by_class,
    journal_spans,
    month_bounds,
    terminal_availability,
    terminal_figure,
    timeline,
)
from agent.journal import Journal, iso
from agent.runtime.signing import Signer
from agent.services.inspection import build_report
from drivers.base.clock import FakeClock
from drivers.base.device import DeviceSpec

T0 = datetime(2026, 10, 1, tzinfo=UTC)
KEY = b"k" * 32
H = 3600.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _journal(path: Path, clock: FakeClock, run: str, kboot: str) -> Journal:
    j = Journal(path, KEY, terminal_id="T-1", site="S-1", boot_id=run, clock=clock)
    j.ledger.kboot = kboot  # a kernel boot of its own (the real one is read from /proc)
    return j


def _set(j: Journal, device: str, usable: bool, faults: tuple[str, ...] = ()) -> None:
    j.ledger.transition(device, state="online" if usable else "userError", faults=list(faults),
                        action="none" if usable else "replenish" if "paper_out" in faults else "clear",
                        usable=usable, required=True)


def _advance_to(clock: FakeClock, true_s: float, boot_start_true: float, boot_start_mono: float) -> None:
    clock.advance(boot_start_mono + (true_s - boot_start_true) - clock.monotonic())


@pytest.fixture
def story(tmp_path: Path) -> Journal:
    path = tmp_path / "journal.db"
    c1 = FakeClock(start=1000.0, wall=T0 - timedelta(minutes=30))
    j = _journal(path, c1, "run1", "kb1")

    def to(t: float) -> None:
        _advance_to(c1, t, 0.0, 1000.0)
    _set(j, "printer", True)
    _set(j, "bill", True)
    to(1 * H)
    _set(j, "printer", False, ("paper_out",))
    to(1.25 * H)
    _set(j, "printer", True)
    to(2 * H)
    c1.jump_wall(1800)
    to(2.5 * H)
    _set(j, "bill", False, ("jam",))
    to(2.5 * H + 600)
    _set(j, "bill", True)
    to(3 * H)
    j.ledger.heartbeat()
    to(3 * H + 200)
    j.abandon()  # power cut: nothing closed, no goodbye

    c2 = FakeClock(start=20.0, wall=at(3.5 * H))
    j = _journal(path, c2, "run2", "kb2")
    assert j.ledger.recover_after_crash() == 2
    _set(j, "printer", True)
    _set(j, "bill", True)
    c2.advance(1800)
    return j


def _spans(j: Journal) -> list:
    rows = j.ledger.intervals(iso(T0 - timedelta(days=2)), iso(j.clock.now()))
    return timeline(rows, now=j.clock.now(), now_mono=j.clock.monotonic(), kboot=j.ledger.kboot)


def test_the_corrected_time_line_puts_every_interval_where_it_truly_was(story: Journal) -> None:
    spans = [(s.device, s.state, s.start - T0.timestamp(), s.end - T0.timestamp()) for s in _spans(story)]
    assert spans == [
        ("bill", "online", 0.0, 9000.0), ("bill", "userError", 9000.0, 9600.0), ("bill", "online", 9600.0, 10800.0),
        ("bill", "agent_down", 10800.0, 12600.0), ("bill", "online", 12600.0, 14400.0),
        ("printer", "online", 0.0, 3600.0), ("printer", "userError", 3600.0, 4500.0),
        ("printer", "online", 4500.0, 10800.0), ("printer", "agent_down", 10800.0, 12600.0),
        ("printer", "online", 12600.0, 14400.0),
    ]


def test_device_and_terminal_availability_to_the_second(story: Journal) -> None:
    spans, now = journal_spans(story, T0)
    assert now == at(4 * H)
    p = device_figure(spans, "printer", T0, now, now)
    assert (p.up_s, p.down_s, p.observed_s, p.unobserved_s) == (11700.0, 2700.0, 14400.0, 0.0)
    assert p.value == pytest.approx(11700 / 14400, abs=1e-9)
    b = device_figure(spans, "bill", T0, now, now)
    assert (b.up_s, b.down_s) == (12000.0, 2400.0)
    t = terminal_figure(spans, ["printer", "bill"], T0, now, now)
    assert (t.up_s, t.down_s) == (11100.0, 3300.0)
    # a window that cuts intervals: [1:06:40, 2:46:40) holds 8:20 of paper_out and 10:00 of jam
    lo, hi = at(4000), at(10000)
    assert device_figure(spans, "printer", lo, hi, now).down_s == pytest.approx(500.0)
    assert terminal_figure(spans, ["printer", "bill"], lo, hi, now).down_s == pytest.approx(1100.0)
    # a window that starts before anything was observed counts from the first interval
    assert device_figure(spans, "printer", T0 - timedelta(days=3), now, now).observed_s == pytest.approx(14400.0)
    # a window in the future of now ends at now; one before any observation has no figure
    assert device_figure(spans, "printer", at(3.75 * H), at(10 * H), now).observed_s == pytest.approx(900.0)
    assert device_figure(spans, "printer", T0 - timedelta(days=2), T0 - timedelta(days=1), now).value is None


def test_the_raw_wall_clock_would_have_been_wrong(story: Journal) -> None:
    """Without the monotonic correction the slow clock would hide half an hour of boot 1."""
    rows = story.ledger.intervals(iso(T0 - timedelta(days=1)), iso(story.clock.now()))
    assert rows[0]["start_ts"] == iso(T0 - timedelta(minutes=30))  # as recorded
    assert device_availability([r for r in rows if r["device"] == "printer"], T0, at(4 * H), now=at(4 * H),
                               now_mono=story.clock.monotonic(), kboot="kb2") == pytest.approx(11700 / 14400)
    assert terminal_availability(rows, T0, at(4 * H), ["printer", "bill"], now=at(4 * H),
                                 now_mono=story.clock.monotonic(), kboot="kb2") == pytest.approx(11100 / 14400)


def test_fault_episodes_are_the_raw_material_for_repair_times(story: Journal) -> None:
    spans, now = journal_spans(story, T0)
    eps = fault_episodes(spans, T0, now)
    got = [(e["device"], e["code"], e["start"], e["end"], e["duration_s"], e["action"]) for e in eps]
    assert got == [
        ("printer", "paper_out", "2026-10-01T01:00:00.000Z", "2026-10-01T01:15:00.000Z", 900.0, "replenish"),
        ("bill", "jam", "2026-10-01T02:30:00.000Z", "2026-10-01T02:40:00.000Z", 600.0, "clear"),
        ("bill", "agent_down", "2026-10-01T03:00:00.000Z", "2026-10-01T03:30:00.000Z", 1800.0, "none"),
        ("printer", "agent_down", "2026-10-01T03:00:00.000Z", "2026-10-01T03:30:00.000Z", 1800.0, "none"),
    ]
    by = faults_by_class(fault_episodes(spans, at(4000), now))  # the window cuts the paper_out episode
    assert by["paper_out"] == {"episodes": 1, "total_s": 500.0, "longest_s": 900.0, "devices": ["printer"],
                               "action": "replenish"}
    assert by["agent_down"]["episodes"] == 2 and by["agent_down"]["total_s"] == 3600.0


def test_an_episode_spans_intervals_while_its_code_lasts(tmp_path: Path) -> None:
    clock = FakeClock(start=0.0, wall=T0)
    j = _journal(tmp_path / "j.db", clock, "r", "kb")
    _set(j, "printer", False, ("paper_out",))
    clock.advance(60)
    _set(j, "printer", False, ("cover_open", "paper_out"))  # the engineer opens the cover to load paper
    clock.advance(30)
    _set(j, "printer", False, ("cover_open",))
    clock.advance(10)
    _set(j, "printer", True)
    clock.advance(100)
    spans, now = journal_spans(j, T0)
    eps = {e["code"]: (e["duration_s"], e["end"]) for e in fault_episodes(spans, T0, now)}
    assert eps == {"paper_out": (90.0, "2026-10-01T00:01:30.000Z"), "cover_open": (40.0, "2026-10-01T00:01:40.000Z")}
    _set(j, "printer", False, ("paper_out",))
    clock.advance(5)
    spans, now = journal_spans(j, T0)
    last = fault_episodes(spans, T0, now)[-1]
    assert last["end"] is None and last["duration_s"] == 5.0  # still open: no end yet


def test_a_kill_without_reboot_and_a_step_back_keep_the_monotonic_durations(tmp_path: Path) -> None:
    """Same kernel boot: the agent is killed, the wall clock is stepped back 10 min while it is down,
    it restarts 10 min later. On the wall clock the restart is at the very instant of the last
    heartbeat, so the ledger writes no agent_down row; the corrected line still shows the 10 min
    gap (unobserved, counted against), and the open interval lasts what the monotonic clock says."""
    path = tmp_path / "j.db"
    clock = FakeClock(start=500.0, wall=T0 + timedelta(minutes=10))  # 10 min fast
    j = _journal(path, clock, "run1", "kb")
    _set(j, "printer", True)
    clock.advance(3600)
    j.ledger.heartbeat()
    clock.advance(5)
    j.abandon()  # kill -9
    clock.advance(595)
    clock.jump_wall(-600)  # NTP corrects the clock while the agent is down
    j = _journal(path, clock, "run2", "kb")
    assert j.ledger.recover_after_crash() == 1
    _set(j, "printer", True)
    clock.advance(1800)
    spans, now = journal_spans(j, T0 - timedelta(days=1))
    got = [(s.state, s.start - T0.timestamp(), s.end - T0.timestamp()) for s in spans]
    assert got == [("online", 0.0, 3600.0), ("online", 4200.0, 6000.0)]
    f = device_figure(spans, "printer", T0, now, now)
    assert (f.up_s, f.down_s, f.unobserved_s) == (5400.0, 600.0, 600.0)


def test_a_kill_with_agent_down_and_a_step_back(tmp_path: Path) -> None:
    """As above but down 20 min: the ledger's agent_down row is placed on the corrected line."""
    path = tmp_path / "j.db"
    clock = FakeClock(start=500.0, wall=T0 + timedelta(minutes=10))
    j = _journal(path, clock, "run1", "kb")
    _set(j, "printer", True)
    clock.advance(3600)
    j.ledger.heartbeat()
    clock.advance(1200)
    j.abandon()  # kill -9: nothing of a clean stop
    clock.jump_wall(-600)
    j = _journal(path, clock, "run2", "kb")
    j.ledger.recover_after_crash()
    _set(j, "printer", True)
    clock.advance(1800)
    spans, now = journal_spans(j, T0 - timedelta(days=1))
    got = [(s.state, s.start - T0.timestamp(), s.end - T0.timestamp()) for s in spans]
    assert got == [("online", 0.0, 3600.0), ("agent_down", 3600.0, 4800.0), ("online", 4800.0, 6600.0)]
    f = device_figure(spans, "printer", T0, now, now)
    assert (f.up_s, f.down_s, f.unobserved_s) == (5400.0, 1200.0, 0.0)


def test_a_clean_stop_is_unobserved_time_and_counts_against(tmp_path: Path) -> None:
    clock = FakeClock(start=0.0, wall=T0)
    j = _journal(tmp_path / "j.db", clock, "run1", "kb")
    _set(j, "printer", True)
    clock.advance(1000)
    j.ledger.close_open()  # systemctl stop
    j.close()
    clock.advance(200)
    j = _journal(tmp_path / "j.db", clock, "run2", "kb")
    _set(j, "printer", True)
    clock.advance(800)
    spans, now = journal_spans(j, T0)
    f = device_figure(spans, "printer", T0, now, now)
    assert (f.up_s, f.down_s, f.unobserved_s) == (1800.0, 200.0, 200.0)


def test_the_terminal_needs_every_required_device_observed_by_then(tmp_path: Path) -> None:
    clock = FakeClock(start=0.0, wall=T0)
    j = _journal(tmp_path / "j.db", clock, "r", "kb")
    _set(j, "printer", True)
    clock.advance(1000)
    _set(j, "scanner", True)  # a device added by a reload: before it there was nothing to require
    clock.advance(500)
    _set(j, "scanner", False, ("no_response",))
    clock.advance(100)
    _set(j, "scanner", True)
    clock.advance(400)
    spans, now = journal_spans(j, T0)
    t = terminal_figure(spans, ["printer", "scanner", "never_seen"], T0, now, now)
    assert (t.up_s, t.down_s, t.observed_s) == (1900.0, 100.0, 2000.0)
    assert terminal_figure(spans, [], T0, now, now).value is None


def test_reading_the_journal_with_the_daemon_stopped_ends_stale_intervals_at_the_heartbeat(tmp_path: Path) -> None:
    clock = FakeClock(start=0.0, wall=T0)
    j = _journal(tmp_path / "j.db", clock, "r", "kb")
    _set(j, "printer", True)
    clock.advance(600)
    j.ledger.heartbeat()
    clock.advance(10)
    j.abandon()  # the daemon died
    clock.advance(290)
    j = _journal(tmp_path / "j.db", clock, "inspect", "kb")
    spans, now = journal_spans(j, T0, agent_running=False)
    assert [(s.state, s.start - T0.timestamp(), s.end - T0.timestamp()) for s in spans] == [
        ("online", 0.0, 600.0), ("agent_down", 600.0, 900.0)]
    assert j.ledger.intervals(iso(T0), iso(now))[0]["open"]  # read only: the ledger is left as it was


def test_month_bounds() -> None:
    now = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
    (a, b), (c, d) = month_bounds(now)
    assert (a, b) == (datetime(2026, 3, 1, tzinfo=UTC), now) and (c, d) == (datetime(2026, 2, 1, tzinfo=UTC), a)
    (a, _), (c, _) = month_bounds(datetime(2026, 1, 2, tzinfo=UTC))
    assert (a.year, a.month, c.year, c.month) == (2026, 1, 2025, 12)


def test_the_inspection_report_figures_for_this_and_last_month(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Ledger across a month boundary (UTC terminal): 1 h of paper_out in September, a reboot gap
    of 10 min in October; the report's monthly figures, episodes and checklist to the second."""
    monkeypatch.setenv("TZ", "UTC")  # calendar months are the terminal's local ones
    time.tzset()
    sep30 = datetime(2026, 9, 30, tzinfo=UTC)
    clock = FakeClock(start=100.0, wall=sep30)
    j = _journal(tmp_path / "j.db", clock, "run1", "kb1")
    _set(j, "printer", True)
    _set(j, "bill", True)
    clock.advance(12 * H)
    _set(j, "printer", False, ("paper_out",))
    clock.advance(H)
    _set(j, "printer", True)
    clock.advance(11 * H + 2 * H)  # into October 02:00
    j.ledger.heartbeat()
    j.abandon()  # kill -9: nothing of a clean stop
    clock2 = FakeClock(start=5.0, wall=datetime(2026, 10, 1, 2, 10, tzinfo=UTC))
    j = _journal(tmp_path / "j.db", clock2, "run2", "kb2")
    j.ledger.recover_after_crash()
    _set(j, "printer", True)
    _set(j, "bill", True)
    clock2.advance(22 * H - 600)  # now: 2026-10-02 00:00
    cfg = SimpleNamespace(terminal=SimpleNamespace(id="T-1", site="S-1"), devices=[
        DeviceSpec("printer", "receipt_printer", "escpos", "/dev/null"),
        DeviceSpec("bill", "bill_acceptor", "id003", "/dev/null"),
        DeviceSpec("scanner", "barcode_scanner", "x", "/dev/null", required=False, enabled=False)])
    selftest = {"ok": True, "terminal_id": "T-1", "level": "internal", "results": []}
    rep = build_report(cfg, j, signer=Signer(bytes(32)), selftest=selftest, engineer="王工",
                       checks=["exterior", "custom"], counters={},
                       system={"disk_free_mb": 1.0}, now=clock2.now().astimezone(UTC))
    this, last = rep["availability"]["this_month"], rep["availability"]["last_month"]
    assert this["from"] == "2026-10-01T00:00:00.000Z" and last["from"] == "2026-09-01T00:00:00.000Z"
    assert this["terminal"]["down_s"] == 600.0 and this["terminal"]["observed_s"] == 24 * H
    assert this["terminal"]["value"] == pytest.approx(1 - 600 / 86400, abs=1e-6) and this["terminal"]["met"]
    assert last["devices"]["printer"]["down_s"] == H and last["devices"]["printer"]["observed_s"] == 24 * H
    assert last["terminal"]["value"] == pytest.approx(23 / 24, abs=1e-6) and last["terminal"]["met"] is False
    assert last["devices"]["bill"]["value"] == 1.0 and this["devices"]["scanner"]["value"] is None
    by = rep["faults_30d"]["by_class"]
    assert by["paper_out"]["total_s"] == H and by["agent_down"]["total_s"] == 1200.0  # two devices, 10 min each
    assert {c["item"]: c["confirmed"] for c in rep["checklist"]} == {
        "exterior": True, "print_head_cleaned": False, "note_path_cleaned": False, "card_reader_cleaned": False,
        "two_transactions_followed": False, "custom": True}
    j.close()
