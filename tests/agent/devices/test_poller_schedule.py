"""DevicePoller, stepped on a FakeClock: the first poll, the poll grid, refreshes, the reopen
backoff and the settings it refuses."""

from __future__ import annotations

import random

import pytest

from agent.devices.poller import DevicePoller
from drivers.base.clock import FakeClock
from drivers.base.errors import TransportError
from drivers.base.health import (
    DeviceState,
)
from tests.agent import BUSY, ONLINE, ScriptedDriver
from tests.agent.devices.stepping import make, run_steps, states


# -- first poll and schedule ---------------------------------------------------------------------
def test_first_step_announces_starting_then_opens_and_polls(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock)
    poller, calls = make(driver, fake_clock)
    assert poller.snapshot.state is DeviceState.STARTING
    t0 = fake_clock.monotonic()

    delay = poller.step()

    assert (driver.opens, driver.polls) == (1, 1)
    assert delay == pytest.approx(5.0)
    snap = poller.snapshot
    assert snap.state is DeviceState.ONLINE and snap.faults == ()
    assert snap.detail == {"paper": "ok"}
    assert snap.last_ok_mono == t0 and snap.consecutive_failures == 0 and snap.last_error is None
    assert snap.since == fake_clock.now()
    assert (snap.name, snap.device_class, snap.required) == ("dev", "fake", True)
    assert states(calls) == ["starting", "online"]
    assert calls[0][1] is None and calls[1][1] is not None and calls[1][1].state is DeviceState.STARTING
    assert snap.health_entry() == {"class": "fake", "state": "online", "faults": [],
                                   "since": "2026-01-01T00:00:00+00:00", "detail": {"paper": "ok"}}


def test_step_before_due_does_nothing(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock)
    poller, _ = make(driver, fake_clock)
    poller.step()
    fake_clock.advance(2.0)
    assert poller.step() == pytest.approx(3.0)
    assert driver.polls == 1
    fake_clock.advance(3.0)
    poller.step()
    assert driver.polls == 2


def test_period_does_not_drift_with_poll_duration(fake_clock: FakeClock) -> None:
    # every poll takes 0.7 s; the polls still start exactly every 5 s
    driver = ScriptedDriver(clock=fake_clock, poll_cost_s=0.7)
    poller, _ = make(driver, fake_clock)
    t0 = fake_clock.monotonic()
    run_steps(poller, fake_clock, 50)
    assert driver.poll_times == pytest.approx([t0 + 5.0 * k for k in range(50)])


def test_jittered_polls_stay_on_the_grid(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, poll_cost_s=0.3)
    poller, _ = make(driver, fake_clock, jitter=0.1, rng=random.Random(1))
    t0 = fake_clock.monotonic()
    run_steps(poller, fake_clock, 300)
    offsets = [t - (t0 + 5.0 * k) for k, t in enumerate(driver.poll_times)]
    assert all(abs(o) <= 0.5 + 1e-9 for o in offsets)  # never more than 10 % off its grid point
    assert max(offsets) > 0.2 and min(offsets) < -0.2  # and the jitter is really applied
    assert len({round(o, 6) for o in offsets}) > 250


def test_overrun_skips_missed_grid_points_instead_of_bursting(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, poll_cost_s=12.0)  # longer than two intervals
    poller, _ = make(driver, fake_clock)
    t0 = fake_clock.monotonic()
    delays = run_steps(poller, fake_clock, 4)
    assert delays == pytest.approx([3.0] * 4)  # 12 s poll, next grid point 15 s after the last
    assert driver.poll_times == pytest.approx([t0, t0 + 15, t0 + 30, t0 + 45])


def test_busy_device_shortens_the_interval(fake_clock: FakeClock) -> None:
    # a bill acceptor holding a note in escrow asks for fast polls, then goes back to 5 s
    driver = ScriptedDriver(clock=fake_clock, busy_interval_s=0.2, script=[ONLINE, BUSY, BUSY, ONLINE])
    poller, calls = make(driver, fake_clock)
    delays = run_steps(poller, fake_clock, 5)
    assert delays == pytest.approx([5.0, 0.2, 0.2, 5.0, 5.0])
    assert states(calls) == ["starting", "online", "deviceBusy", "online"]


def test_request_refresh_polls_now(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock)
    poller, _ = make(driver, fake_clock)
    poller.step()
    fake_clock.advance(1.0)
    poller.request_refresh()
    assert poller.step() == pytest.approx(5.0)  # re-anchored on the refresh
    assert driver.polls == 2
    assert poller.step() == pytest.approx(5.0)
    assert driver.polls == 2


def test_backoff_doubles_and_caps_without_jitter(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, open_errors=[TransportError("refused")] * 12)
    poller, _ = make(driver, fake_clock, backoff_min_s=1.0, backoff_max_s=60.0)
    delays = run_steps(poller, fake_clock, 12)
    assert delays == pytest.approx([1, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60, 60])
    assert driver.opens == 12
    poller.step()
    assert poller.snapshot.state is DeviceState.ONLINE


def test_backoff_jitter_bounds(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, open_errors=[TransportError("refused")] * 400)
    poller, _ = make(driver, fake_clock, backoff_min_s=0.5, backoff_max_s=30.0, jitter=0.2,
                     rng=random.Random(3))
    delays = run_steps(poller, fake_clock, 400)
    for attempt, delay in enumerate(delays):
        base = min(30.0, 0.5 * 2**attempt)
        assert base * 0.8 - 1e-9 <= delay <= min(30.0, base * 1.2) + 1e-9, (attempt, delay)
    capped = delays[10:]
    assert max(capped) <= 30.0 + 1e-9 and min(capped) < 27.0  # jittered below the cap, never above it
    assert len({round(d, 6) for d in capped}) > 300


def test_success_resets_the_backoff(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, open_errors=[TransportError("x")] * 4,
                            script=[ONLINE, TransportError("gone")])
    poller, _ = make(driver, fake_clock)
    delays = run_steps(poller, fake_clock, 7)
    # 4 failed opens (1, 2, 4, 8), online (5 s poll), TransportError -> backoff restarts at 1 s
    assert delays == pytest.approx([1, 2, 4, 8, 5, 1, 5])


def test_refresh_does_not_cut_a_backoff_short(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, open_errors=[TransportError("x")])
    poller, _ = make(driver, fake_clock, backoff_min_s=10.0)
    poller.step()
    poller.request_refresh()
    assert poller.step() == pytest.approx(10.0)
    assert driver.opens == 1


def test_bad_settings_are_refused(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock)
    for kwargs in ({"failure_threshold": 0}, {"backoff_min_s": 0}, {"backoff_min_s": 5, "backoff_max_s": 1},
                   {"jitter": 1.0}, {"jitter": -0.1}):
        with pytest.raises(ValueError):
            DevicePoller(driver, clock=fake_clock, listener=lambda n, o: None, **kwargs)
