"""The same driver over TCP (pyserial socket://) and over USB through the real pyusb core."""

from __future__ import annotations

import pytest
import usb.core
import usb.util

from drivers.base.errors import DeviceRefused, DeviceTimeout, TransportError
from drivers.base.health import DeviceState
from drivers.base.transport import UsbBulkTransport, open_transport
from simulators.base.link import TcpLink
from simulators.receipt_printer import PrintedLine, ReceiptPrinterPeer
from simulators.usb_backend import EP_IN, EP_OUT, USB_CLASS_PRINTER, PeerUsbBackend

from .conftest import DriverFactory, Events


def test_tcp_poll_and_print(tcp_link: TcpLink, make_driver: DriverFactory, peer: ReceiptPrinterPeer) -> None:
    drv = make_driver(tcp_link.url)
    drv.open()
    assert drv.poll().state == DeviceState.ONLINE
    assert drv.operation("print", {"lines": ["TCP 9100"], "cut": True})["printed"] is True
    assert peer.receipts[-1].text == ["TCP 9100"]
    peer.set_fault("cover_open")
    assert drv.poll().fault_codes == ["cover_open"]


def test_usb_open_transport_picks_pyusb() -> None:
    assert isinstance(open_transport("usb:04b8:0202", usb_backend=object()), UsbBulkTransport)


def test_pyusb_core_sees_a_printer(usb_backend: PeerUsbBackend) -> None:
    dev = usb.core.find(idVendor=0x04B8, idProduct=0x0202, backend=usb_backend)
    assert dev is not None
    dev.set_configuration()
    intf = dev.get_active_configuration()[(0, 0)]
    assert intf.bInterfaceClass == USB_CLASS_PRINTER
    assert sorted(ep.bEndpointAddress for ep in intf) == [EP_OUT, EP_IN]
    usb.util.claim_interface(dev, 0)
    dev.write(EP_OUT, b"\x10\x04\x04")
    assert bytes(dev.read(EP_IN, 64, timeout=1000)) == b"\x12"
    with pytest.raises(usb.core.USBTimeoutError):
        dev.read(EP_IN, 64, timeout=30)
    usb.util.release_interface(dev, 0)
    usb.util.dispose_resources(dev)


def test_usb_end_to_end_receipt_and_status(usb_backend: PeerUsbBackend, make_driver: DriverFactory,
                                           peer: ReceiptPrinterPeer, events: Events) -> None:
    drv = make_driver(usb_backend.url, usb_backend=usb_backend)
    drv.open()
    assert usb_backend.claimed
    assert drv.poll().state == DeviceState.ONLINE
    result = drv.operation("print", {"lines": [{"text": "USB 收据", "bold": True}, "line 2"],
                                     "qr": "QR-USB-1", "cut": True})
    assert result == {"printed": True, "lines": 2, "cut": True, "faults": []}
    receipt = peer.receipts[-1]
    assert receipt.lines[:2] == [PrintedLine("USB 收据", True, "left"), PrintedLine("line 2")]
    assert receipt.qr == ["QR-USB-1"] and receipt.cut == "partial"
    assert usb_backend.bytes_out > 0
    peer.set_fault("paper_out")
    status = drv.poll()
    assert status.fault_codes == ["paper_out"] and status.detail["raw"]["eot4"] == "0x7E"
    with pytest.raises(DeviceRefused):
        drv.operation("print", {"lines": ["x"]})
    assert events.kinds() == ["receipt_printed"]


def test_usb_mute_is_timeout(usb_backend: PeerUsbBackend, make_driver: DriverFactory,
                             peer: ReceiptPrinterPeer) -> None:
    drv = make_driver(usb_backend.url, usb_backend=usb_backend)
    drv.open()
    peer.set_fault("mute")
    with pytest.raises(DeviceTimeout):
        drv.poll()
    peer.set_fault("mute", False)
    assert drv.poll().state == DeviceState.ONLINE


def test_usb_unplug_then_reopen(usb_backend: PeerUsbBackend, make_driver: DriverFactory) -> None:
    drv = make_driver(usb_backend.url, usb_backend=usb_backend)
    drv.open()
    usb_backend.unplug()
    with pytest.raises(TransportError):
        drv.poll()
    with pytest.raises(TransportError, match="no USB device"):
        drv.open()
    usb_backend.replug()
    drv.open()
    assert drv.poll().state == DeviceState.ONLINE
