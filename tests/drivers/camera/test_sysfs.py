"""Camera discovery in a fake sysfs tree: capture nodes only, USB identity, non-USB cameras."""

from __future__ import annotations

from pathlib import Path

from drivers.camera.sysfs import camera, cameras
from drivers.sysfs.tree import Identity
from tests.drivers.sysfs.fake_sysfs import FakeSysfs


def test_a_uvc_camera_is_one_capture_node_with_its_usb_identity(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    fs.add_camera("video0", serial="8A3F", metadata_node="video1")
    (found,) = cameras(fs.root, fs.dev)
    assert found.node == "video0" and found.dev_path == str(fs.dev / "video0")
    assert found.identity == Identity(vid="046d", pid="0825", name="HD Webcam C270", manufacturer="Logitech",
                                      serial="8A3F", bus="usb")
    assert found.detail()["v4l2_name"] == "UVC Camera"


def test_a_camera_without_usb_product_string_takes_the_v4l2_name(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    fs.add_camera("video0", product=None, name="USB2.0 PC CAMERA")
    (found,) = cameras(fs.root, fs.dev)
    assert found.identity.name == "USB2.0 PC CAMERA" and found.identity.vid == "046d"


def test_a_platform_camera_has_a_name_and_its_bus_only(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    fs.add_platform_camera("video0", name="unicam")
    (found,) = cameras(fs.root, fs.dev)
    assert found.identity == Identity(name="unicam", bus="platform")


def test_only_the_pinned_node(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path)
    fs.add_camera("video0")
    fs.add_camera("video2", vid="1bcf", pid="2284")
    assert [f.node for f in cameras(fs.root, fs.dev, only="video2")] == ["video2"]
    assert cameras(fs.root, fs.dev, only="video4") == []


def test_no_class_directory_and_vanished_nodes(tmp_path: Path) -> None:
    assert cameras(tmp_path / "nothing") == []
    fs = FakeSysfs(tmp_path)
    fs.add_camera("video0")
    entry = fs.root / "class/video4linux/video0"
    fs.unplug("video0")
    assert cameras(fs.root, fs.dev) == []
    assert camera(fs.root, fs.dev, entry) is None
