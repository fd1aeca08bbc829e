"""Fixtures: an Id003Peer on a real pty (or TCP) and Id003Driver instances talking to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base.device import DeviceSpec, DriverContext
from drivers.bill_acceptor.id003.driver import Id003Driver
from simulators.base.link import PtyLink
from simulators.bill_acceptor_id003 import Id003Peer
from tests.drivers.bill_acceptor.support import Journal

DriverFactory = Callable[..., Id003Driver]


@pytest.fixture
def peer() -> Id003Peer:
    return Id003Peer(seed=7)


@pytest.fixture
def link(peer: Id003Peer, tmp_path: Path) -> Iterator[PtyLink]:
    lnk = PtyLink(peer, tmp_path / "bill_acceptor")
    lnk.start()
    try:
        yield lnk
    finally:
        lnk.stop()


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def make_driver(link: PtyLink, journal: Journal) -> Iterator[DriverFactory]:
    made: list[Id003Driver] = []

    def factory(url: str | None = None, *, timeout_s: float = 0.25, prompt: Callable[[str], None] | None = None,
                **options: Any) -> Id003Driver:
        spec = DeviceSpec(name="bill_acceptor", device_class="bill_acceptor", driver="id003",
                          port=url or link.url, baudrate=9600, poll_interval_s=5.0, timeout_s=timeout_s,
                          options=options)
        ctx = DriverContext(emit=journal.emit)
        if prompt is not None:
            ctx.prompt = prompt
        drv = Id003Driver(spec, ctx)
        drv.open()
        made.append(drv)
        return drv

    yield factory
    for drv in made:
        drv.close()


@pytest.fixture
def driver(make_driver: DriverFactory) -> Id003Driver:
    return make_driver()
