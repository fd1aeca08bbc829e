"""Link faults against the CCNET and SSP drivers, each on its simulator in memory on a fake clock
(and one note over TCP, end to end): mute, corrupt or cut replies, garbage, replies split byte by
byte, a lost request, a vanished port. ID003's are in test_driver_faults.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import DeviceTimeout, DriverError, FrameError, TransportError
from drivers.base.health import DeviceState, DeviceStatus
from simulators.base.link import TcpLink
from simulators.base.loopback import LoopbackPeerLink
from tests.drivers.bill_acceptor.support import CCNET, ESSP, SSP, DriverMaker, Journal, Proto, poll_until

PROTOS = [CCNET, SSP, ESSP]


@pytest.fixture(params=PROTOS, ids=["ccnet", "ssp", "essp"])
def proto(request: pytest.FixtureRequest) -> Proto:
    p: Proto = request.param
    return p


@pytest.fixture
def peer(proto: Proto) -> Any:
    return proto.peer(seed=7)


@pytest.fixture
def ready(proto: Proto, link: LoopbackPeerLink, journal: Journal) -> Iterator[Any]:
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


def test_replies_split_byte_by_byte_still_decode(ready: Any, link: LoopbackPeerLink, proto: Proto,
                                                 journal: Journal, peer: Any) -> None:
    link.to_host.split(1, gap_s=0.001)
    peer.act("insert_note", ["20"])
    poll_until(ready, lambda s: accepting(s, proto) and bool(journal.of("note_stacked")))
    assert [e["value_fen"] for e in journal.of("note_stacked")] == [2000]
    assert ready.counters().get("communication_errors", 0) == 0


def test_a_lost_request_and_a_corrupt_reply_are_retried(ready: Any, link: LoopbackPeerLink, proto: Proto) -> None:
    link.to_device.drop()
    link.to_host.corrupt(index=-1)
    assert accepting(ready.poll(), proto)
    assert ready.counters()["communication_errors"] == 2


def test_disconnect_then_reopen(ready: Any, link: LoopbackPeerLink, proto: Proto) -> None:
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
