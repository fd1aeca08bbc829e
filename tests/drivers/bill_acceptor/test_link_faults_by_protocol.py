"""Link faults against the CCNET and SSP drivers, each on its simulator over a real pty (and one
note over TCP): mute, corrupt or cut replies, garbage, a vanished port. ID003's are in
test_driver_faults.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import DeviceTimeout, DriverError, FrameError, TransportError
from drivers.base.health import DeviceState, DeviceStatus
from drivers.bill_acceptor.api import BillAcceptor
from drivers.bill_acceptor.ccnet.driver import CcnetDriver
from drivers.bill_acceptor.ssp.driver import SspDriver
from simulators.base.link import PtyLink, TcpLink
from simulators.base.peer import DevicePeer
from simulators.bill_acceptor_ccnet import CcnetPeer
from simulators.bill_acceptor_ssp import SspPeer
from tests.drivers.bill_acceptor.support import DriverMaker, Journal, poll_until, pty_link


@dataclass(frozen=True)
class Proto:
    name: str
    peer: type[DevicePeer]
    driver: type[BillAcceptor]
    accepting: str
    options: tuple[tuple[str, Any], ...] = ()


PROTOS = [Proto("ccnet", CcnetPeer, CcnetDriver, "IDLING"), Proto("ssp", SspPeer, SspDriver, "IDLE"),
          Proto("ssp", SspPeer, SspDriver, "IDLE", (("encrypted", True),))]


@pytest.fixture(params=PROTOS, ids=["ccnet", "ssp", "essp"])
def proto(request: pytest.FixtureRequest) -> Proto:
    p: Proto = request.param
    return p


@pytest.fixture
def peer(proto: Proto) -> Any:
    return proto.peer(seed=7)


@pytest.fixture
def link(peer: DevicePeer, tmp_path: Path) -> Iterator[PtyLink]:
    with pty_link(peer, tmp_path / "bill_acceptor") as lnk:
        yield lnk


@pytest.fixture
def ready(proto: Proto, link: PtyLink, journal: Journal) -> Iterator[Any]:
    maker = DriverMaker(proto.driver, proto.name, link, journal)
    drv = maker(**dict(proto.options))
    drv.operation("enable", {})
    poll_until(drv, lambda s: accepting(s, proto))
    yield drv
    maker.close_all()


def accepting(status: DeviceStatus, proto: Proto) -> bool:
    return status.detail.get("acceptor_status") == proto.accepting


def test_mute_then_recovers(ready: Any, peer: Any, proto: Proto) -> None:
    peer.set_fault("mute")
    with pytest.raises(DeviceTimeout):
        ready.poll()
    assert ready.counters()["communication_errors"] >= 3
    peer.set_fault("mute", False)
    assert poll_until(ready, lambda s: accepting(s, proto)).state is DeviceState.ONLINE


@pytest.mark.parametrize("fault", ["bad_checksum", "truncated"])
def test_corrupt_replies_are_a_clear_error(ready: Any, peer: Any, proto: Proto, fault: str) -> None:
    peer.set_fault(fault)
    with pytest.raises(FrameError):
        ready.poll()
    peer.set_fault(fault, False)
    assert poll_until(ready, lambda s: accepting(s, proto)).state is DeviceState.ONLINE


def test_garbage_never_double_credits(ready: Any, peer: Any, proto: Proto, journal: Journal) -> None:
    peer.set_fault("garbage")
    peer.act("insert_note", ["10"])
    for _ in range(200):
        try:
            if accepting(ready.poll(), proto) and journal.of("note_stacked"):
                break
        except DriverError:
            continue  # a clear error is allowed; a wrong credit is not
    peer.set_fault("garbage", False)
    poll_until(ready, lambda s: accepting(s, proto) and bool(journal.of("note_stacked")))
    assert [e["value_fen"] for e in journal.of("note_stacked")] == [1000] and peer.stacked == [10]


def test_disconnect_then_reopen(ready: Any, link: PtyLink, proto: Proto) -> None:
    link.disconnect()
    with pytest.raises(TransportError):
        for _ in range(5):
            ready.poll()
    with pytest.raises(TransportError):
        ready.open()
    link.reconnect()
    ready.open()
    assert poll_until(ready, lambda s: accepting(s, proto)).state is DeviceState.ONLINE


def test_a_note_over_tcp(proto: Proto, journal: Journal) -> None:
    peer: Any = proto.peer()
    link = TcpLink(peer).start()
    drv = proto.driver(DeviceSpec("ba", "bill_acceptor", proto.name, link.url, timeout_s=0.5,
                                  options=dict(proto.options)), DriverContext(emit=journal.emit))
    try:
        drv.open()
        drv.operation("enable", {})
        poll_until(drv, lambda s: accepting(s, proto))
        peer.act("insert_note", ["5"])
        poll_until(drv, lambda s: accepting(s, proto) and bool(journal.of("note_stacked")))
        assert peer.stacked == [5]
    finally:
        drv.close()
        link.stop()
