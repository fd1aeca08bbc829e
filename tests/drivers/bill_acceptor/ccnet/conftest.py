"""Fixtures: a CcnetPeer on a real pty and CcnetDriver instances talking to it (they override the
ID003 fixtures of the parent conftest for the tests in this folder)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base.device import DeviceSpec, DriverContext
from drivers.bill_acceptor.ccnet.driver import CcnetDriver
from simulators.base.link import PtyLink
from simulators.bill_acceptor_ccnet import CcnetPeer
from tests.drivers.bill_acceptor.support import Journal

CcnetFactory = Callable[..., CcnetDriver]


@pytest.fixture
def peer() -> CcnetPeer:
    return CcnetPeer(seed=7)


@pytest.fixture
def link(peer: CcnetPeer, tmp_path: Path) -> Iterator[PtyLink]:
    lnk = PtyLink(peer, tmp_path / "bill_acceptor")
    lnk.start()
    try:
        yield lnk
    finally:
        lnk.stop()


@pytest.fixture
def make_driver(link: PtyLink, journal: Journal) -> Iterator[CcnetFactory]:
    made: list[CcnetDriver] = []

    def factory(url: str | None = None, *, timeout_s: float = 0.25, **options: Any) -> CcnetDriver:
        spec = DeviceSpec(name="bill_acceptor", device_class="bill_acceptor", driver="ccnet", port=url or link.url,
                          baudrate=9600, poll_interval_s=5.0, timeout_s=timeout_s, options=options)
        drv = CcnetDriver(spec, DriverContext(emit=journal.emit))
        drv.open()
        made.append(drv)
        return drv

    yield factory
    for drv in made:
        drv.close()


@pytest.fixture
def driver(make_driver: CcnetFactory) -> CcnetDriver:
    return make_driver()
