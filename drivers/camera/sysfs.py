"""The video4linux capture nodes sysfs lists, with the identity of the camera behind each.

``/sys/class/video4linux/videoN`` holds ``name`` (the driver's card name) and ``index`` (which
node of the same device this is: a UVC camera registers a capture node, index 0, and a metadata
node, index 1); its ``device`` link leads to the USB interface, below the USB device whose
``idVendor``/``idProduct`` identify the camera
(https://www.kernel.org/doc/Documentation/ABI/stable/sysfs-bus-usb; the capture interface:
https://www.kernel.org/doc/html/latest/userspace-api/media/v4l/dev-capture.html).
"""

from __future__ import annotations

from pathlib import Path

from drivers.sysfs.presence import Found
from drivers.sysfs.tree import Identity, class_nodes, read_attr, resolve, subsystem, usb_identity


def cameras(root: Path, dev_root: Path = Path("/dev"), only: str | None = None) -> list[Found]:
    """Every video capture node (index 0) under ``root``, in node order; ``only``: that node."""
    out = []
    for entry in class_nodes(root, "video4linux", "video"):
        if only is not None and entry.name != only:
            continue
        index = read_attr(entry / "index")
        if index not in (None, "0"):
            continue  # a second node of the same camera (metadata), not a capture node
        found = camera(root, dev_root, entry)
        if found is not None:
            out.append(found)
    return out


def camera(root: Path, dev_root: Path, entry: Path) -> Found | None:
    """One node as a :class:`Found`; None when it vanished while being read."""
    name = read_attr(entry / "name")
    device = resolve(entry / "device")
    if name is None or device is None:
        return None
    usb = usb_identity(device, root)
    ident = usb if usb is not None else Identity(name=name, bus=subsystem(device))
    if not ident.name:
        ident = Identity(ident.vid, ident.pid, name, ident.manufacturer, ident.serial, ident.bus)
    return Found(node=entry.name, dev_path=str(dev_root / entry.name), identity=ident, extra={"v4l2_name": name})
