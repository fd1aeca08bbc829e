"""Fixtures: the simulated printer on a real pty, over TCP and over USB (pyusb core + PeerUsbBackend)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base.device import DeviceSpec, DriverContext
from drivers.receipt_printer.driver import EscposDriver
from simulators.base.link import PtyLink, TcpLink
from simulators.receipt_printer import ReceiptPrinterPeer
from simulators.usb_backend import PeerUsbBackend
from tests.drivers.helpers import Events

DriverFactory = Callable[..., EscposDriver]


@pytest.fixture
def peer() -> ReceiptPrinterPeer:
    return ReceiptPrinterPeer(seed=7)


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def pty_link(peer: ReceiptPrinterPeer, tmp_path: Path) -> Iterator[PtyLink]:
    link = PtyLink(peer, tmp_path / "kiosk-printer").start()
    yield link
    link.stop()


@pytest.fixture
def make_driver(events: Events) -> Iterator[DriverFactory]:
    made: list[EscposDriver] = []

    def make(port: str, *, timeout_s: float = 0.2, options: dict[str, Any] | None = None,
             usb_backend: Any = None) -> EscposDriver:
        spec = DeviceSpec("printer", "receipt_printer", "escpos", port, baudrate=115200, timeout_s=timeout_s,
                          options=options or {})
        drv = EscposDriver(spec, DriverContext(emit=events, usb_backend=usb_backend))
        made.append(drv)
        return drv

    yield make
    for drv in made:
        drv.close()


@pytest.fixture
def driver(pty_link: PtyLink, make_driver: DriverFactory) -> EscposDriver:
    drv = make_driver(pty_link.url)
    drv.open()
    return drv


@pytest.fixture
def tcp_link(peer: ReceiptPrinterPeer) -> Iterator[TcpLink]:
    link = TcpLink(peer).start()
    yield link
    link.stop()


@pytest.fixture
def usb_backend(peer: ReceiptPrinterPeer) -> Iterator[PeerUsbBackend]:
    backend = PeerUsbBackend(peer).start()
    yield backend
    backend.stop()
