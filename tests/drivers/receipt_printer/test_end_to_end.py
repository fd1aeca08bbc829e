"""End-to-end proof over a real pty (pyserial, the kernel's tty layer, real time): the driver
and the simulated printer as the daemon runs them. The fault matrix runs in virtual time over
the loopback link (test_driver.py); these few check the real line carries the same (a real
timeout over a real port: test_transports.py, USB mute)."""

from __future__ import annotations

import pytest

from drivers.base.errors import TransportError
from drivers.base.health import DeviceState
from drivers.receipt_printer.driver import EscposDriver
from simulators.base.link import PtyLink
from simulators.receipt_printer import ReceiptPrinterPeer

from .conftest import DriverFactory, Events


@pytest.fixture
def pty_driver(pty_link: PtyLink, make_driver: DriverFactory) -> EscposDriver:
    drv = make_driver(pty_link.url)
    drv.open()
    return drv


def test_poll_print_and_a_fault_over_a_pty(pty_driver: EscposDriver, peer: ReceiptPrinterPeer,
                                           events: Events) -> None:
    assert pty_driver.poll().state == DeviceState.ONLINE
    result = pty_driver.operation("print", {"lines": ["收据 PTY", "line 2"], "qr": "QR-PTY", "cut": True})
    assert result == {"printed": True, "lines": 2, "cut": True, "faults": []}
    assert peer.receipts[-1].text[:2] == ["收据 PTY", "line 2"] and peer.receipts[-1].qr == ["QR-PTY"]
    peer.set_fault("paper_out")
    assert pty_driver.poll().fault_codes == ["paper_out"]
    assert events.kinds() == ["receipt_printed"]


def test_pty_vanishes_and_comes_back(pty_driver: EscposDriver, pty_link: PtyLink) -> None:
    pty_link.disconnect()
    with pytest.raises(TransportError):
        pty_driver.poll()
    with pytest.raises(TransportError):
        pty_driver.open()
    pty_link.reconnect()
    pty_driver.open()
    assert pty_driver.poll().state == DeviceState.ONLINE
