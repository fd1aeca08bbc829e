"""DevicePoller: schedule, failure threshold, backoff, transitions, listeners, shutdown.

Timing is driven through ``step()`` and a FakeClock: a test advances the clock by exactly the
delay ``step()`` returned and checks what happened. Only the thread tests (shutdown, wedged
calls, crashes) run the worker thread, and they wait on conditions with deadlines.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
from structlog.testing import capture_logs

from agent.devices.poller import DevicePoller, DeviceSnapshot, DeviceUnavailable, port_missing
from drivers.base.clock import FakeClock
from drivers.base.errors import DeviceTimeout, DriverError, TransportError
from drivers.base.health import (
    Action,
    DeviceState,
    DeviceStatus,
    Fault,
    Severity,
)
from tests.agent import BUSY, HANG, ONLINE, ScriptedDriver, WorkerKiller
from tests.support.waiting import wait_until

TIMEOUT = DeviceTimeout("no answer within 1.0 s")
PAPER_LOW = DeviceStatus(DeviceState.ONLINE,
                         (Fault("paper_near_end", Action.REPLENISH, Severity.WARNING),), {"paper": "low"})

Calls = list[tuple[DeviceSnapshot, DeviceSnapshot | None]]


def make(driver: ScriptedDriver, clock: FakeClock, **kwargs: Any) -> tuple[DevicePoller, Calls]:
    calls: Calls = []
    kwargs.setdefault("jitter", 0.0)
    kwargs.setdefault("rng", random.Random(7))
    poller = DevicePoller(driver, clock=clock, listener=lambda new, old: calls.append((new, old)),
                          **kwargs)
    return poller, calls


def run_steps(poller: DevicePoller, clock: FakeClock, n: int) -> list[float]:
    """n steps, advancing the clock by the delay each returned; returns the delays."""
    delays = []
    for _ in range(n):
        delay = poller.step()
        delays.append(delay)
        clock.advance(delay)
    return delays


def states(calls: Calls) -> list[str]:
    return [new.state.value for new, _ in calls]


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


# -- failures, offline, recovery -------------------------------------------------------------------
def test_failures_below_threshold_keep_the_last_good_state(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, script=[ONLINE, TIMEOUT, TIMEOUT], default=TIMEOUT)
    poller, calls = make(driver, fake_clock, failure_threshold=3)
    run_steps(poller, fake_clock, 3)
    snap = poller.snapshot
    assert snap.state is DeviceState.ONLINE and snap.detail == {"paper": "ok"}
    assert snap.consecutive_failures == 2
    assert snap.last_error == "DeviceTimeout: no answer within 1.0 s"
    assert states(calls) == ["starting", "online"]
    assert driver.closes == 0

    poller.step()  # the third failure in a row

    snap = poller.snapshot
    assert snap.state is DeviceState.OFFLINE
    assert snap.faults == (Fault("no_response", Action.CHECK_CONNECTION, Severity.ERROR,
                                 "the device does not answer"),)
    assert snap.detail == {}  # no stale paper state on a device that does not answer
    assert snap.consecutive_failures == 3
    assert states(calls) == ["starting", "online", "offline"]
    assert driver.closes == 1 and not driver.is_open


def test_threshold_of_one_goes_offline_on_the_first_failure(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, script=[ONLINE], default=TIMEOUT)
    poller, _ = make(driver, fake_clock, failure_threshold=1)
    run_steps(poller, fake_clock, 2)
    assert poller.snapshot.state is DeviceState.OFFLINE


def test_a_good_poll_resets_the_failure_count(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, script=[ONLINE, TIMEOUT, TIMEOUT, ONLINE, TIMEOUT, TIMEOUT])
    poller, calls = make(driver, fake_clock)
    run_steps(poller, fake_clock, 6)
    assert poller.snapshot.state is DeviceState.ONLINE
    assert poller.snapshot.consecutive_failures == 2
    assert states(calls) == ["starting", "online"]


def test_offline_and_recovery_are_logged_once(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, script=[ONLINE], default=TIMEOUT)
    with capture_logs() as logs:
        poller, calls = make(driver, fake_clock)
        run_steps(poller, fake_clock, 20)  # offline, then many failed reopen+poll rounds
        assert poller.snapshot.state is DeviceState.OFFLINE
        assert driver.polls == 20
        driver.default = ONLINE
        run_steps(poller, fake_clock, 5)
    assert poller.snapshot.state is DeviceState.ONLINE
    loud = [e for e in logs if e["log_level"] in ("warning", "error", "critical")]
    assert [e["event"] for e in loud] == ["device_offline"]
    assert loud[0]["device"] == "dev" and loud[0]["faults"] == ["no_response"]
    recovered = [e for e in logs if e["event"] == "device_recovered"]
    assert len(recovered) == 1 and recovered[0]["log_level"] == "info"
    assert recovered[0]["down_s"] > 0
    assert states(calls) == ["starting", "online", "offline", "online"]
    snap = poller.snapshot
    assert snap.consecutive_failures == 0 and snap.last_error is None and snap.faults == ()


def test_recovery_reopens_after_the_backoff(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, script=[ONLINE, TIMEOUT, TIMEOUT, TIMEOUT])
    poller, calls = make(driver, fake_clock, backoff_min_s=2.0)
    delays = run_steps(poller, fake_clock, 4)
    assert delays[-1] == pytest.approx(2.0)  # offline: reopen after backoff_min_s
    assert driver.opens == 1 and not driver.is_open
    offline_since = poller.snapshot.since
    poller.step()
    assert driver.opens == 2 and driver.polls == 5
    assert poller.snapshot.state is DeviceState.ONLINE
    assert poller.snapshot.since == fake_clock.now() != offline_since
    assert states(calls)[-2:] == ["offline", "online"]


def test_transport_error_goes_straight_to_reopen(fake_clock: FakeClock, tmp_path: Any) -> None:
    port = tmp_path / "ttyFAKE"
    port.touch()
    driver = ScriptedDriver(clock=fake_clock, port=str(port),
                            script=[ONLINE, TransportError("read failed: EIO")])
    poller, calls = make(driver, fake_clock, failure_threshold=3, backoff_min_s=1.0)
    run_steps(poller, fake_clock, 1)
    with capture_logs() as logs:
        delay = poller.step()  # one TransportError is enough: the port is gone
        snap = poller.snapshot
        assert snap.state is DeviceState.OFFLINE  # the path still exists: offline, not noDevice
        assert snap.fault_codes == {"port_gone"}
        assert snap.faults[0].action is Action.CHECK_CONNECTION
        assert snap.consecutive_failures == 1
        assert driver.closes == 1 and delay == pytest.approx(1.0)
        fake_clock.advance(0.5)
        poller.step()
        assert driver.opens == 1  # not before the backoff
        fake_clock.advance(0.5)
        poller.step()
    assert driver.opens == 2
    assert poller.snapshot.state is DeviceState.ONLINE
    assert [e["event"] for e in logs if e["event"].startswith("device_") and e["log_level"] != "debug"] == [
        "device_offline", "device_recovered"]
    assert states(calls) == ["starting", "online", "offline", "online"]


def test_vanished_port_path_reads_no_device(fake_clock: FakeClock, tmp_path: Any) -> None:
    port = tmp_path / "ttyGONE"
    driver = ScriptedDriver(clock=fake_clock, port=str(port),
                            open_errors=[TransportError("No such file or directory")] * 3)
    poller, calls = make(driver, fake_clock)
    run_steps(poller, fake_clock, 2)
    assert poller.snapshot.state is DeviceState.NO_DEVICE
    assert poller.snapshot.fault_codes == {"port_gone"}
    port.touch()  # the port is back (udev re-created the link) but still refuses
    poller.step()
    assert poller.snapshot.state is DeviceState.OFFLINE
    fake_clock.advance(poller.step())
    poller.step()
    assert poller.snapshot.state is DeviceState.ONLINE
    assert states(calls) == ["starting", "noDevice", "offline", "online"]


def test_port_missing_only_for_local_paths(tmp_path: Any) -> None:
    assert port_missing(str(tmp_path / "nope"))
    assert not port_missing(str(tmp_path))
    dangling = tmp_path / "link"
    dangling.symlink_to(tmp_path / "target-gone")
    assert port_missing(str(dangling))
    assert not port_missing("socket://127.0.0.1:1")
    assert not port_missing("usb:04b8:0202")


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


# -- driver bugs --------------------------------------------------------------------------------------
def test_driver_bug_is_a_failure_logged_once_with_traceback(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, script=[ONLINE], default=RuntimeError("index out of range"))
    with capture_logs() as logs:
        poller, _ = make(driver, fake_clock)
        run_steps(poller, fake_clock, 10)
    bugs = [e for e in logs if e["event"] == "device_driver_bug"]
    assert len(bugs) == 1 and isinstance(bugs[0]["exc_info"], RuntimeError)
    assert bugs[0]["log_level"] == "error"
    snap = poller.snapshot
    assert snap.state is DeviceState.OFFLINE
    assert snap.fault_codes == {"driver_error"} and snap.faults[0].action is Action.MAINTENANCE
    assert snap.last_error == "RuntimeError: index out of range"
    assert driver.polls == 10  # still polling: a driver bug never kills the worker


@pytest.mark.parametrize("bad", [None, {"state": "online"}, DeviceStatus("online"),  # type: ignore[arg-type]
                                 DeviceStatus(DeviceState.ONLINE, ("paper_out",))])  # type: ignore[arg-type]
def test_malformed_status_is_a_driver_bug_not_a_crash(fake_clock: FakeClock, bad: Any) -> None:
    driver = ScriptedDriver(clock=fake_clock, script=[ONLINE], default=bad)
    poller, _ = make(driver, fake_clock, failure_threshold=2)
    with capture_logs() as logs:
        run_steps(poller, fake_clock, 3)
    assert poller.snapshot.state is DeviceState.OFFLINE
    assert poller.snapshot.fault_codes == {"driver_error"}
    assert poller.snapshot.last_error is not None and poller.snapshot.last_error.startswith("TypeError")
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["device_driver_bug"]


def test_driver_bug_in_open_is_contained(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, open_errors=[ValueError("bad baudrate"), None])
    poller, calls = make(driver, fake_clock)
    run_steps(poller, fake_clock, 2)
    assert states(calls) == ["starting", "offline", "online"]


def test_driver_error_on_open_is_offline_no_response(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, open_errors=[DeviceTimeout("no handshake")])
    poller, _ = make(driver, fake_clock)
    poller.step()
    assert poller.snapshot.state is DeviceState.OFFLINE
    assert poller.snapshot.fault_codes == {"no_response"}


# -- listeners ------------------------------------------------------------------------------------------
def test_listener_only_on_state_or_fault_set_change(fake_clock: FakeClock) -> None:
    low_b = DeviceStatus(DeviceState.ONLINE, (Fault("paper_near_end", Action.REPLENISH, text="other"),),
                         {"paper": "lower"})
    driver = ScriptedDriver(clock=fake_clock, script=[ONLINE, ONLINE, PAPER_LOW, low_b, ONLINE, TIMEOUT])
    poller, calls = make(driver, fake_clock)
    run_steps(poller, fake_clock, 6)
    assert [(new.state.value, sorted(new.fault_codes)) for new, _ in calls] == [
        ("starting", []), ("online", []), ("online", ["paper_near_end"]), ("online", [])]
    # the detail and fault text still reach the snapshot, without a listener call
    assert driver.polls == 6
    for new, old in calls[1:]:
        assert old is not None and (new.state, new.fault_codes) != (old.state, old.fault_codes)


def test_since_changes_only_with_a_change(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, script=[ONLINE, ONLINE, PAPER_LOW])
    poller, _ = make(driver, fake_clock)
    poller.step()
    first = poller.snapshot.since
    fake_clock.advance(poller.step())
    fake_clock.advance(poller.step())
    assert poller.snapshot.since == first
    poller.step()
    assert poller.snapshot.since == fake_clock.now() != first


def test_a_raising_listener_is_isolated(fake_clock: FakeClock) -> None:
    seen: list[str] = []

    def listener(new: DeviceSnapshot, old: DeviceSnapshot | None) -> None:
        seen.append(new.state.value)
        if new.state is DeviceState.ONLINE:
            raise OSError("database is locked")

    driver = ScriptedDriver(clock=fake_clock, script=[ONLINE, PAPER_LOW, ONLINE], default=TIMEOUT)
    poller = DevicePoller(driver, clock=fake_clock, listener=listener, jitter=0.0)
    with capture_logs() as logs:
        run_steps(poller, fake_clock, 6)
    # every change was delivered, the raising ones were logged and not retried
    assert seen == ["starting", "online", "online", "online", "offline"]
    failures = [e for e in logs if e["event"] == "device_listener_failed"]
    assert len(failures) == 3 and all(isinstance(e["exc_info"], OSError) for e in failures)
    assert poller.snapshot.state is DeviceState.OFFLINE and driver.polls == 6


# -- run() ------------------------------------------------------------------------------------------------
def test_run_fails_fast_unless_open_and_answering(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, script=[ONLINE, TIMEOUT, TIMEOUT, TIMEOUT])
    poller, _ = make(driver, fake_clock)
    with pytest.raises(DeviceUnavailable, match="starting"):
        poller.run(lambda d: d.name)
    run_steps(poller, fake_clock, 4)
    with pytest.raises(DeviceUnavailable, match="offline") as info:
        poller.run(lambda d: d.name)
    assert isinstance(info.value, DriverError)


def test_run_holds_the_driver_lock_and_refreshes(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock)
    poller, _ = make(driver, fake_clock)
    poller.step()

    def op(d: Any) -> bool:
        got: list[bool] = []
        t = threading.Thread(target=lambda: got.append(d.lock.acquire(blocking=False)))
        t.start()
        t.join(5)
        return got == [False]  # another thread cannot take the lock while fn runs

    assert poller.run(op) is True
    poller.step()  # no clock advance: the refresh after run() makes this poll happen now
    assert driver.polls == 2
    with pytest.raises(ZeroDivisionError):
        poller.run(lambda d: 1 / 0)
    poller.step()
    assert driver.polls == 3  # refreshed after a failing operation too


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


def test_stop_is_bounded_when_a_driver_call_is_wedged(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, script=[ONLINE, HANG])
    poller, _ = make(driver, fake_clock)
    try:
        poller.start()
        wait_until(lambda: poller.snapshot.state is DeviceState.ONLINE, 5)
        fake_clock.advance(5.0)
        poller.request_refresh()
        wait_until(driver.hanging.is_set, 5, message="the driver call never hung")
        assert poller.busy_since_mono is not None
        started = time.monotonic()
        with capture_logs() as logs:
            assert poller.stop(timeout_s=0.3) is False
        assert time.monotonic() - started < 2.0
        assert [e["event"] for e in logs] == ["device_stop_timeout"]
    finally:
        driver.release.set()
    wait_until(lambda: not poller.running, 5, message="the worker did not end after the release")
    assert not driver.is_open


def test_run_does_not_hang_behind_a_wedged_poll(fake_clock: FakeClock) -> None:
    driver = ScriptedDriver(clock=fake_clock, script=[ONLINE, HANG])
    poller, _ = make(driver, fake_clock)
    try:
        poller.start()
        wait_until(lambda: poller.snapshot.state is DeviceState.ONLINE, 5)
        fake_clock.advance(5.0)
        poller.request_refresh()
        wait_until(driver.hanging.is_set, 5, message="the driver call never hung")
        started = time.monotonic()
        with pytest.raises(DeviceUnavailable, match="online but busy"):
            poller.run(lambda d: d.name, lock_timeout_s=0.2)
        assert time.monotonic() - started < 2.0
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
