"""DevicePoller, stepped on a FakeClock: the listener calls, and ``run()`` (an API call on the
device, under its lock)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from structlog.testing import capture_logs

from agent.devices.poller import DevicePoller, DeviceSnapshot, DeviceUnavailable
from drivers.base.clock import FakeClock
from drivers.base.errors import DriverError
from drivers.base.health import (
    Action,
    DeviceState,
    DeviceStatus,
    Fault,
)
from tests.agent import ONLINE, ScriptedDriver
from tests.agent.devices.stepping import PAPER_LOW, TIMEOUT, make, run_steps


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
