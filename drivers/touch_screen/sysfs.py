"""The touch screens sysfs lists (``/sys/class/input/eventN``), with their identity.

``eventN/device`` links to ``inputM``, which holds ``name``, ``uniq`` (a serial, where the
device has one), ``id/{bustype,vendor,product}`` (the vendor and product ids on any bus: USB
and I2C-HID alike), ``capabilities/`` and ``properties`` (:mod:`drivers.touch_screen.caps`);
its own ``device`` link leads to the USB interface or the I2C client
(https://www.kernel.org/doc/html/latest/input/input.html; the bus numbers:
https://www.kernel.org/doc/html/latest/input/event-codes.html and include/uapi/linux/input.h).
"""

from __future__ import annotations

from pathlib import Path

from drivers.sysfs.presence import Found
from drivers.sysfs.tree import Identity, class_nodes, hex4, read_attr, resolve, subsystem, usb_identity
from drivers.touch_screen.caps import TouchCaps

#: ``BUS_*`` of include/uapi/linux/input.h
BUS_NAMES = {0x03: "usb", 0x05: "bluetooth", 0x11: "i8042", 0x18: "i2c", 0x19: "host", 0x1C: "spi"}


def touch_screens(root: Path, dev_root: Path = Path("/dev"), only: str | None = None) -> list[Found]:
    """Every event node under ``root`` whose device is a touch screen, in node order."""
    out = []
    for entry in class_nodes(root, "input", "event"):
        if only is not None and entry.name != only:
            continue
        found = touch_screen(root, dev_root, entry)
        if found is not None:
            out.append(found)
    return out


def _bus(input_dir: Path, device: Path | None) -> str:
    text = hex4(read_attr(input_dir / "id" / "bustype"))
    if text and int(text, 16) in BUS_NAMES:
        return BUS_NAMES[int(text, 16)]
    return subsystem(device) if device is not None else ""


def touch_screen(root: Path, dev_root: Path, entry: Path) -> Found | None:
    """One event node as a :class:`Found` if it is a touch screen (None otherwise, or vanished)."""
    input_dir = resolve(entry / "device")
    if input_dir is None:
        return None
    caps_dir = input_dir / "capabilities"
    caps = TouchCaps.parse(read_attr(caps_dir / "key"), read_attr(caps_dir / "abs"),
                           read_attr(input_dir / "properties"))
    if not caps.touch_screen:
        return None
    device = resolve(input_dir / "device")
    usb = usb_identity(device, root) if device is not None else None
    ids = input_dir / "id"
    ident = Identity(vid=hex4(read_attr(ids / "vendor")), pid=hex4(read_attr(ids / "product")),
                     name=read_attr(input_dir / "name") or (usb.name if usb else ""),
                     manufacturer=usb.manufacturer if usb else "",
                     serial=read_attr(input_dir / "uniq") or (usb.serial if usb else ""), bus=_bus(input_dir, device))
    return Found(node=entry.name, dev_path=str(dev_root / "input" / entry.name), identity=ident,
                 extra={"input": input_dir.name, "multitouch": caps.multitouch, "direct": caps.direct})
