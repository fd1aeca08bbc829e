"""End-to-end proof over a real pty and over TCP (pyserial socket://), in real time: identify,
scans arriving unasked, a mute scanner. The fault matrix runs in virtual time on the loopback
(test_driver.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.barcode_scanner.driver import SerialScannerDriver
from drivers.base.device import DriverContext
from drivers.base.errors import DeviceTimeout
from drivers.base.health import DeviceState
from simulators.barcode_scanner import ScannerPeer
from simulators.base import Link, PtyLink, TcpLink
from tests.drivers import helpers
from tests.support.waiting import wait_until


@pytest.fixture(params=["pty", "tcp"])
def line(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SerialScannerDriver, ScannerPeer,
                                                                           helpers.Events]]:
    peer = ScannerPeer()
    link: Link = PtyLink(peer, tmp_path / "scanner") if request.param == "pty" else TcpLink(peer)
    link.start()
    events = helpers.Events()
    driver = SerialScannerDriver(helpers.spec("barcode_scanner", "serial", link.url, timeout_s=0.5),
                                 DriverContext(emit=events, batch=events.batch))
    driver.open()
    yield driver, peer, events
    driver.close()
    link.stop()


def test_identify_and_scans_over_a_real_line(line: tuple[SerialScannerDriver, ScannerPeer, helpers.Events]) -> None:
    driver, peer, events = line
    assert driver.poll().detail["firmware"] == "SIM-1.0"  # also: the TCP host is connected now
    peer.act("scan", ["PAY-0001"])
    peer.act("scan", ["支付-2"])
    wait_until(lambda: driver.poll() and len(events) == 2, 5)
    assert [d["code"] for d in events.of("code_scanned")] == ["PAY-0001", "支付-2"]


def test_mute_over_a_real_line_is_a_timeout(line: tuple[SerialScannerDriver, ScannerPeer, helpers.Events]) -> None:
    driver, peer, _ = line
    peer.set_fault("mute", True)
    with pytest.raises(DeviceTimeout):
        driver.poll()
    peer.set_fault("mute", False)
    assert driver.poll().state is DeviceState.ONLINE
