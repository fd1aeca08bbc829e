"""Fixtures: a CcnetPeer in memory (``link``, virtual time) or on a pty (``pty``),
CcnetDriver instances talking to it
(they override the ID003 fixtures of the parent conftest for the tests in this folder)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drivers.bill_acceptor.ccnet.driver import CcnetDriver
from simulators.base.link import PtyLink
from simulators.base.loopback import LoopbackPeerLink
from simulators.bill_acceptor_ccnet import CcnetPeer
from tests.drivers.bill_acceptor.support import DriverMaker, Journal, loop_link, pty_link

CcnetFactory = Callable[..., CcnetDriver]


@pytest.fixture
def peer() -> CcnetPeer:
    return CcnetPeer(seed=7)


@pytest.fixture
def link(peer: CcnetPeer) -> LoopbackPeerLink:
    return loop_link(peer)


@pytest.fixture
def pty(peer: CcnetPeer, tmp_path: Path) -> Iterator[PtyLink]:
    with pty_link(peer, tmp_path / "bill_acceptor") as lnk:
        yield lnk


@pytest.fixture
def make_driver(link: LoopbackPeerLink, journal: Journal) -> Iterator[CcnetFactory]:
    maker = DriverMaker(CcnetDriver, "ccnet", link, journal)
    yield maker
    maker.close_all()


@pytest.fixture
def driver(make_driver: CcnetFactory) -> CcnetDriver:
    return make_driver()
