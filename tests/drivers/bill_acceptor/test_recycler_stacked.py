"""ID003 recycler units send STACKED (0x16) with a data byte (the box the note went to).

Independent implementations accept it; our decoder used to reject it ("STACKED takes no data"),
so every status request during STACKED failed and the poll ended in a DeviceTimeout for as long
as the unit stayed there (issue 17, item 5).
"""

from __future__ import annotations

import pytest

from drivers.base.errors import FrameError
from drivers.bill_acceptor.id003.constants import Status
from drivers.bill_acceptor.id003.frames import Frame
from drivers.bill_acceptor.id003.health import health_of
from drivers.bill_acceptor.id003.messages import StatusReply, decode_reply
from simulators.bill_acceptor_id003 import Id003Peer
from tests.drivers.bill_acceptor.conftest import DriverFactory
from tests.drivers.bill_acceptor.support import Journal, acceptor_status, poll_until


def test_stacked_with_and_without_a_data_byte() -> None:
    assert decode_reply(Frame(Status.STACKED)) == StatusReply(Status.STACKED)
    with_box = decode_reply(Frame(Status.STACKED, b"\x01"))
    assert with_box == StatusReply(Status.STACKED, b"\x01")
    assert isinstance(with_box, StatusReply) and health_of(with_box).detail["stacked_to"] == "0x01"
    with pytest.raises(FrameError):
        decode_reply(Frame(Status.STACKED, b"\x01\x02"))
    with pytest.raises(FrameError):
        decode_reply(Frame(Status.IDLING, b"\x01"))  # the other no-data statuses stay strict


class RecyclerPeer(Id003Peer):
    """An ID003 recycler: STACKED carries the box number (0x01: recycle box 1)."""

    def _status_reply(self) -> bytes:
        if self.state is Status.STACKED and not self._fault_status():
            self._advance()
            return StatusReply(Status.STACKED, b"\x01").encode()
        return super()._status_reply()


@pytest.fixture
def peer() -> Id003Peer:
    return RecyclerPeer(seed=7)


def test_recycler_note_is_credited_without_timeouts(make_driver: DriverFactory, peer: Id003Peer,
                                                    journal: Journal) -> None:
    drv = make_driver()
    drv.operation("enable", {})
    poll_until(drv, acceptor_status("IDLING"))
    peer.act("insert_note", ["100"])
    seen = []
    while len(seen) < 12 and (not seen or seen[-1] != "IDLING" or not journal.of("note_stacked")):
        seen.append(drv.poll().detail["acceptor_status"])  # a DeviceTimeout here is the old bug
    assert "STACKED" in seen and seen[-1] == "IDLING"
    assert [e["value_fen"] for e in journal.of("note_stacked")] == [10000]
    assert drv.counters().get("communication_errors", 0) == 0
