"""The real transports: the only module that imports ``serial`` or ``usb``.

The :class:`~drivers.base.io.Transport` contract lives in :mod:`drivers.base.io` (re-exported
here); the in-memory transports for tests in :mod:`drivers.base.loopback`.

A transport knows no protocol and never retries. ``read(n, timeout_s)`` returns up to ``n``
bytes, or ``b""`` when nothing arrived before the timeout; a vanished port raises
``TransportError``.

Port strings:
  * anything pyserial's ``serial_for_url`` takes: ``/dev/ttyS0``, a pty path, ``socket://h:p``,
    ``rfc2217://h:p``, ``loop://``;
  * ``usb:VID:PID`` (hex) for a USB device with bulk endpoints, through pyusb.
"""

from __future__ import annotations

import os
import select
import termios
import time
from typing import Any

import serial
import usb.core
import usb.util

from drivers.base.errors import TransportError
from drivers.base.io import Transport

__all__ = ["SerialTransport", "Transport", "UsbBulkTransport", "open_transport", "parse_usb_port"]


#: read slice: how long one blocking read waits before the deadline is checked again
_SLICE_S = 0.02


class SerialTransport:
    """pyserial over a URL. Line settings are applied on open."""

    def __init__(self, url: str, *, baudrate: int = 9600, bytesize: int = 8, parity: str = "N",
                 stopbits: float = 1, write_timeout_s: float = 1.0) -> None:
        self.url = url
        self._settings: dict[str, Any] = {
            "baudrate": baudrate, "bytesize": bytesize, "parity": parity, "stopbits": stopbits,
        }
        self._write_timeout_s = write_timeout_s
        self._port: serial.SerialBase | None = None

    @property
    def is_open(self) -> bool:
        return self._port is not None and self._port.is_open

    def open(self) -> None:
        self.close()
        try:
            self._port = self._open_with(self._settings)
        except termios.error as exc:
            if not _is_pty(self.url):
                raise TransportError(f"cannot configure {self.url}: {exc}") from exc
            # Linux refuses to re-apply PARENB to a pty that had it set before (EINVAL);
            # a pty ignores line settings anyway, so simulators get 8N1. A real UART never
            # lands here: its errors are reported above.
            self._port = self._open_with({**self._settings, "parity": "N"})

    def _open_with(self, settings: dict[str, Any]) -> serial.SerialBase:
        try:
            port = serial.serial_for_url(self.url, do_not_open=True, timeout=_SLICE_S,
                                         write_timeout=self._write_timeout_s, **settings)
            port.open()
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportError(f"cannot open {self.url}: {exc}") from exc
        return port

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass

    def _require(self) -> serial.SerialBase:
        if self._port is None or not self._port.is_open:
            raise TransportError(f"{self.url} is not open")
        return self._port

    def write(self, data: bytes) -> None:
        port = self._require()
        try:
            port.write(data)
            port.flush()
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise TransportError(f"write to {self.url} failed: {exc}") from exc

    def read(self, n: int, timeout_s: float) -> bytes:
        # The port timeout is fixed at open (_SLICE_S): changing it reconfigures termios on
        # every call, which is slow and fails outright on a pty with parity set.
        port = self._require()
        deadline = time.monotonic() + max(0.0, timeout_s)
        fd = _fileno(port)
        try:
            while True:
                waiting = port.in_waiting
                if waiting:
                    data = bytearray(port.read(min(n, waiting)))
                    # socket:// reports only "something" (1) as in_waiting: take what has arrived,
                    # so one read returns a burst whole, not a byte per call
                    while len(data) < n and (more := port.in_waiting):
                        data += port.read(min(n - len(data), more))
                    return bytes(data)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return b""
                if fd is not None:
                    # wait exactly as long as asked (the port's own timeout is a coarse slice)
                    ready, _, _ = select.select([fd], [], [], remaining)
                    if not ready:
                        return b""
                    continue
                first = bytes(port.read(1))
                if first:
                    more = port.in_waiting if n > 1 else 0
                    return first + (bytes(port.read(min(n - 1, more))) if more else b"")
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise TransportError(f"read from {self.url} failed: {exc}") from exc

    def reset_input(self) -> None:
        port = self._require()
        try:
            port.reset_input_buffer()
        except (serial.SerialException, OSError, termios.error) as exc:
            self.close()
            raise TransportError(f"reset of {self.url} failed: {exc}") from exc


class UsbBulkTransport:
    """A USB device's first bulk OUT/IN endpoint pair, through the pyusb core.

    ``backend`` lets tests and simulators present a device through a custom
    ``usb.backend.IBackend``; ``None`` uses pyusb's libusb discovery.
    """

    def __init__(self, vid: int, pid: int, *, backend: Any = None, interface: int = 0) -> None:
        self.vid, self.pid = vid, pid
        self._backend = backend
        self._interface = interface
        self._dev: Any = None
        self._ep_out: Any = None
        self._ep_in: Any = None
        self._pending = b""

    @property
    def url(self) -> str:
        return f"usb:{self.vid:04x}:{self.pid:04x}"

    @property
    def is_open(self) -> bool:
        return self._dev is not None

    def open(self) -> None:
        self.close()
        try:
            dev = usb.core.find(idVendor=self.vid, idProduct=self.pid, backend=self._backend)
            if dev is None:
                raise TransportError(f"no USB device {self.url}")
            try:
                if dev.is_kernel_driver_active(self._interface):
                    dev.detach_kernel_driver(self._interface)
            except (NotImplementedError, usb.core.USBError):
                pass
            dev.set_configuration()
            cfg = dev.get_active_configuration()
            intf = cfg[(self._interface, 0)]
            usb.util.claim_interface(dev, self._interface)

            def is_bulk(direction: int) -> Any:
                return lambda ep: (usb.util.endpoint_type(ep.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
                                   and usb.util.endpoint_direction(ep.bEndpointAddress) == direction)

            ep_out = usb.util.find_descriptor(intf, custom_match=is_bulk(usb.util.ENDPOINT_OUT))
            ep_in = usb.util.find_descriptor(intf, custom_match=is_bulk(usb.util.ENDPOINT_IN))
            if ep_out is None or ep_in is None:
                raise TransportError(f"{self.url} has no bulk endpoint pair")
        except usb.core.USBError as exc:
            raise TransportError(f"cannot open {self.url}: {exc}") from exc
        except (ValueError, NotImplementedError) as exc:
            raise TransportError(f"cannot open {self.url}: {exc}") from exc
        self._dev, self._ep_out, self._ep_in = dev, ep_out, ep_in

    def close(self) -> None:
        dev, self._dev = self._dev, None
        self._pending = b""
        if dev is not None:
            try:
                usb.util.release_interface(dev, self._interface)
                usb.util.dispose_resources(dev)
            except (usb.core.USBError, ValueError, NotImplementedError):
                pass

    def write(self, data: bytes) -> None:
        if self._dev is None:
            raise TransportError(f"{self.url} is not open")
        try:
            self._ep_out.write(data, timeout=1000)
        except usb.core.USBTimeoutError as exc:
            raise TransportError(f"write to {self.url} timed out") from exc
        except usb.core.USBError as exc:
            self.close()
            raise TransportError(f"write to {self.url} failed: {exc}") from exc

    def read(self, n: int, timeout_s: float) -> bytes:
        if self._dev is None:
            raise TransportError(f"{self.url} is not open")
        deadline = time.monotonic() + max(0.0, timeout_s)
        while not self._pending:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                return b""
            try:
                chunk = bytes(self._ep_in.read(self._ep_in.wMaxPacketSize, timeout=remaining_ms))
            except usb.core.USBTimeoutError:
                return b""
            except usb.core.USBError as exc:
                self.close()
                raise TransportError(f"read from {self.url} failed: {exc}") from exc
            self._pending += chunk
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    def reset_input(self) -> None:
        self._pending = b""


def _fileno(port: serial.SerialBase) -> int | None:
    """A file descriptor select() can wait on: a local tty's, or a socket:// URL's socket."""
    sock = getattr(port, "_socket", None)
    if sock is not None:
        try:
            return int(sock.fileno())
        except OSError:
            return None
    try:
        return int(port.fileno())
    except (AttributeError, OSError, ValueError, serial.SerialException):
        return None


def _is_pty(url: str) -> bool:
    """A Unix98 pty slave (/dev/pts/N), also behind a symlink such as /dev/kiosk-printer."""
    try:
        return os.path.realpath(url).startswith("/dev/pts/")
    except OSError:
        return False


def parse_usb_port(port: str) -> tuple[int, int] | None:
    """``usb:04b8:0202`` -> (0x04b8, 0x0202); None for any other port string."""
    if not port.startswith("usb:"):
        return None
    parts = port.split(":")
    if len(parts) != 3:
        raise ValueError(f"USB port must be usb:VID:PID, got {port!r}")
    return int(parts[1], 16), int(parts[2], 16)


def open_transport(port: str, *, baudrate: int = 9600, bytesize: int = 8, parity: str = "N",
                   stopbits: float = 1, usb_backend: Any = None) -> Transport:
    """Build (not open) the transport a port string names."""
    ids = parse_usb_port(port)
    if ids is not None:
        return UsbBulkTransport(*ids, backend=usb_backend)
    return SerialTransport(port, baudrate=baudrate, bytesize=bytesize, parity=parity, stopbits=stopbits)
