"""Fixtures: a SspPeer in memory (``link``, virtual time) or on a pty (``pty``),
SspDriver instances talking to it
(they override the ID003 fixtures of the parent conftest for the tests in this folder)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drivers.bill_acceptor.ssp.driver import SspDriver
from simulators.base.link import PtyLink
from simulators.base.loopback import LoopbackPeerLink
from simulators.bill_acceptor_ssp import SspPeer
from tests.drivers.bill_acceptor.support import DriverMaker, Journal, loop_link, pty_link

SspFactory = Callable[..., SspDriver]


@pytest.fixture
def peer() -> SspPeer:
    return SspPeer(seed=7)


@pytest.fixture
def link(peer: SspPeer) -> LoopbackPeerLink:
    return loop_link(peer)


@pytest.fixture
def pty(peer: SspPeer, tmp_path: Path) -> Iterator[PtyLink]:
    with pty_link(peer, tmp_path / "bill_acceptor") as lnk:
        yield lnk


@pytest.fixture
def make_driver(link: LoopbackPeerLink, journal: Journal) -> Iterator[SspFactory]:
    maker = DriverMaker(SspDriver, "ssp", link, journal)
    yield maker
    maker.close_all()


@pytest.fixture
def driver(make_driver: SspFactory) -> SspDriver:
    return make_driver()
