"""Byte-exact driver exchanges against a RecordingTransport on a fake clock: what the driver
writes is compared with the published frames (tests/vectors/bill_acceptor/id003.toml and the
CCNET / SSP frames listed in docs/hardware.md); the acceptor's side is scripted."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.base.clock import FakeClock
from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import DeviceTimeout, FrameError
from drivers.base.health import DeviceState
from drivers.base.io import given
from drivers.base.loopback import RecordingTransport
from drivers.bill_acceptor.api import BillAcceptor
from drivers.bill_acceptor.ccnet.driver import CcnetDriver
from drivers.bill_acceptor.id003.constants import Status
from drivers.bill_acceptor.id003.driver import Id003Driver
from drivers.bill_acceptor.id003.frames import Frame
from drivers.bill_acceptor.ssp.driver import SspDriver
from tests.drivers.bill_acceptor.support import Journal
from tests.drivers.bill_acceptor.vectors import BY_NAME

STATUS_REQUEST = BY_NAME["status_request"].raw
RESET = BY_NAME["reset"].raw
STACK_1 = BY_NAME["stack_1"].raw
RETURN = BY_NAME["return"].raw
ACK = BY_NAME["acceptor_ack"].raw
ESCROW_0x63 = BY_NAME["escrow_0x63"].raw
STACKER_FULL = BY_NAME["stacker_full"].raw
POWER_UP = Frame(Status.POWER_UP).encode()
CCNET_POLL = bytes.fromhex("02 03 06 33 DA 81")
SSP_SYNC = bytes.fromhex("7F 80 01 11 65 82")
TIMEOUT_S = 0.25


def _driver(cls: type[BillAcceptor], replies: Any, journal: Journal | None = None,
            **options: Any) -> tuple[Any, RecordingTransport, FakeClock]:
    clock = FakeClock()
    transport = RecordingTransport(replies, clock=clock)
    spec = DeviceSpec("ba", "bill_acceptor", cls.__name__, "loop://", timeout_s=TIMEOUT_S, poll_interval_s=5.0,
                      options=options)
    drv = cls(spec, DriverContext(emit=(journal or Journal()).emit, clock=clock, open_transport=given(transport)))
    drv.open()
    return drv, transport, clock


def test_power_up_is_answered_with_reset_and_polled_fast() -> None:
    drv, t, _ = _driver(Id003Driver, [POWER_UP, ACK])
    assert drv.poll_interval_s == 5.0  # nothing reported yet
    assert drv.poll().detail["acceptor_status"] == "POWER_UP"
    assert t.writes == [STATUS_REQUEST, RESET]
    assert drv.poll_interval_s == 0.2  # FAST_POLL_INTERVAL_S while the unit starts


def test_escrow_while_accepting_is_stacked() -> None:
    drv, t, _ = _driver(Id003Driver, [ESCROW_0x63, ACK])
    drv.wants_accepting = True
    drv.poll()
    assert t.writes == [STATUS_REQUEST, STACK_1]


def test_escrow_while_disabled_is_returned_and_journalled() -> None:
    journal = Journal()
    drv, t, _ = _driver(Id003Driver, [ESCROW_0x63, ACK], journal)
    drv.poll()
    assert t.writes == [STATUS_REQUEST, RETURN]
    assert journal.kinds() == ["note_returned"]


def test_stacker_full_is_a_fault_and_nothing_more_is_sent() -> None:
    drv, t, _ = _driver(Id003Driver, [STACKER_FULL])
    status = drv.poll()
    assert status.fault_codes == ["cassette_full"] and status.state is not DeviceState.ONLINE
    assert t.writes == [STATUS_REQUEST]


def test_a_corrupt_reply_is_asked_again() -> None:
    corrupt = ESCROW_0x63[:-1] + bytes([ESCROW_0x63[-1] ^ 0xFF])
    drv, t, _ = _driver(Id003Driver, [corrupt, POWER_UP, ACK])
    assert drv.poll().detail["acceptor_status"] == "POWER_UP"
    assert t.writes == [STATUS_REQUEST, STATUS_REQUEST, RESET]
    assert drv.counters()["communication_errors"] == 1


def test_only_garbage_is_a_frame_error() -> None:
    drv, t, _ = _driver(Id003Driver, [b"\xfc\x05\x11\x00\x00"] * 3)
    with pytest.raises(FrameError):
        drv.poll()
    assert t.writes == [STATUS_REQUEST] * 3


@pytest.mark.parametrize(("cls", "first"), [(Id003Driver, STATUS_REQUEST), (CcnetDriver, CCNET_POLL),
                                            (SspDriver, SSP_SYNC)], ids=["id003", "ccnet", "ssp"])
def test_silence_is_three_attempts_of_exactly_the_timeout(cls: type[BillAcceptor], first: bytes) -> None:
    drv, t, clock = _driver(cls, [])
    started = clock.monotonic()
    with pytest.raises(DeviceTimeout):
        drv.poll()
    assert t.writes == [first] * 3  # the same bytes again: SSP keeps its SEQ flag for a repeat
    assert clock.monotonic() - started == pytest.approx(3 * TIMEOUT_S)
