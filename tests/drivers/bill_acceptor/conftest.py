"""Fixtures: the protocol's peer in memory (``link``, virtual time) or on a pty (``pty``), and
driver instances talking to it. ID003 here; ccnet/ and ssp/ override ``peer`` and ``protocol``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drivers.bill_acceptor.api import BillAcceptor
from drivers.bill_acceptor.id003.driver import Id003Driver
from simulators.base.link import PtyLink
from simulators.base.loopback import LoopbackPeerLink
from simulators.base.peer import DevicePeer
from simulators.bill_acceptor_id003 import Id003Peer
from tests.drivers.bill_acceptor.support import ID003, DriverMaker, Journal, Proto, loop_link, pty_link

DriverFactory = Callable[..., Id003Driver]

@pytest.fixture
def protocol() -> Proto:
    return ID003


@pytest.fixture
def peer() -> Id003Peer:
    return Id003Peer(seed=7)


@pytest.fixture
def link(peer: DevicePeer) -> LoopbackPeerLink:
    return loop_link(peer)


@pytest.fixture
def pty(peer: DevicePeer, tmp_path: Path) -> Iterator[PtyLink]:
    with pty_link(peer, tmp_path / "bill_acceptor") as lnk:
        yield lnk


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def make_driver(protocol: Proto, link: LoopbackPeerLink, journal: Journal) -> Iterator[Callable[..., BillAcceptor]]:
    maker = DriverMaker(protocol.driver, protocol.name, link, journal)
    yield maker
    maker.close_all()


@pytest.fixture
def driver(make_driver: Callable[..., BillAcceptor]) -> BillAcceptor:
    return make_driver()
