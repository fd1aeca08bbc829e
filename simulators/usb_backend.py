"""A pyusb backend that presents a simulated USB printer, so the driver's USB path runs
through the real pyusb core (``usb.core.find(backend=...)``, ``set_configuration``,
``claim_interface``, ``Endpoint.write`` / ``read``) without hardware.

The device is a USB printer-class function (interface class 07h, subclass 01h, protocol 02h
bidirectional) with one bulk OUT and one bulk IN endpoint, as ESC/POS receipt printers
enumerate. Bulk OUT data goes to a worker thread that calls the peer's ``feed()`` (so a
``slow`` peer does not stall the host's write, as on a real bus); the peer's replies queue for
bulk IN reads, which block up to the transfer timeout and then raise ``USBTimeoutError``
like libusb. ``unplug()`` / ``replug()`` make the device vanish (ENODEV) and come back.
"""

from __future__ import annotations

import array
import errno
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import usb.backend
import usb.core

from simulators.base.peer import DevicePeer

#: libusb error codes pyusb backends report
LIBUSB_ERROR_NO_DEVICE = -4
LIBUSB_ERROR_TIMEOUT = -7

USB_CLASS_PRINTER = 0x07
EP_OUT = 0x01
EP_IN = 0x82
MAX_PACKET = 64


@dataclass
class _Descriptor:
    """A descriptor: pyusb reads its fields as attributes."""

    fields: dict[str, Any]
    extra_descriptors: list[int] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None


def _device_descriptor(vid: int, pid: int) -> _Descriptor:
    return _Descriptor({
        "bLength": 18, "bDescriptorType": 0x01, "bcdUSB": 0x0200, "bDeviceClass": 0, "bDeviceSubClass": 0,
        "bDeviceProtocol": 0, "bMaxPacketSize0": 64, "idVendor": vid, "idProduct": pid, "bcdDevice": 0x0100,
        "iManufacturer": 0, "iProduct": 0, "iSerialNumber": 0, "bNumConfigurations": 1,
        "address": 7, "bus": 1, "port_number": 1, "port_numbers": (1,), "speed": 2,
    })


_CONFIG = _Descriptor({
    "bLength": 9, "bDescriptorType": 0x02, "wTotalLength": 32, "bNumInterfaces": 1, "bConfigurationValue": 1,
    "iConfiguration": 0, "bmAttributes": 0xC0, "bMaxPower": 50,
})
_INTERFACE = _Descriptor({
    "bLength": 9, "bDescriptorType": 0x04, "bInterfaceNumber": 0, "bAlternateSetting": 0, "bNumEndpoints": 2,
    "bInterfaceClass": USB_CLASS_PRINTER, "bInterfaceSubClass": 0x01, "bInterfaceProtocol": 0x02,
    "iInterface": 0,
})
_ENDPOINTS = [
    _Descriptor({"bLength": 7, "bDescriptorType": 0x05, "bEndpointAddress": EP_OUT, "bmAttributes": 0x02,
                 "wMaxPacketSize": MAX_PACKET, "bInterval": 0, "bRefresh": 0, "bSynchAddress": 0}),
    _Descriptor({"bLength": 7, "bDescriptorType": 0x05, "bEndpointAddress": EP_IN, "bmAttributes": 0x02,
                 "wMaxPacketSize": MAX_PACKET, "bInterval": 0, "bRefresh": 0, "bSynchAddress": 0}),
]


def _no_device() -> usb.core.USBError:
    return usb.core.USBError("No such device (it may have been disconnected)", LIBUSB_ERROR_NO_DEVICE, errno.ENODEV)


class PeerUsbBackend(usb.backend.IBackend):  # type: ignore[misc]
    """One simulated USB printer backed by a DevicePeer. Use ``start()`` / ``stop()``."""

    def __init__(self, peer: DevicePeer, vid: int = 0x04B8, pid: int = 0x0202) -> None:
        self.peer = peer
        self.vid, self.pid = vid, pid
        self._device = _device_descriptor(vid, pid)
        self._lock = threading.Condition()
        self._in = bytearray()
        self._out: queue.Queue[bytes | None] = queue.Queue()
        self._plugged = True
        self._config = 0
        self._claimed: set[int] = set()
        self._open_handles = 0
        self._worker: threading.Thread | None = None
        #: bulk OUT bytes received (for tests)
        self.bytes_out = 0
        peer.send = self._enqueue_in

    @property
    def url(self) -> str:
        """The agent config ``port`` for this device."""
        return f"usb:{self.vid:04x}:{self.pid:04x}"

    @property
    def claimed(self) -> bool:
        with self._lock:
            return bool(self._claimed)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> PeerUsbBackend:
        self._worker = threading.Thread(target=self._pump, name=f"usb-sim-{self.peer.device_class}", daemon=True)
        self._worker.start()
        return self

    def stop(self) -> None:
        if self._worker is not None:
            self._out.put(None)
            self._worker.join(timeout=5)
            self._worker = None

    def unplug(self) -> None:
        """The device vanishes: transfers fail with ENODEV and find() no longer sees it."""
        with self._lock:
            self._plugged = False
            self._claimed.clear()
            self._config = 0
            self._in.clear()
            self._lock.notify_all()

    def replug(self) -> None:
        with self._lock:
            self._plugged = True

    def _pump(self) -> None:
        while True:
            data = self._out.get()
            if data is None:
                return
            self.peer.feed(data)

    def _enqueue_in(self, data: bytes) -> None:
        with self._lock:
            if self._plugged:
                self._in += data
                self._lock.notify_all()

    def _require(self) -> None:
        if not self._plugged:
            raise _no_device()

    # -- IBackend ----------------------------------------------------------------------------
    def enumerate_devices(self) -> list[str]:
        with self._lock:
            return ["sim-printer"] if self._plugged else []

    def get_device_descriptor(self, dev: Any) -> _Descriptor:
        return self._device

    def get_configuration_descriptor(self, dev: Any, config: int) -> _Descriptor:
        if config != 0:
            raise IndexError(config)
        return _CONFIG

    def get_interface_descriptor(self, dev: Any, intf: int, alt: int, config: int) -> _Descriptor:
        if (config, intf, alt) != (0, 0, 0):
            raise IndexError((config, intf, alt))
        return _INTERFACE

    def get_endpoint_descriptor(self, dev: Any, ep: int, intf: int, alt: int, config: int) -> _Descriptor:
        if (config, intf, alt) != (0, 0, 0) or not 0 <= ep < len(_ENDPOINTS):
            raise IndexError(ep)
        return _ENDPOINTS[ep]

    def open_device(self, dev: Any) -> str:
        with self._lock:
            self._require()
            self._open_handles += 1
            return "sim-printer-handle"

    def close_device(self, dev_handle: Any) -> None:
        with self._lock:
            self._open_handles = max(0, self._open_handles - 1)

    def set_configuration(self, dev_handle: Any, config_value: int) -> None:
        with self._lock:
            self._require()
            if config_value not in (0, 1):
                raise usb.core.USBError("Invalid configuration", -2, errno.EINVAL)
            self._config = config_value

    def get_configuration(self, dev_handle: Any) -> int:
        with self._lock:
            self._require()
            return self._config

    def set_interface_altsetting(self, dev_handle: Any, intf: int, altsetting: int) -> None:
        with self._lock:
            self._require()

    def claim_interface(self, dev_handle: Any, intf: int) -> None:
        with self._lock:
            self._require()
            if intf != 0:
                raise usb.core.USBError("Entity not found", -5, errno.ENOENT)
            self._claimed.add(intf)

    def release_interface(self, dev_handle: Any, intf: int) -> None:
        with self._lock:
            self._claimed.discard(intf)

    def is_kernel_driver_active(self, dev_handle: Any, intf: int) -> bool:
        return False

    def detach_kernel_driver(self, dev_handle: Any, intf: int) -> None:
        return None

    def clear_halt(self, dev_handle: Any, ep: int) -> None:
        with self._lock:
            self._require()

    def bulk_write(self, dev_handle: Any, ep: int, intf: int, data: Any, timeout: int) -> int:
        with self._lock:
            self._require()
            if ep != EP_OUT or intf not in self._claimed or self._config != 1:
                raise usb.core.USBError("Input/Output Error", -1, errno.EIO)
            payload = bytes(data)
            self.bytes_out += len(payload)
        self._out.put(payload)
        return len(payload)

    def bulk_read(self, dev_handle: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        with self._lock:
            self._require()
            if ep != EP_IN or intf not in self._claimed or self._config != 1:
                raise usb.core.USBError("Input/Output Error", -1, errno.EIO)
            wait_s = (timeout if timeout and timeout > 0 else 3_600_000) / 1000.0
            if not self._lock.wait_for(lambda: bool(self._in) or not self._plugged, timeout=wait_s):
                raise usb.core.USBTimeoutError("Operation timed out", LIBUSB_ERROR_TIMEOUT, errno.ETIMEDOUT)
            self._require()
            n = min(len(buff), len(self._in))
            buff[:n] = array.array("B", self._in[:n])
            del self._in[:n]
            return n
