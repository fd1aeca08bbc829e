"""Fixtures: a Id003Peer in memory (``link``, virtual time) or on a pty (``pty``),
Id003Driver instances talking to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drivers.bill_acceptor.id003.driver import Id003Driver
from simulators.base.link import PtyLink
from simulators.base.loopback import LoopbackPeerLink
from simulators.bill_acceptor_id003 import Id003Peer
from tests.drivers.bill_acceptor.support import DriverMaker, Journal, loop_link, pty_link

DriverFactory = Callable[..., Id003Driver]


@pytest.fixture
def peer() -> Id003Peer:
    return Id003Peer(seed=7)


@pytest.fixture
def link(peer: Id003Peer) -> LoopbackPeerLink:
    return loop_link(peer)


@pytest.fixture
def pty(peer: Id003Peer, tmp_path: Path) -> Iterator[PtyLink]:
    with pty_link(peer, tmp_path / "bill_acceptor") as lnk:
        yield lnk


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def make_driver(link: LoopbackPeerLink, journal: Journal) -> Iterator[DriverFactory]:
    maker = DriverMaker(Id003Driver, "id003", link, journal)
    yield maker
    maker.close_all()


@pytest.fixture
def driver(make_driver: DriverFactory) -> Id003Driver:
    return make_driver()
