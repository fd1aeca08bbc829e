"""DevicePoller's worker thread: start and stop, wedged driver calls, crashes and restarts.

The fake clock drives the schedule; the thread is waited for on conditions and events with
generous deadlines, never timed against the real clock."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from agent.devices.poller import DevicePoller, DeviceUnavailable
from drivers.base.clock import FakeClock
from drivers.base.health import (
    DeviceState,
)
from tests.agent import HANG, ONLINE, ScriptedDriver, WorkerKiller
from tests.agent.devices.stepping import make, returns, states
from tests.support.waiting import wait_until


# -- the worker thread ---------------------------------------------------------------------------------------
def test_start_and_stop_close_the_driver(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock)
    poller, _ = make(driver, fake_clock)
    poller.start()
    wait_until(lambda: poller.snapshot.state is DeviceState.ONLINE, 5, message="no first poll")
    assert poller.alive(max_age_s=2.0)
    assert poller.stop(timeout_s=5.0)
    assert not poller.running and not driver.is_open and driver.closes >= 1
    with pytest.raises(DeviceUnavailable):
        poller.run(lambda d: None)
    with pytest.raises(RuntimeError):
        poller.start()


def wedged_after_one_poll(clock: FakeClock) -> tuple[ScriptedDriver, DevicePoller]:
    """A running poller whose second poll hangs until ``driver.release`` is set (the caller's
    ``finally`` must set it)."""
    driver = ScriptedDriver(clock=clock, script=[ONLINE, HANG])
    poller, _ = make(driver, clock)
    poller.start()
    wait_until(lambda: poller.snapshot.state is DeviceState.ONLINE, 5)
    clock.advance(5.0)
    poller.request_refresh()
    try:
        wait_until(driver.hanging.is_set, 5, message="the driver call never hung")
    except BaseException:
        driver.release.set()
        raise
    return driver, poller


def test_stop_is_bounded_when_a_driver_call_is_wedged(fake_clock: FakeClock) -> None:
    driver, poller = wedged_after_one_poll(fake_clock)
    try:
        assert poller.busy_since_mono is not None
        with capture_logs() as logs:
            # stop() gives up on the worker and returns while the driver call stays wedged
            assert returns(lambda: poller.stop(timeout_s=0.3)) is False
        assert not driver.release.is_set() and poller.busy_since_mono is not None and poller.running
        assert [e["event"] for e in logs] == ["device_stop_timeout"]
    finally:
        driver.release.set()
    wait_until(lambda: not poller.running, 5, message="the worker did not end after the release")
    assert not driver.is_open


def test_run_does_not_hang_behind_a_wedged_poll(fake_clock: FakeClock) -> None:
    driver, poller = wedged_after_one_poll(fake_clock)
    try:
        # the lock wait gives up and run() returns while the poll stays wedged
        with pytest.raises(DeviceUnavailable, match="online but busy"):
            returns(lambda: poller.run(lambda d: d.name, lock_timeout_s=0.2))
        assert not driver.release.is_set() and poller.busy_since_mono is not None
    finally:
        driver.release.set()
    assert poller.stop(5.0)


def test_wedged_call_is_visible_to_alive(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, script=[HANG])
    poller, _ = make(driver, fake_clock)
    try:
        poller.start()
        wait_until(driver.hanging.is_set, 5, message="the driver call never hung")
        assert poller.busy_since_mono == fake_clock.monotonic()
        assert poller.alive(max_age_s=10.0)
        fake_clock.advance(10.5)
        assert not poller.alive(max_age_s=10.0)
    finally:
        driver.release.set()
    wait_until(lambda: poller.busy_since_mono is None and poller.alive(max_age_s=10.0), 5,
               message="the worker did not come back after the hung call returned")
    assert poller.stop(5.0)


def test_worker_crash_is_recorded_and_restartable(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, script=[ONLINE, WorkerKiller("boom")])
    poller, calls = make(driver, fake_clock, backoff_min_s=0.001, backoff_max_s=0.001)
    with capture_logs() as logs:
        poller.start()
        wait_until(lambda: poller.snapshot.state is DeviceState.ONLINE, 5)
        fake_clock.advance(5.0)
        poller.request_refresh()
        wait_until(lambda: not poller.running, 5, message="the worker did not die")
    assert isinstance(poller.crash, WorkerKiller)
    assert [e["event"] for e in logs if e["log_level"] == "critical"] == ["device_worker_crashed"]
    assert poller.snapshot.state is DeviceState.OFFLINE
    assert poller.snapshot.fault_codes == {"worker_crashed"}
    assert not driver.is_open and not poller.alive(60.0)

    poller.start()
    fake_clock.advance(0.01)
    wait_until(lambda: poller.snapshot.state is DeviceState.ONLINE, 5, message="no recovery after restart")
    assert poller.crash is None
    assert states(calls) == ["starting", "online", "offline", "online"]
    assert poller.stop(5.0)
