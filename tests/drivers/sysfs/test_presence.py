"""Presence.assess: the state and fault for each thing a look at sysfs can find."""

from __future__ import annotations

from drivers.base.health import Action, DeviceState
from drivers.camera.health import PRESENCE_CODES
from drivers.sysfs.expected import Expected
from drivers.sysfs.presence import Found, Presence, PresenceCodes
from drivers.sysfs.tree import Identity
from drivers.touch_screen.health import PRESENCE_CODES as TOUCH_CODES

C270 = Found("video0", "/dev/video0", Identity(vid="046d", pid="0825", name="HD Webcam C270"))
OTHER = Found("video0", "/dev/video0", Identity(vid="1bcf", pid="2284", name="USB Camera"))


def test_the_table() -> None:
    p = Presence(Expected(vid="046d", pid="0825"), "camera", PRESENCE_CODES)
    never = p.assess([])
    assert (never.state, never.fault_codes, never.action) == (DeviceState.NO_DEVICE, ["no_device"],
                                                              Action.CHECK_CONNECTION)
    assert never.detail == {"expected": {"vid": "046d", "pid": "0825"}}
    ok = p.assess([OTHER, C270])
    assert (ok.state, ok.faults) == (DeviceState.ONLINE, ())
    assert ok.detail["vid"] == "046d" and ok.detail["node"] == "video0"
    gone = p.assess([])
    assert (gone.state, gone.fault_codes) == (DeviceState.NO_DEVICE, ["disconnected"])
    assert "HD Webcam C270 (046d:0825)" in gone.faults[0].text
    swapped = p.assess([OTHER])
    assert (swapped.state, swapped.fault_codes, swapped.action) == (
        DeviceState.HARDWARE_ERROR, ["unexpected_device"], Action.MAINTENANCE)
    assert "USB Camera (1bcf:2284)" in swapped.faults[0].text
    assert swapped.detail["found"][0]["pid"] == "2284"


def test_without_an_expectation_anything_of_the_class_will_do() -> None:
    p = Presence(Expected(), "camera", PRESENCE_CODES)
    assert p.assess([OTHER]).state is DeviceState.ONLINE
    assert "expected" not in p.assess([OTHER]).detail
    assert p.assess([]).fault_codes == ["disconnected"]


def test_the_codes_are_the_classes_own() -> None:
    codes = PresenceCodes("gone_a", "gone_b", "other")
    p = Presence(Expected(vid="046d"), "scale", codes)
    assert p.assess([]).fault_codes == ["gone_a"]
    assert p.assess([OTHER]).fault_codes == ["other"]
    assert p.assess([C270]).state is DeviceState.ONLINE and p.assess([]).fault_codes == ["gone_b"]
    assert TOUCH_CODES == PRESENCE_CODES == PresenceCodes("no_device", "disconnected", "unexpected_device")
