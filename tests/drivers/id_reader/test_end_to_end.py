"""End-to-end proof over a real pty and over TCP (pyserial socket://), in real time: the read
flow and a mute reader. The fault matrix runs in virtual time on the loopback (test_driver.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.base.device import DriverContext
from drivers.base.errors import DeviceTimeout
from drivers.base.health import DeviceState
from drivers.id_reader.driver import SamIdReaderDriver
from simulators.base import Link, PtyLink, TcpLink
from simulators.id_reader import IdReaderPeer
from tests.drivers import helpers


@pytest.fixture(params=["pty", "tcp"])
def line(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SamIdReaderDriver, IdReaderPeer]]:
    peer = IdReaderPeer()
    link: Link = PtyLink(peer, tmp_path / "idr") if request.param == "pty" else TcpLink(peer)
    link.start()
    events = helpers.Events()
    driver = SamIdReaderDriver(helpers.spec("id_reader", "sam", link.url, timeout_s=0.4), DriverContext(emit=events))
    driver.open()
    yield driver, peer
    driver.close()
    link.stop()


def test_read_over_a_real_line(line: tuple[SamIdReaderDriver, IdReaderPeer]) -> None:
    driver, peer = line
    assert driver.poll().state is DeviceState.ONLINE
    peer.act("insert_id_card", ["44030519900101123X"])
    assert driver.operation("read", {})["id_number_masked"] == "440305********123X"


def test_mute_over_a_real_line_is_a_timeout(line: tuple[SamIdReaderDriver, IdReaderPeer]) -> None:
    driver, peer = line
    peer.set_fault("mute", True)
    with pytest.raises(DeviceTimeout):
        driver.poll()
