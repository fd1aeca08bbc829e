"""Reading a device's identity from sysfs.

The layout read here is the kernel's documented ABI:

* ``/sys/class/<class>/<node>/device`` is a link to the device the class node belongs to
  (https://www.kernel.org/doc/html/latest/driver-api/driver-model/class.html);
* a USB device directory holds ``idVendor``, ``idProduct`` (4 hex digits), and where the device
  reports them ``manufacturer``, ``product``, ``serial``
  (https://www.kernel.org/doc/Documentation/ABI/stable/sysfs-bus-usb); the class node's
  ``device`` is usually one of its interfaces (``1-1:1.0``), so the USB device is the nearest
  ancestor holding ``idVendor``.

The root is a parameter everywhere (``/sys`` on a kiosk, a tree built by a test otherwise).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: more than this many parent directories is not a USB device tree any more
_MAX_DEPTH = 12


def read_attr(path: Path) -> str | None:
    """One sysfs attribute, stripped; None when it is absent or unreadable (a device that
    vanished between listing and reading reads as absent, never as an error)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a device says it is. ``vid``/``pid`` are 4 lower-case hex digits, or "" if unknown."""

    vid: str = ""
    pid: str = ""
    #: the product string (USB ``product``) or the kernel's device name (V4L2 / input ``name``)
    name: str = ""
    manufacturer: str = ""
    serial: str = ""
    #: "usb", "i2c", ... (where known)
    bus: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v}

    def describe(self) -> str:
        ids = f"{self.vid}:{self.pid}" if self.vid or self.pid else "no ids"
        return f"{self.name or 'unnamed'} ({ids}{', serial ' + self.serial if self.serial else ''})"


def hex4(value: str | None) -> str:
    """A vendor/product id as 4 lower-case hex digits ("" if absent or not hex)."""
    if not value:
        return ""
    text = value.lower().removeprefix("0x")
    try:
        return f"{int(text, 16):04x}"
    except ValueError:
        return ""


def resolve(path: Path) -> Path | None:
    """Where a sysfs link points (None when the link or its target is gone)."""
    try:
        target = Path(os.path.realpath(path))
    except OSError:
        return None
    return target if target.exists() else None


def usb_device_dir(start: Path, root: Path) -> Path | None:
    """The nearest directory at or above ``start`` (and inside ``root``) that is a USB device."""
    here = start
    for _ in range(_MAX_DEPTH):
        if (here / "idVendor").is_file():
            return here
        if here.parent == here or here == root or root not in here.parents:
            return None
        here = here.parent
    return None


def usb_identity(start: Path, root: Path) -> Identity | None:
    """The USB identity of the device at or above ``start``; None when it is not on USB."""
    usb = usb_device_dir(start, root)
    if usb is None:
        return None
    return Identity(vid=hex4(read_attr(usb / "idVendor")), pid=hex4(read_attr(usb / "idProduct")),
                    name=read_attr(usb / "product") or "", manufacturer=read_attr(usb / "manufacturer") or "",
                    serial=read_attr(usb / "serial") or "", bus="usb")


def subsystem(device: Path) -> str:
    """The bus a device sits on (the name its ``subsystem`` link points to), "" if unknown."""
    target = resolve(device / "subsystem")
    return target.name if target is not None else ""


def node_wanted(port: str) -> str | None:
    """The kernel node name a device section's ``port`` pins, or None for ``auto`` (any node).

    ``video0``, ``/dev/video0`` and a udev link such as ``/dev/v4l/by-id/...`` (resolved while it
    exists) all name ``video0``; a link that is gone names a node that is not there.
    """
    if port in ("", "auto"):
        return None
    path = Path(port)
    if path.is_absolute() and path.exists():
        path = Path(os.path.realpath(path))
    return path.name


def class_nodes(root: Path, cls: str, prefix: str) -> list[Path]:
    """``/sys/class/<cls>/<prefix>N`` entries, in N order."""
    base = root / "class" / cls
    try:
        entries = [p for p in base.iterdir() if p.name.startswith(prefix) and p.name[len(prefix):].isdigit()]
    except OSError:
        return []
    return sorted(entries, key=lambda p: int(p.name[len(prefix):]))
