"""CameraDriver against fake sysfs trees: every state and fault, hotplug between polls, identity
mismatch, a pinned node, and the self-test levels with a scripted frame grabber."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drivers.base.clock import FakeClock
from drivers.base.errors import DeviceTimeout, TransportError
from drivers.base.health import Action, DeviceState, SelftestLevel, SelftestOutcome
from drivers.base.io import Deadline
from drivers.camera.driver import CameraDriver, Grabber
from drivers.camera.frames import Frame
from drivers.camera.v4l2 import CaptureUnavailable
from tests.drivers.sysfs.fake_sysfs import FakeSysfs, context, spec_for

SCENE = Frame(4, 4, bytes([90, 100, 110, 120] * 4))
NOISY = Frame(4, 4, bytes([91, 99, 112, 118] * 4))
DARK = Frame(4, 4, bytes([16] * 16))
C270 = {"vid": "046d", "pid": "0825"}


def camera(fs: FakeSysfs, port: str = "auto", grab: Grabber | None = None, clock: FakeClock | None = None,
           **options: Any) -> CameraDriver:
    drv = CameraDriver(spec_for("camera", "v4l2", port, **options), context(clock), sysfs_root=fs.root,
                       dev_root=fs.dev, grab=grab)
    drv.open()
    return drv


def grabber(*outcomes: list[Frame] | Exception, seen: list[tuple[str, float]] | None = None) -> Grabber:
    queue = list(outcomes)

    def grab(path: str, deadline: Deadline) -> list[Frame]:
        if seen is not None:
            seen.append((path, deadline.timeout_s))
        out = queue.pop(0)
        if isinstance(out, Exception):
            raise out
        return out

    return grab


def test_online_with_its_identity(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    fs.add_camera("video0", serial="8A3F", metadata_node="video1")
    status = camera(fs, **C270).poll()
    assert status.state is DeviceState.ONLINE and status.faults == ()
    assert status.detail == {"node": "video0", "dev": str(fs.dev / "video0"), "vid": "046d", "pid": "0825",
                             "name": "HD Webcam C270", "manufacturer": "Logitech", "serial": "8A3F",
                             "bus": "usb", "v4l2_name": "UVC Camera", "expected": C270}


def test_no_device_then_it_appears_then_it_goes(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    drv = camera(fs, **C270)
    assert drv.poll().fault_codes == ["no_device"]
    fs.add_camera("video0")
    assert drv.poll().state is DeviceState.ONLINE
    fs.unplug("video0")
    gone = drv.poll()
    assert (gone.state, gone.fault_codes, gone.action) == (DeviceState.NO_DEVICE, ["disconnected"],
                                                           Action.CHECK_CONNECTION)
    fs.add_camera("video2")  # replugged: the kernel gave it another number
    back = drv.poll()
    assert back.state is DeviceState.ONLINE and back.detail["node"] == "video2"


def test_the_wrong_camera_is_unexpected(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    fs.add_camera("video0", vid="1bcf", pid="2284", product="USB Camera")
    status = camera(fs, **C270).poll()
    assert (status.state, status.fault_codes, status.action) == (
        DeviceState.HARDWARE_ERROR, ["unexpected_device"], Action.MAINTENANCE)
    assert "USB Camera (1bcf:2284)" in status.faults[0].text


@pytest.mark.parametrize(("options", "state"), [
    ({"name": "c270"}, DeviceState.ONLINE), ({"name": "Brio"}, DeviceState.HARDWARE_ERROR),
    ({"vid": "046d", "serial": "8A3F"}, DeviceState.ONLINE), ({"serial": "0000"}, DeviceState.HARDWARE_ERROR),
    ({}, DeviceState.ONLINE)])
def test_name_and_serial_matches(tmp_path: Path, options: dict[str, str], state: DeviceState) -> None:
    fs = FakeSysfs(tmp_path)
    fs.add_camera("video0", serial="8A3F")
    assert camera(fs, **options).poll().state is state


def test_the_expected_one_among_several(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    fs.add_camera("video0", vid="1bcf", pid="2284")
    fs.add_camera("video2")
    assert camera(fs, **C270).poll().detail["node"] == "video2"


def test_a_pinned_node(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    fs.add_camera("video0")
    assert camera(fs, "/dev/video0").poll().state is DeviceState.ONLINE
    assert camera(fs, "video2").poll().fault_codes == ["no_device"]


def test_open_needs_a_sysfs_tree(tmp_path: Path) -> None:
    drv = CameraDriver(spec_for("camera", "v4l2"), context(), sysfs_root=tmp_path / "none")
    with pytest.raises(TransportError, match="not a sysfs tree"):
        drv.open()


def test_by_default_the_real_roots_and_v4l2() -> None:
    drv = CameraDriver(spec_for("camera", "v4l2"), context())
    assert (drv.root, drv.dev_root) == (Path("/sys"), Path("/dev"))
    assert drv.grab.__module__ == "drivers.camera.v4l2"


# -- self-test --------------------------------------------------------------------------------------
def selftest(tmp_path: Path, level: SelftestLevel, *outcomes: list[Frame] | Exception,
             setup: Callable[[FakeSysfs], object] = lambda fs: fs.add_camera("video0"), **options: Any):
    fs = FakeSysfs(tmp_path)
    setup(fs)
    seen: list[tuple[str, float]] = []
    res = camera(fs, grab=grabber(*outcomes, seen=seen), **{**C270, **options}).selftest(level)
    return res, seen, fs


def test_internal_is_presence_and_identity(tmp_path: Path) -> None:
    res, seen, _ = selftest(tmp_path, SelftestLevel.INTERNAL)
    assert (res.result, res.reason, res.details["vid"]) == (SelftestOutcome.PASS, "camera present and identified",
                                                             "046d")
    assert seen == []


@pytest.mark.parametrize(("setup", "code"), [(lambda fs: None, "no_device"),
                                             (lambda fs: fs.add_camera(vid="1bcf"), "unexpected_device")])
def test_internal_fails_without_the_expected_camera(tmp_path: Path, setup: Callable[[FakeSysfs], object],
                                                    code: str) -> None:
    for level in SelftestLevel:
        res, _, _ = selftest(tmp_path / level.value, level, setup=setup)
        assert (res.result, res.code) == (SelftestOutcome.FAIL, code)
        assert res.action in (Action.CHECK_CONNECTION, Action.MAINTENANCE)


@pytest.mark.parametrize("level", [SelftestLevel.EXTERNAL, SelftestLevel.INTERACTIVE])
def test_external_captures_and_passes(tmp_path: Path, level: SelftestLevel) -> None:
    res, seen, fs = selftest(tmp_path, level, [SCENE, NOISY], capture_timeout_s=2.5)
    assert res.result is SelftestOutcome.PASS and seen == [(str(fs.dev / "video0"), 2.5)]
    assert res.details["frame_diff"] == 1.5 and res.details["vid"] == "046d"


@pytest.mark.parametrize(("outcome", "result", "code", "action"), [
    ([SCENE, DARK], SelftestOutcome.FAIL, "black_frame", Action.CLEAR),
    ([SCENE, SCENE], SelftestOutcome.FAIL, "frozen_frame", Action.RESET),
    (DeviceTimeout("no frame within 5 s"), SelftestOutcome.FAIL, "no_frame", Action.RESET),
    (TransportError("ioctl 0xc0585611 failed: No such device"), SelftestOutcome.FAIL, "capture_failed",
     Action.CHECK_CONNECTION),
    (CaptureUnavailable("/dev/video0 is in use by another process"), SelftestOutcome.SKIP, "", Action.NONE),
])
def test_external_verdicts(tmp_path: Path, outcome: list[Frame] | Exception, result: SelftestOutcome, code: str,
                           action: Action) -> None:
    res, _, _ = selftest(tmp_path, SelftestLevel.EXTERNAL, outcome)
    assert (res.result, res.code, res.action) == (result, code, action)
    if result is SelftestOutcome.SKIP:
        assert res.reason == "capture check not possible: /dev/video0 is in use by another process"


def test_capture_can_be_turned_off(tmp_path: Path) -> None:
    res, seen, _ = selftest(tmp_path, SelftestLevel.EXTERNAL, capture=False)
    assert (res.result, res.reason, seen) == (SelftestOutcome.SKIP, "capture check off (options.capture = false)",
                                              [])


def test_the_duration_is_on_the_injected_clock(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    fs.add_camera("video0")
    clock = FakeClock()

    def slow(path: str, deadline: Deadline) -> list[Frame]:
        clock.advance(0.75)
        return [SCENE, NOISY]

    assert camera(fs, grab=slow, clock=clock).selftest(SelftestLevel.EXTERNAL).duration_s == 0.75
