"""Identity from a fake sysfs tree, the expected-device options and matching, port -> node."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.camera.driver import CameraDriver
from drivers.sysfs.expected import Expected
from drivers.sysfs.tree import Identity, class_nodes, hex4, node_wanted, read_attr, usb_identity
from drivers.touch_screen.driver import TouchScreenDriver
from tests.drivers.sysfs.fake_sysfs import FakeSysfs


def test_usb_identity_is_found_above_the_interface(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    iface = fs.usb_device("046D", "0x0825", product="HD Webcam C270", serial="A1B2")
    ident = usb_identity(iface, fs.root)
    assert ident == Identity(vid="046d", pid="0825", name="HD Webcam C270", serial="A1B2", bus="usb")
    assert usb_identity(fs.i2c_client(), fs.root) is None


def test_read_attr_absent_is_none(tmp_path: Path) -> None:
    assert read_attr(tmp_path / "nothing") is None
    (tmp_path / "a").write_text(" x \n")
    assert read_attr(tmp_path / "a") == "x"


@pytest.mark.parametrize(("text", "want"), [("046d", "046d"), ("0x046D", "046d"), ("3", "0003"), ("", ""),
                                            (None, ""), ("zz", "")])
def test_hex4(text: str | None, want: str) -> None:
    assert hex4(text) == want


def test_class_nodes_in_number_order(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    for n in (10, 2, 1):
        fs.add_camera(f"video{n}")
    assert [p.name for p in class_nodes(fs.root, "video4linux", "video")] == ["video1", "video2", "video10"]
    assert class_nodes(fs.root, "nothing", "x") == []


def test_port_names_a_node(tmp_path: Path) -> None:
    link = tmp_path / "by-id-cam"
    (tmp_path / "video3").write_text("")
    link.symlink_to(tmp_path / "video3")
    assert node_wanted("auto") is None and node_wanted("") is None
    assert node_wanted("video0") == "video0" == node_wanted("/dev/video0")
    assert node_wanted(str(link)) == "video3"
    assert node_wanted(str(tmp_path / "gone-link")) == "gone-link"


def test_expected_matching() -> None:
    cam = Identity(vid="046d", pid="0825", name="HD Webcam C270", serial="A1")
    assert Expected().anything and Expected().matches(cam)
    assert Expected.from_options({"vid": "0x046D", "pid": "0825"}).matches(cam)
    assert not Expected.from_options({"vid": "046d", "pid": "0826"}).matches(cam)
    assert Expected.from_options({"name": "webcam"}).matches(cam)
    assert not Expected.from_options({"name": "Brio"}).matches(cam)
    assert not Expected.from_options({"serial": "A2"}).matches(cam)
    assert Expected.from_options({"vid": "046d", "serial": "A1"}).as_dict() == {"vid": "046d", "serial": "A1"}


@pytest.mark.parametrize("driver", [CameraDriver, TouchScreenDriver])
def test_expected_options_are_checked(driver: type[CameraDriver]) -> None:
    assert driver.check_options({"vid": "046d", "pid": "0825", "name": "C270", "serial": "x"}) == []
    problems = driver.check_options({"vid": "46d", "pid": 825, "name": " ", "colour": "red"})
    assert problems[0].startswith("colour: unknown option for")
    assert any(p.startswith("vid: a vendor id of 4 hex digits") for p in problems)
    assert "pid: must be str" in problems
    assert any(p.startswith("name: ") for p in problems)
    assert driver.check_options({"pid": "0825"}) == ["pid: needs vid (a product id means nothing without its vendor)"]


def test_camera_options_are_checked() -> None:
    assert CameraDriver.check_options({"capture": False, "black_level": 30, "capture_timeout_s": 2}) == []
    assert CameraDriver.check_options({"capture": 1, "black_level": 300, "capture_timeout_s": 0}) == [
        "capture: true or false", "black_level: a luma level 0..254", "capture_timeout_s: must be > 0 and at most 600"]
    assert CameraDriver.check_options({"capture_timeout_s": float("inf")}) == [
        "capture_timeout_s: must be > 0 and at most 600"]
    assert CameraDriver.check_options({"capture_timeout_s": float("nan")}) == [
        "capture_timeout_s: must be > 0 and at most 600"]
    assert TouchScreenDriver.check_options({"capture": True})[0].startswith("capture: unknown option")
