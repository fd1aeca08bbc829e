"""Fixtures: the simulated printer on an in-memory loopback link in virtual time (the default),
on a real pty, over TCP and over USB (pyusb core + PeerUsbBackend)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base.clock import FakeClock
from drivers.base.device import DeviceSpec, DriverContext
from drivers.receipt_printer.driver import EscposDriver
from simulators.base.link import PtyLink, TcpLink
from simulators.base.loopback import LoopbackPeerLink
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
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def loop(peer: ReceiptPrinterPeer, clock: FakeClock) -> LoopbackPeerLink:
    """The peer on an in-memory link in virtual time: the default line of these tests."""
    return LoopbackPeerLink(peer, clock)


@pytest.fixture
def make_driver(events: Events, request: pytest.FixtureRequest) -> Iterator[DriverFactory]:
    """``make(port)``: a real port (str) on the system clock, or a loopback link (default: ``loop``)
    on its fake clock. ``loop`` is made only when asked for: it takes over the peer's output."""
    made: list[EscposDriver] = []

    def make(port: str | LoopbackPeerLink | None = None, *, timeout_s: float = 0.2,
             options: dict[str, Any] | None = None, usb_backend: Any = None) -> EscposDriver:
        link = request.getfixturevalue("loop") if port is None else port
        url = link if isinstance(link, str) else link.url
        spec = DeviceSpec("printer", "receipt_printer", "escpos", url, baudrate=115200, timeout_s=timeout_s,
                          options=options or {})
        ctx = DriverContext(emit=events, usb_backend=usb_backend)
        if not isinstance(link, str):
            ctx.clock, ctx.open_transport = link.link.clock, link.opener()
        drv = EscposDriver(spec, ctx)
        made.append(drv)
        return drv

    yield make
    for drv in made:
        drv.close()


@pytest.fixture
def driver(make_driver: DriverFactory) -> EscposDriver:
    drv = make_driver()
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
