"""Id003Peer obeys the spec vectors and its state machine, fed raw bytes (no driver involved)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from drivers.base.clock import FakeClock
from drivers.base.errors import TransportError
from drivers.bill_acceptor.id003.constants import Status
from drivers.bill_acceptor.id003.frames import Frame, new_decoder
from simulators.base.loopback import LoopbackPeerLink
from simulators.bill_acceptor_id003 import Id003Peer
from simulators.registry import peer_class

# Spec frames (JCM ID003 protocol specification, see docs/), written out here rather than produced by our encoder
STATUS_REQUEST = bytes.fromhex("FC 05 11 27 56")
RESET = bytes.fromhex("FC 05 40 2B 15")
STACK_1 = bytes.fromhex("FC 05 41 A2 04")
RETURN = bytes.fromhex("FC 05 43 B0 27")
ACK = bytes.fromhex("FC 05 50 AA 05")
ENABLE = bytes.fromhex("FC 06 C3 00 04 D6")
ESCROW_0x63 = bytes.fromhex("FC 06 13 63 A2 D8")
STACKER_FULL = bytes.fromhex("FC 05 43 B0 27")
FAILURE_A2 = bytes.fromhex("FC 06 49 A2 A0 21")


def _ask(peer: Id003Peer, request: bytes) -> list[bytes]:
    return peer.on_bytes(request)


def _status(peer: Id003Peer) -> Status:
    (reply,) = _ask(peer, STATUS_REQUEST)
    (frame,) = new_decoder().feed(reply)
    return Status(frame.cmd)


def _ready(peer: Id003Peer) -> None:
    assert _status(peer) is Status.POWER_UP
    assert _ask(peer, RESET) == [ACK]  # the acceptor ACKs operation commands with FC 05 50 AA 05
    assert _status(peer) is Status.INITIALIZE
    assert _ask(peer, ENABLE) == [ENABLE]  # setting commands are echoed
    assert _status(peer) is Status.IDLING


def test_registered() -> None:
    assert peer_class("bill_acceptor") is Id003Peer


def test_escrow_stack_vend_valid_until_ack() -> None:
    peer = Id003Peer()
    _ready(peer)
    assert peer.act("insert_note", ["10"])["denomination_code"] == "0x63"
    assert _status(peer) is Status.ACCEPTING
    assert _ask(peer, STATUS_REQUEST) == [ESCROW_0x63]
    assert _ask(peer, STATUS_REQUEST) == [ESCROW_0x63]  # waits for the host
    assert _ask(peer, STACK_1) == [ACK]
    assert _status(peer) is Status.STACKING
    assert [_status(peer) for _ in range(3)] == [Status.VEND_VALID] * 3  # repeated until ACK
    assert peer.cassette_count == 0
    assert _ask(peer, ACK) == []  # the host's ACK is not answered
    assert _status(peer) is Status.STACKED
    assert _status(peer) is Status.IDLING
    assert peer.cassette_count == 1 and peer.stacked == [10]


def test_return() -> None:
    peer = Id003Peer()
    _ready(peer)
    peer.act("insert_note", ["50"])
    _status(peer)
    assert _status(peer) is Status.ESCROW
    assert _ask(peer, RETURN) == [ACK]
    assert _status(peer) is Status.RETURNING
    assert _status(peer) is Status.IDLING
    assert peer.returned == 1 and peer.stacked == []


def test_stack_without_escrow_is_invalid() -> None:
    peer = Id003Peer()
    _ready(peer)
    (reply,) = _ask(peer, STACK_1)
    assert new_decoder().feed(reply) == [Frame(Status.INVALID_COMMAND)]


def test_inhibit_honoured() -> None:
    peer = Id003Peer()
    _status(peer)
    _ask(peer, RESET)
    _status(peer)
    assert _status(peer) is Status.DISABLE
    assert peer.act("insert_note", ["50"])["accepted"] is False


def test_fault_frames_match_spec() -> None:
    peer = Id003Peer()
    _ready(peer)
    peer.set_fault("cassette_full")
    assert _ask(peer, STATUS_REQUEST) == [STACKER_FULL]
    peer.set_fault("cassette_full", False)
    peer.set_fault("failure")
    assert _ask(peer, STATUS_REQUEST) == [FAILURE_A2]


@pytest.mark.parametrize(("fault", "status"), [
    ("jam", Status.ACCEPTOR_JAM), ("stacker_jam", Status.STACKER_JAM), ("cassette_full", Status.STACKER_FULL),
    ("cassette_removed", Status.STACKER_OPEN), ("fraud_attempt", Status.CHEATED), ("failure", Status.FAILURE),
    ("pause", Status.PAUSE),
])
def test_every_device_fault(fault: str, status: Status) -> None:
    peer = Id003Peer()
    _ready(peer)
    peer.set_fault(fault)
    assert _status(peer) is status
    assert peer.snapshot()["state"] == status.name
    peer.set_fault(fault, False)
    assert _status(peer) is Status.IDLING


def test_power_up_with_bill_and_capacity() -> None:
    peer = Id003Peer(capacity=1)
    _ready(peer)
    peer.act("insert_note", ["100"])
    _status(peer)
    _status(peer)
    _ask(peer, STACK_1)
    _status(peer)  # STACKING reported; the note moves on to VEND_VALID
    peer.set_fault("power_up_with_bill")
    assert _status(peer) is Status.POWER_UP_WITH_BILL_IN_STACKER
    assert _ask(peer, RESET) == [ACK]
    assert peer.stacked == [100] and peer.cassette_count == 1
    assert _status(peer) is Status.STACKER_FULL  # the cassette holds its capacity
    assert peer.act("empty_cassette", []) == {"emptied": 1}
    assert _status(peer) is Status.INITIALIZE


def test_unknown_fault_and_action() -> None:
    peer = Id003Peer()
    with pytest.raises(ValueError):
        peer.set_fault("paper_out")
    with pytest.raises(ValueError):
        peer.act("scan", [])


def test_bytes_in_arbitrary_chunks() -> None:
    peer = Id003Peer()
    replies: list[bytes] = []
    for b in b"\x00" + STATUS_REQUEST + STATUS_REQUEST:
        replies += peer.on_bytes(bytes([b]))
    assert len(replies) == 2


def test_simulators_and_codecs_load_no_transport_code() -> None:
    # a simulator imports the drivers' codecs only: no pyserial, no pyusb, no driver module
    code = textwrap.dedent("""
        import sys
        import simulators.bill_acceptor_ccnet, simulators.bill_acceptor_id003, simulators.bill_acceptor_ssp
        import drivers.bill_acceptor.ccnet, drivers.bill_acceptor.id003, drivers.bill_acceptor.ssp
        loaded = [m for m in ("serial", "usb") if m in sys.modules]
        loaded += [m for m in sys.modules if m.startswith("drivers.") and m.endswith((".driver", "polled_link"))]
        print(",".join(loaded))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_peer_on_a_loopback_link_answers_in_virtual_time() -> None:
    clock = FakeClock()
    link = LoopbackPeerLink(Id003Peer(), clock)
    link.host.open()
    link.host.write(STATUS_REQUEST)
    assert new_decoder().feed(link.host.read(64, 1.0))[0].cmd == Status.POWER_UP
    link.peer.slow_delay_s = 2.0
    link.peer.set_fault("slow")
    t0 = clock.monotonic()
    link.host.write(STATUS_REQUEST)
    assert link.host.read(64, 1.0) == b""  # the answer is 2 s away
    assert link.host.read(64, 5.0) != b"" and clock.monotonic() - t0 == pytest.approx(2.0)
    link.disconnect()
    with pytest.raises(TransportError):
        link.host.write(STATUS_REQUEST)
    link.reconnect()
    link.peer.set_fault("slow", False)
    link.host.open()
    link.host.write(STATUS_REQUEST)
    assert link.host.read(64, 1.0)
