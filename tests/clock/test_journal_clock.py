"""Ages under wall-clock jumps, at the store level with a FakeClock (the daemon-level form of
retention would need days of waiting): the offline age limit, the queue's oldest age, the
fleet-ack resend and retention are measured on the journal clock, so an NTP step of the wall
clock neither ages nor rejuvenates anything; seq stays the only order.

Every jump here moves only the wall clock (``FakeClock.jump_wall``), as an NTP step does;
``advance`` is real time passing (both clocks)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config import OfflineLimit
from agent.journal import Journal
from agent.journal.jclock import JournalClock, Reading, age_s, resume
from agent.services.limits import LimitExceeded, OfflineLimits
from drivers.base.clock import FakeClock

KEY = b"k" * 32
DAY = 86400.0


def _journal(path: Path, clock: FakeClock, *, kboot: str = "kb1", retention_days: float = 30.0,
             boot_id: str = "b1") -> Journal:
    return Journal(path, KEY, terminal_id="T-CLK", site="S", boot_id=boot_id, clock=clock, min_free_mb=0,
                   retention_days=retention_days, kboot=kboot)


def _txn(i: int, method: str = "unionpay", amount: int = 100) -> dict[str, object]:
    return {"txn_id": f"tx-{i:05d}", "kind": "payment", "amount": amount, "method": method}


def _settle_all(j: Journal) -> list[int]:
    seqs = [r.seq for r in j.lease(0, 1000)]
    j.mark_delivered(seqs, fleet_ack=False)
    return seqs


def _count(j: Journal, where: str = "1") -> int:
    with closing(sqlite3.connect(f"file:{j.path}?mode=ro", uri=True)) as ro:
        return int(ro.execute(f"SELECT COUNT(*) FROM outbox WHERE {where}").fetchone()[0])


def _rewrite(j: Journal, sql: str) -> None:
    """Change rows behind the journal's back (as an older version of the agent left them)."""
    with closing(sqlite3.connect(j.path)) as rw, rw:
        rw.execute(sql)


# -- the offline age limit and the queue's oldest age ----------------------------------------------
def test_a_forward_jump_does_not_trip_the_offline_age_limit_and_real_time_does(tmp_path, fake_clock):
    j = _journal(tmp_path / "j.db", fake_clock)
    limits = OfflineLimits((OfflineLimit("unionpay", max_age_s=2.0),), j)
    j.submit_txn(_txn(1), offline=True)
    fake_clock.jump_wall(400 * DAY)  # NTP returns after a year with a flat RTC battery
    limits.check("unionpay", 100)  # a fresh backlog: not refused
    assert limits.exposure("unionpay")[2] == 0.0
    assert j.stats()["oldest_age_s"] == 0.0
    j.submit_txn(_txn(2), offline=True)
    fake_clock.advance(2.5)  # real time passes beyond max_age_s
    with pytest.raises(LimitExceeded) as exc:
        limits.check("unionpay", 100)
    assert exc.value.code == "offline_age_limit"
    assert limits.exposure("unionpay") == (2, 200, pytest.approx(2.5))
    assert j.stats()["oldest_age_s"] == pytest.approx(2.5)
    status = limits.status(online=False)
    assert status["mode"] == "restricted" and status["methods"]["unionpay"]["oldest_age_s"] == 2.5
    j.close()


def test_a_backward_jump_does_not_hide_an_old_backlog(tmp_path, fake_clock):
    j = _journal(tmp_path / "j.db", fake_clock)
    limits = OfflineLimits((OfflineLimit("unionpay", max_age_s=3600.0),), j)
    j.submit_txn(_txn(1), offline=True)
    fake_clock.advance(2 * 3600)
    fake_clock.jump_wall(-3 * DAY)  # the wall clock now says the backlog is from the future
    j.submit_txn(_txn(2, method="cash"), offline=True)
    with pytest.raises(LimitExceeded):
        limits.check("unionpay", 100)
    assert j.stats()["oldest_age_s"] == pytest.approx(7200.0)
    # the oldest is the lowest seq, not the lowest (jumped) ts: tx-2's ts is three days earlier
    assert j.get_txn("tx-00002")["ts"] < j.get_txn("tx-00001")["ts"]
    assert [r.seq for r in j.records()] == [1, 2]
    j.close()


def test_ages_survive_a_restart_in_the_same_kernel_boot_and_a_reboot(tmp_path, fake_clock):
    path = tmp_path / "j.db"
    j = _journal(path, fake_clock)
    j.submit_txn(_txn(1), offline=True)
    fake_clock.advance(100)
    j.close()
    fake_clock.advance(50)  # agent restarted: the monotonic clock went on, the wall clock jumped
    fake_clock.jump_wall(200 * DAY)
    j = _journal(path, fake_clock, boot_id="b2")
    assert j.stats()["oldest_age_s"] == pytest.approx(150.0)
    j.ledger.heartbeat()
    fake_clock.advance(10)
    j.abandon()  # a power cut: no clean close, the last heartbeat is what was saved
    # reboot: a new kernel boot, the monotonic clock starts again; the wall clock is right again
    # (the +200 days were corrected) and 1 h passed in real time
    wall = fake_clock.now() - timedelta(days=200) + timedelta(hours=1)
    rebooted = FakeClock(start=5.0, wall=wall)
    j = _journal(path, rebooted, kboot="kb2", boot_id="b3")
    # the downtime is measured on the wall clock from the last saved reading (the heartbeat, whose
    # wall clock was 200 days ahead): negative, so clamped at 0. What is lost is the downtime and
    # the 10 s since the last heartbeat, never more; the age never goes backwards.
    assert j.stats()["oldest_age_s"] == pytest.approx(150.0)
    rebooted.advance(30)
    assert j.stats()["oldest_age_s"] == pytest.approx(180.0)
    j.close()
    # a reboot with a wall clock that is right: the downtime counts
    clock3 = FakeClock(start=3.0, wall=rebooted.now() + timedelta(hours=2))
    j = _journal(path, clock3, kboot="kb3", boot_id="b4")
    assert j.stats()["oldest_age_s"] == pytest.approx(180.0 + 7200.0)
    j.close()


def test_rows_from_before_the_journal_clock_fall_back_to_wall_time(tmp_path, fake_clock):
    j = _journal(tmp_path / "j.db", fake_clock)
    j.submit_txn(_txn(1), offline=True)
    _rewrite(j, "UPDATE outbox SET jt = NULL")  # as migration 0003 leaves older rows
    fake_clock.advance(10)
    assert j.stats()["oldest_age_s"] == pytest.approx(10.0)
    fake_clock.jump_wall(-DAY)  # wall age negative: clamped, and at least the journal clock's age
    assert j.stats()["oldest_age_s"] == pytest.approx(10.0)
    fake_clock.jump_wall(2 * DAY)
    assert j.stats()["oldest_age_s"] == pytest.approx(DAY + 10.0)
    j.close()


# -- fleet-ack resend ----------------------------------------------------------------------------
def test_unacked_resend_is_timed_on_the_journal_clock(tmp_path, fake_clock):
    j = _journal(tmp_path / "j.db", fake_clock)
    j.submit_txn(_txn(1), offline=False)
    j.mark_delivered([r.seq for r in j.lease(0, 10)], fleet_ack=True)
    fake_clock.jump_wall(400 * DAY)
    assert j.lease_unacked(60.0, 10) == []  # not resent just because the wall clock leapt
    fake_clock.jump_wall(-403 * DAY)
    fake_clock.advance(61)
    assert [r.seq for r in j.lease_unacked(60.0, 10)] == [1]  # and resent though it went back
    j.close()


# -- retention -----------------------------------------------------------------------------------
def test_retention_ignores_wall_jumps_and_follows_real_time(tmp_path, fake_clock):
    j = _journal(tmp_path / "j.db", fake_clock, retention_days=1.0)
    for i in range(3):
        j.submit_txn(_txn(i), offline=False)
    _settle_all(j)
    fake_clock.jump_wall(400 * DAY)
    assert j.prune() == 0 and _count(j) == 3  # settled minutes ago: kept, whatever the wall says
    fake_clock.jump_wall(-403 * DAY)
    fake_clock.advance(DAY - 60)
    assert j.prune() == 0
    fake_clock.advance(61)  # their real age passes retention, though the wall clock is days behind
    assert j.prune() == 3 and _count(j) == 0
    j.close()


def test_retention_never_prunes_anything_unsettled(tmp_path, fake_clock):
    j = _journal(tmp_path / "j.db", fake_clock, retention_days=1.0)
    j.submit_txn(_txn(1), offline=True)          # stays queued
    j.submit_txn(_txn(2), offline=False)         # will be dead
    j.submit_txn(_txn(3), offline=False)         # sent, awaiting the fleet
    j.submit_txn(_txn(4), offline=False)         # settled
    j.mark_failed(2, "rejected", final=True, max_attempts=0)
    j.mark_delivered([3], fleet_ack=True)
    j.mark_delivered([4], fleet_ack=False)
    fake_clock.jump_wall(400 * DAY)
    fake_clock.advance(3 * DAY)
    assert j.prune() == 1
    assert {r.record_id: r.state for r in j.records()} == {"tx-00001": "queued", "tx-00002": "dead",
                                                          "tx-00003": "sent"}
    j.close()


def test_retention_of_rows_settled_before_the_journal_clock(tmp_path, fake_clock):
    j = _journal(tmp_path / "j.db", fake_clock, retention_days=1.0)
    j.submit_txn(_txn(1), offline=False)
    _settle_all(j)
    _rewrite(j, "UPDATE outbox SET jt = NULL, sent_jt = NULL, settled_jt = NULL")
    fake_clock.jump_wall(-10 * DAY)
    assert j.prune() == 0
    fake_clock.advance(DAY + 1)  # at least as old as the journal clock, which is past retention
    assert j.prune() == 1
    j.close()


# -- properties ----------------------------------------------------------------------------------
_step = st.one_of(
    st.tuples(st.just("advance"), st.floats(0, 5 * DAY)),
    st.tuples(st.just("jump"), st.floats(-800 * DAY, 800 * DAY)),
    st.tuples(st.just("restart"), st.floats(0, DAY)),                       # same kernel boot
    st.tuples(st.just("reboot"), st.floats(0, 30 * DAY), st.floats(-400 * DAY, 400 * DAY)),
)


@settings(max_examples=300)
@given(st.lists(_step, max_size=30))
def test_journal_time_never_runs_backwards_and_errs_only_by_reboot_wall_errors(steps):
    """Over any sequence of real time passing, wall-clock steps, agent restarts and reboots (each
    with a wall clock wrong by some amount afterwards): journal time never decreases, an age is
    never negative, and it differs from the real elapsed time only by the wall-clock error
    across reboots (never more than the forward errors, never less than real time minus the
    downtimes of reboots). Within one kernel boot it is exact."""
    clock = FakeClock(start=10.0)
    kboot, boots = "k0", 0
    jc = JournalClock(clock, kboot, None)
    real = 0.0            # real seconds since the start
    wall_err = 0.0        # wall clock minus the truth
    over, under = 0.0, 0.0  # the most a reboot's wall estimate may add, or lose, in total
    last = jc.now()
    for step in steps:
        if step[0] == "advance":
            clock.advance(step[1])
            real += step[1]
        elif step[0] == "jump":
            clock.jump_wall(step[1])
            wall_err += step[1]
        else:
            saved = jc.reading()
            down = step[1]
            if step[0] == "restart":
                clock.advance(down)
                real += down
            else:
                boots += 1
                kboot = f"k{boots}"
                new_err = step[2]
                wall = clock.now() + timedelta(seconds=down + new_err - wall_err)
                clock = FakeClock(start=float(boots), wall=wall)
                estimated = max(0.0, down + new_err - wall_err)
                over += max(0.0, estimated - down)
                under += max(0.0, down - estimated)
                wall_err = new_err
                real += down
            jc = JournalClock(clock, kboot, Reading.loads(saved.dumps()))
        now = jc.now()
        assert now >= last
        last = now
        assert real - under - 1e-3 <= now <= real + over + 1e-3
        assert age_s(now, 0.0, wall_age_s=-5.0) >= 0.0
    if boots == 0:
        assert jc.now() == pytest.approx(real, abs=1e-3)


def test_resume_without_a_saved_reading_or_an_unknown_kernel_boot():
    assert resume(None, kboot="k", mono=50.0, wall=1e9) == 0.0
    saved = Reading(jt=100.0, mono=1000.0, wall=1e9, kboot="unknown")
    # an unknown kernel boot id cannot vouch for the monotonic clock: the wall clock measures
    assert resume(saved, kboot="unknown", mono=5.0, wall=1e9 + 60) == 160.0
    assert resume(saved, kboot="unknown", mono=5.0, wall=1e9 - 60) == 100.0
    assert Reading.loads("not json") is None and Reading.loads(None) is None
