"""A fake sysfs (and /dev) tree, built by a test in a temp dir, laid out as the kernel's is.

Real directories under ``devices/``, and the ``class/<class>/<node>`` entries and ``device`` /
``subsystem`` attributes as relative symlinks into them, so the code under test follows links
exactly as it does on a kiosk. Unplugging removes the class entry and the whole USB device
directory, as the kernel does.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

from drivers.base.clock import FakeClock
from drivers.base.device import DeviceSpec, DriverContext
from drivers.touch_screen.caps import (
    ABS_MT_POSITION_X,
    ABS_MT_POSITION_Y,
    ABS_X,
    ABS_Y,
    BTN_TOUCH,
    INPUT_PROP_DIRECT,
    INPUT_PROP_POINTER,
    format_bitmap,
)

_BUSTYPE = {"usb": 0x03, "i2c": 0x18}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(target, link.parent))


class FakeSysfs:
    """``root`` plays /sys, ``dev`` plays /dev."""

    def __init__(self, base: Path) -> None:
        self.root = base / "sys"
        self.dev = base / "dev"
        for sub in ("class", "bus/usb", "bus/i2c", "bus/platform"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.dev.mkdir(parents=True, exist_ok=True)
        self._usb_ports = (f"1-{n}" for n in itertools.count(1))
        #: node -> the directory to remove on unplug
        self._unplug: dict[str, Path] = {}

    # -- buses --------------------------------------------------------------------------------
    def usb_device(self, vid: str, pid: str, *, product: str | None = None, manufacturer: str | None = None,
                   serial: str | None = None) -> Path:
        port = next(self._usb_ports)
        usb = self.root / "devices/pci0000:00/0000:00:14.0/usb1" / port
        _write(usb / "idVendor", vid)
        _write(usb / "idProduct", pid)
        for attr, value in (("product", product), ("manufacturer", manufacturer), ("serial", serial)):
            if value is not None:
                _write(usb / attr, value)
        _link(usb / "subsystem", self.root / "bus/usb")
        iface = usb / f"{port}:1.0"
        iface.mkdir()
        _link(iface / "subsystem", self.root / "bus/usb")
        return iface

    def i2c_client(self, address: str = "1-0038") -> Path:
        client = self.root / "devices/platform/i2c-1" / address
        client.mkdir(parents=True)
        _link(client / "subsystem", self.root / "bus/i2c")
        return client

    # -- cameras ------------------------------------------------------------------------------
    def add_camera(self, node: str = "video0", *, vid: str = "046d", pid: str = "0825",
                   product: str | None = "HD Webcam C270", serial: str | None = None, name: str = "UVC Camera",
                   metadata_node: str | None = None) -> str:
        """A UVC camera: its capture node (index 0) and optionally its metadata node (index 1)."""
        iface = self.usb_device(vid, pid, product=product, manufacturer="Logitech", serial=serial)
        self._video_node(iface, node, name, 0)
        self._unplug[node] = iface.parent
        if metadata_node is not None:
            self._video_node(iface, metadata_node, name, 1)
            self._unplug[metadata_node] = iface.parent
        return node

    def add_platform_camera(self, node: str = "video0", name: str = "unicam") -> str:
        """A camera not on USB (a CSI sensor): no ids, only the V4L2 name."""
        device = self.root / "devices/platform/fe801000.csi"
        device.mkdir(parents=True, exist_ok=True)
        _link(device / "subsystem", self.root / "bus/platform")
        self._video_node(device, node, name, 0)
        self._unplug[node] = device / "video4linux" / node
        return node

    def _video_node(self, device: Path, node: str, name: str, index: int) -> None:
        real = device / "video4linux" / node
        _write(real / "name", name)
        _write(real / "index", str(index))
        _link(real / "device", device)
        _link(self.root / "class/video4linux" / node, real)
        _write(self.dev / node, "")

    # -- input devices -------------------------------------------------------------------------
    def add_touch(self, event: str = "event5", *, vid: str = "0eef", pid: str = "0001",
                  name: str = "eGalax Inc. USB TouchController", bus: str = "usb", multitouch: bool = True,
                  single_touch: bool = False, pointer: bool = False, uniq: str | None = None,
                  serial: str | None = None) -> str:
        """An input device with the touch capabilities asked for (a touchpad with ``pointer``)."""
        axes = (1 << ABS_MT_POSITION_X | 1 << ABS_MT_POSITION_Y) if multitouch else 0
        keys = 0
        if single_touch:
            axes |= 1 << ABS_X | 1 << ABS_Y
            keys |= 1 << BTN_TOUCH
        props = 1 << (INPUT_PROP_POINTER if pointer else INPUT_PROP_DIRECT)
        return self._input(event, vid=vid, pid=pid, name=name, bus=bus, key=keys, abs_=axes, props=props,
                           uniq=uniq, serial=serial)

    def add_keyboard(self, event: str = "event2", *, vid: str = "046d", pid: str = "c31c") -> str:
        return self._input(event, vid=vid, pid=pid, name="USB Keyboard", bus="usb", key=(1 << 30) - 2, abs_=0,
                           props=0, uniq=None, serial=None)

    def _input(self, event: str, *, vid: str, pid: str, name: str, bus: str, key: int, abs_: int, props: int,
               uniq: str | None, serial: str | None) -> str:
        if bus == "usb":
            parent = self.usb_device(vid, pid, product=name, manufacturer="Touch Maker", serial=serial)
            unplug = parent.parent
        else:
            parent = self.i2c_client()
            unplug = parent
        input_dir = parent / "input" / f"input{event.removeprefix('event')}"
        _write(input_dir / "name", name)
        _write(input_dir / "uniq", uniq or "")
        _write(input_dir / "id/bustype", f"{_BUSTYPE[bus]:04x}")
        _write(input_dir / "id/vendor", vid)
        _write(input_dir / "id/product", pid)
        _write(input_dir / "capabilities/ev", format_bitmap(0b1011))
        _write(input_dir / "capabilities/key", format_bitmap(key))
        _write(input_dir / "capabilities/abs", format_bitmap(abs_))
        _write(input_dir / "properties", format_bitmap(props))
        _link(input_dir / "device", parent)
        real = input_dir / event
        real.mkdir()
        _link(real / "device", input_dir)
        _link(self.root / "class/input" / event, real)
        _write(self.dev / "input" / event, "")
        self._unplug[event] = unplug
        return event

    # -- hotplug -------------------------------------------------------------------------------
    def unplug(self, node: str) -> None:
        """The device behind ``node`` is gone: its class entries, device directory and /dev node."""
        gone = self._unplug.pop(node)
        for cls in ("video4linux", "input"):
            for entry in sorted((self.root / "class" / cls).glob("*")):
                real = Path(os.path.realpath(entry))
                if real == gone or gone in real.parents:
                    entry.unlink()
                    (self.dev / entry.name).unlink(missing_ok=True)
                    (self.dev / "input" / entry.name).unlink(missing_ok=True)
        shutil.rmtree(gone)
        self._unplug = {n: d for n, d in self._unplug.items() if d.exists()}


def spec_for(device_class: str, driver: str, port: str = "auto", **options: object) -> DeviceSpec:
    return DeviceSpec(name=device_class, device_class=device_class, driver=driver, port=port, options=options)


def context(clock: FakeClock | None = None) -> DriverContext:
    return DriverContext(clock=clock or FakeClock())
