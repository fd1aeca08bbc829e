"""TouchScreenDriver against fake sysfs trees: discovery on USB and I2C, other input devices left
out, every state and fault, hotplug between polls, identity mismatch, self-test levels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drivers.base.health import Action, DeviceState, SelftestLevel, SelftestOutcome
from drivers.sysfs.tree import Identity
from drivers.touch_screen.driver import TouchScreenDriver
from drivers.touch_screen.sysfs import touch_screens
from tests.drivers.sysfs.fake_sysfs import FakeSysfs, context, spec_for

EGALAX = {"vid": "0eef", "pid": "0001"}


def touch(fs: FakeSysfs, port: str = "auto", **options: Any) -> TouchScreenDriver:
    drv = TouchScreenDriver(spec_for("touch_screen", "input", port, **options), context(), sysfs_root=fs.root,
                            dev_root=fs.dev)
    drv.open()
    return drv


def test_discovery_keeps_touch_screens_only(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    fs.add_keyboard("event2")
    fs.add_touch("event3", name="SynPS/2 Touchpad", pointer=True)
    fs.add_touch("event5", serial="EG1234")
    fs.add_touch("event7", vid="222a", pid="0001", name="ILITEK ILITEK-TP", bus="i2c", multitouch=False,
                 single_touch=True, uniq="IL-77")
    usb, i2c = touch_screens(fs.root, fs.dev)
    assert (usb.node, usb.dev_path) == ("event5", str(fs.dev / "input/event5"))
    assert usb.identity == Identity(vid="0eef", pid="0001", name="eGalax Inc. USB TouchController",
                                    manufacturer="Touch Maker", serial="EG1234", bus="usb")
    assert usb.extra == {"input": "input5", "multitouch": True, "direct": True}
    assert i2c.identity == Identity(vid="222a", pid="0001", name="ILITEK ILITEK-TP", serial="IL-77", bus="i2c")
    assert i2c.extra["multitouch"] is False
    assert [f.node for f in touch_screens(fs.root, fs.dev, only="event7")] == ["event7"]
    assert touch_screens(tmp_path / "nothing") == []


def test_states_through_a_hotplug_cycle(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    fs.add_keyboard("event2")
    drv = touch(fs, **EGALAX)
    first = drv.poll()
    assert (first.state, first.fault_codes, first.action) == (DeviceState.NO_DEVICE, ["no_device"],
                                                              Action.CHECK_CONNECTION)
    assert first.faults[0].text == "no touch screen is connected"
    fs.add_touch("event5")
    ok = drv.poll()
    assert ok.state is DeviceState.ONLINE and ok.detail["node"] == "event5" and ok.detail["expected"] == EGALAX
    fs.unplug("event5")
    assert drv.poll().fault_codes == ["disconnected"]
    assert (fs.root / "class/input/event2").exists()  # the keyboard stayed
    fs.add_touch("event6")
    assert drv.poll().state is DeviceState.ONLINE


def test_a_different_touch_screen_is_unexpected(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    fs.add_touch("event5", vid="222a", pid="0001", name="ILITEK ILITEK-TP", bus="i2c")
    status = touch(fs, **EGALAX).poll()
    assert (status.state, status.fault_codes) == (DeviceState.HARDWARE_ERROR, ["unexpected_device"])
    assert status.faults[0].text \
        == "a touch screen is connected but not the expected one (event5: ILITEK ILITEK-TP (222a:0001))"


def test_a_touchpad_is_not_a_touch_screen(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    fs.add_touch("event3", pointer=True)
    assert touch(fs).poll().fault_codes == ["no_device"]


def test_a_pinned_node(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    fs.add_touch("event5")
    assert touch(fs, "/dev/input/event5").poll().state is DeviceState.ONLINE
    assert touch(fs, "event4").poll().fault_codes == ["no_device"]


@pytest.mark.parametrize("level", list(SelftestLevel))
def test_selftest_passes_with_the_device(tmp_path: Path, level: SelftestLevel) -> None:
    fs = FakeSysfs(tmp_path)
    fs.add_touch("event5")
    res = touch(fs, **EGALAX).selftest(level)
    assert res.result is SelftestOutcome.PASS and res.details["vid"] == "0eef"
    if level is not SelftestLevel.INTERNAL:
        assert res.details["char_device"] is False  # a plain file in the fake /dev


def test_selftest_fails_without_it_or_its_node(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    drv = touch(fs, **EGALAX)
    res = drv.selftest(SelftestLevel.INTERNAL)
    assert (res.result, res.code, res.action) == (SelftestOutcome.FAIL, "no_device", Action.CHECK_CONNECTION)
    fs.add_touch("event5")
    (fs.dev / "input/event5").unlink()
    assert drv.selftest(SelftestLevel.INTERNAL).result is SelftestOutcome.PASS
    res = drv.selftest(SelftestLevel.EXTERNAL)
    assert (res.result, res.code, res.action) == (SelftestOutcome.FAIL, "dev_node_missing", Action.MAINTENANCE)
