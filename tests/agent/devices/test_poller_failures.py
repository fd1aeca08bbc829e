"""DevicePoller, stepped on a FakeClock: the failure threshold, offline and noDevice, recovery,
and driver bugs that must never kill the worker."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from drivers.base.clock import FakeClock
from drivers.base.errors import DeviceTimeout, TransportError
from drivers.base.health import (
    Action,
    DeviceState,
    DeviceStatus,
    Fault,
    Severity,
)
from tests.agent import ONLINE, ScriptedDriver
from tests.agent.devices.stepping import TIMEOUT, make, run_steps, states


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
