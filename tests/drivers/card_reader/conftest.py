"""Fixtures: the simulated card module on an in-memory loopback link in virtual time (the default),
on a real pty or over TCP, and a driver opened on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base.clock import FakeClock
from drivers.base.device import DeviceSpec, DriverContext
from drivers.card_reader.driver import CrtCardReaderDriver
from simulators.base.link import Link, PtyLink, TcpLink
from simulators.base.loopback import LoopbackPeerLink
from simulators.card_reader import CardReaderPeer
from tests.drivers.helpers import Events

TOKEN_KEY = bytes(range(32))


@pytest.fixture
def peer() -> CardReaderPeer:
    return CardReaderPeer(seed=7)


@pytest.fixture
def link(peer: CardReaderPeer, tmp_path: Path) -> Iterator[Link]:
    lk = PtyLink(peer, tmp_path / "card_reader").start()
    try:
        yield lk
    finally:
        lk.stop()


@pytest.fixture
def tcp_link(peer: CardReaderPeer) -> Iterator[Link]:
    lk = TcpLink(peer).start()
    try:
        yield lk
    finally:
        lk.stop()


@pytest.fixture
def events() -> Events:
    return Events()


DriverFactory = Callable[..., CrtCardReaderDriver]


@pytest.fixture
def loop(peer: CardReaderPeer) -> LoopbackPeerLink:
    """The peer on an in-memory link in virtual time: the default line of these tests."""
    return LoopbackPeerLink(peer, FakeClock())


@pytest.fixture
def make_driver(events: Events, request: pytest.FixtureRequest) -> Iterator[DriverFactory]:
    """``factory(url)``: a real port (str) on the system clock, or a loopback link (default:
    ``loop``, made only when asked for: it takes over the peer's output) on its fake clock."""
    made: list[CrtCardReaderDriver] = []

    def factory(url: str | LoopbackPeerLink | None = None, options: dict[str, Any] | None = None,
                open_: bool = True, **ctx_kwargs: Any) -> CrtCardReaderDriver:
        line = request.getfixturevalue("loop") if url is None else url
        if not isinstance(line, str):
            ctx_kwargs.update(clock=line.link.clock, open_transport=line.opener())
        spec = DeviceSpec(name="card_reader", device_class="card_reader", driver="crt",
                          port=line if isinstance(line, str) else line.url, baudrate=9600, options=options or {})
        drv = CrtCardReaderDriver(spec, DriverContext(emit=events, token_key=TOKEN_KEY, **ctx_kwargs))
        made.append(drv)
        if open_:
            drv.open()
        return drv

    yield factory
    for drv in made:
        drv.close()


@pytest.fixture
def driver(make_driver: DriverFactory) -> CrtCardReaderDriver:
    return make_driver()
