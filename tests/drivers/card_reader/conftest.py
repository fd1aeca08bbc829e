"""Fixtures: the simulated card module on a real pty (or TCP), and a driver opened on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base.device import DeviceSpec, DriverContext
from drivers.card_reader.driver import CrtCardReaderDriver
from simulators.base.link import Link, PtyLink, TcpLink
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
def make_driver(link: Link, events: Events) -> Iterator[DriverFactory]:
    made: list[CrtCardReaderDriver] = []

    def factory(url: str | None = None, options: dict[str, Any] | None = None, open_: bool = True,
                **ctx_kwargs: Any) -> CrtCardReaderDriver:
        spec = DeviceSpec(name="card_reader", device_class="card_reader", driver="crt", port=url or link.url,
                          baudrate=9600, options=options or {})
        ctx = DriverContext(emit=events, token_key=TOKEN_KEY, **ctx_kwargs)
        drv = CrtCardReaderDriver(spec, ctx)
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
