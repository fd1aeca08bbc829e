"""The camera and touch-screen drivers run by the agent's DevicePoller on a FakeClock: their
states and faults reach the snapshots (and so the health document), hotplug included, and a
self-test runs through the poller as the daemon's Selftests does."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from agent.devices.poller import DevicePoller, DeviceSnapshot, DeviceUnavailable
from drivers.base.clock import FakeClock
from drivers.base.health import SelftestLevel, SelftestOutcome
from drivers.camera.driver import CameraDriver
from drivers.camera.frames import Frame
from drivers.touch_screen.driver import TouchScreenDriver
from tests.drivers.sysfs.fake_sysfs import FakeSysfs, context, spec_for

Seen = list[tuple[str, list[str]]]


def poller_for(driver: CameraDriver | TouchScreenDriver, clock: FakeClock) -> tuple[DevicePoller, Seen]:
    seen: Seen = []

    def listener(new: DeviceSnapshot, old: DeviceSnapshot | None) -> None:
        seen.append((new.state.value, sorted(new.fault_codes)))

    return DevicePoller(driver, clock=clock, listener=listener, jitter=0.0, rng=random.Random(1)), seen


def step(poller: DevicePoller, clock: FakeClock) -> None:
    """One poll: the step that is due now, then the clock moved to the next one."""
    clock.advance(poller.step())


def test_camera_states_reach_the_snapshot(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    clock = FakeClock()
    driver = CameraDriver(spec_for("camera", "v4l2", vid="046d", pid="0825"), context(clock), sysfs_root=fs.root,
                          dev_root=fs.dev, grab=lambda path, deadline: [Frame(1, 1, b"\x80"), Frame(1, 1, b"\x84")])
    poller, seen = poller_for(driver, clock)
    step(poller, clock)
    assert poller.snapshot.health_entry()["faults"] == ["no_device"]
    fs.add_camera("video0")
    step(poller, clock)
    entry = poller.snapshot.health_entry()
    assert (entry["state"], entry["detail"]["vid"], entry["detail"]["node"]) == ("online", "046d", "video0")
    res = poller.run(lambda d: d.selftest(SelftestLevel.EXTERNAL))
    assert res.result is SelftestOutcome.PASS
    fs.unplug("video0")
    step(poller, clock)
    fs.add_camera("video1", vid="1bcf", pid="2284")
    step(poller, clock)
    assert seen == [("starting", []), ("noDevice", ["no_device"]), ("online", []), ("noDevice", ["disconnected"]),
                    ("hardwareError", ["unexpected_device"])]
    assert poller.snapshot.consecutive_failures == 0 and poller.snapshot.last_error is None
    res = poller.run(lambda d: d.selftest(SelftestLevel.INTERNAL))
    assert (res.result, res.code) == (SelftestOutcome.FAIL, "unexpected_device")


def test_touch_screen_states_reach_the_snapshot(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    clock = FakeClock()
    fs.add_touch("event5")
    driver = TouchScreenDriver(spec_for("touch_screen", "input"), context(clock), sysfs_root=fs.root,
                               dev_root=fs.dev)
    poller, seen = poller_for(driver, clock)
    step(poller, clock)
    fs.unplug("event5")
    step(poller, clock)
    # a device the driver reports gone is unreachable for the poller: operations and self-tests
    # through it are refused (the daemon's self-test reports that as a failed line)
    with pytest.raises(DeviceUnavailable, match="noDevice"):
        poller.run(lambda d: d.selftest(SelftestLevel.INTERNAL))
    fs.add_touch("event5")
    step(poller, clock)
    assert seen == [("starting", []), ("online", []), ("noDevice", ["disconnected"]), ("online", [])]
    assert clock.monotonic() == pytest.approx(1000.0 + 3 * driver.spec.poll_interval_s)


def test_without_sysfs_the_poller_reports_its_own_fault(tmp_path: Path) -> None:
    clock = FakeClock()
    driver = CameraDriver(spec_for("camera", "v4l2"), context(clock), sysfs_root=tmp_path / "none")
    poller, seen = poller_for(driver, clock)
    step(poller, clock)
    assert seen == [("starting", []), ("noDevice", ["port_gone"])]
