"""The simulated card module obeys the spec vectors (guards against symmetric codec bugs)."""

from __future__ import annotations

import pytest

from drivers.card_reader import crt310
from drivers.card_reader import messages as msg
from drivers.card_reader.constants import ACK, CM, EOT, NAK
from drivers.card_reader.frames import decode_frame
from simulators.base.peer import COMMON_FAULTS
from simulators.card_reader import CardReaderPeer, Crt310Peer, SimCard
from simulators.registry import peer_class
from tests.drivers.helpers import hexbytes, load_vectors
from tests.support.waiting import wait_until

FRAMES = load_vectors("card_reader", "frames.toml")
BY_MEANING = {v["meaning"]: hexbytes(v["hex"]) for v in FRAMES["command"]}
INIT = BY_MEANING["INITIALIZE, do not move a card inside (leave card)"]
STATUS = BY_MEANING["STATUS REQUEST, report status"]


class Wire:
    def __init__(self, peer: CardReaderPeer) -> None:
        self.out = b""
        peer.send = self._send

    def _send(self, data: bytes) -> None:
        self.out += data

    def take(self) -> bytes:
        out, self.out = self.out, b""
        return out


def _reply(raw: bytes) -> msg.Reply:
    assert raw[0] == ACK
    frame, rest = decode_frame(raw[1:])
    assert frame is not None and rest == b""
    return msg.decode_reply(frame.text)


@pytest.fixture
def peer() -> CardReaderPeer:
    return CardReaderPeer()


def test_registry_names_this_peer() -> None:
    assert peer_class("card_reader") is CardReaderPeer
    assert CardReaderPeer.driver == "crt" and CardReaderPeer.line["parity"] == "N"


def test_not_reset_until_initialise(peer: CardReaderPeer) -> None:
    wire = Wire(peer)
    peer.feed(STATUS)
    reply = _reply(wire.take())
    assert isinstance(reply, msg.NegativeReply) and reply.error == "B0"
    peer.feed(INIT)
    reply = _reply(wire.take())
    assert isinstance(reply, msg.PositiveReply) and reply.data == b"CRT-591-M001"
    peer.feed(STATUS)
    assert _reply(wire.take()) == msg.decode_reply(decode_frame(hexbytes(FRAMES["positive"][0]["hex"]))[0].text)


@pytest.mark.parametrize("vec", FRAMES["command"], ids=lambda v: v["meaning"])
def test_every_vector_command_gets_ack_and_matching_reply(peer: CardReaderPeer, vec: dict) -> None:
    wire = Wire(peer)
    peer.feed(INIT)
    wire.take()
    peer.act("present_card", [])
    peer.feed(hexbytes(vec["hex"]))
    reply = _reply(wire.take())
    assert (reply.cm, reply.pm) == (vec["cm"], vec["pm"])


def test_bad_bcc_vector_is_nakked(peer: CardReaderPeer) -> None:
    wire = Wire(peer)
    peer.feed(hexbytes(FRAMES["bad"][0]["hex"]))
    assert wire.take() == bytes([NAK])
    assert peer.executed == {}


def test_host_nak_resends_last_response_and_eot_answers_eot(peer: CardReaderPeer) -> None:
    wire = Wire(peer)
    peer.feed(INIT)
    first = wire.take()[1:]
    peer.feed(bytes([NAK]))
    assert wire.take() == first
    peer.feed(bytes([ACK]))
    assert wire.take() == b""
    peer.feed(bytes([EOT]))
    assert wire.take() == bytes([EOT])


def test_split_delivery(peer: CardReaderPeer) -> None:
    wire = Wire(peer)
    for b in INIT:
        peer.feed(bytes([b]))
    assert _reply(wire.take()).cm == CM.INITIALIZE


def test_slow_ack_is_late_and_cancellable(peer: CardReaderPeer) -> None:
    wire = Wire(peer)
    peer.feed(INIT)
    wire.take()
    peer.slow_ack_delay_s = 0.2
    peer.set_fault("slow_ack")
    peer.feed(STATUS)
    assert wire.out == b""
    wait_until(lambda: wire.out, 5, message="late ACK never came")
    assert _reply(wire.take()).cm == CM.STATUS_REQUEST
    before = peer.executed[CM.STATUS_REQUEST]
    peer.feed(STATUS)
    timer = peer._timer
    assert timer is not None
    peer.feed(bytes([EOT]))
    assert wire.take() == bytes([EOT])
    timer.join(5)  # the cancelled timer has ended: the command must not have run
    assert not timer.is_alive()
    assert wire.out == b"" and peer.executed[CM.STATUS_REQUEST] == before


def test_device_faults_and_actions(peer: CardReaderPeer) -> None:
    assert set(CardReaderPeer.device_faults) == {"card_jam", "retain_bin_full", "chip_failure", "slow_ack"}
    assert set(COMMON_FAULTS) <= {"mute", "slow", "garbage", "truncated", "bad_checksum", "disconnect"}
    with pytest.raises(ValueError):
        peer.set_fault("paper_out")
    with pytest.raises(ValueError):
        peer.act("present_card", ["6212345678901234"])  # fails Luhn
    assert peer.act("present_card", ["6212345678901232"])["pan_masked"] == "621234******1232"
    with pytest.raises(ValueError):
        peer.act("present_card", [])
    assert peer.snapshot()["card_position"] == "at_gate"  # entry disabled: the card waits at the gate
    assert peer.act("remove_card", []) == {"removed": True}
    peer.insert(SimCard())
    # a card inside a motorised reader cannot be pulled out
    assert peer.act("remove_card", [])["removed"] is False
    assert peer.snapshot()["card_position"] == "inside"


def test_sim_card_t0_behaviour() -> None:
    card = SimCard()
    select_pse = hexbytes("00 A4 04 00 0E 31 50 41 59 2E 53 59 53 2E 44 44 46 30 31 00")
    sw = card.apdu(select_pse)
    assert sw[0] == 0x61
    fci = card.apdu(bytes([0x00, 0xC0, 0x00, 0x00, sw[1]]))
    assert fci[-2:] == b"\x90\x00" and fci[0] == 0x6F and len(fci) - 2 == sw[1]
    sw = card.apdu(hexbytes("00 B2 01 0C 00"))
    assert sw[0] == 0x6C
    record = card.apdu(hexbytes("00 B2 01 0C") + bytes([sw[1]]))
    assert record[0] == 0x70 and record[-2:] == b"\x90\x00"
    assert card.apdu(hexbytes("00 B2 09 0C 00")) == b"\x6a\x83"
    assert card.apdu(hexbytes("00 FF 00 00")) == b"\x6d\x00"
    assert card.apdu(hexbytes("80 A8 00 00 02 83 00 00")) == b"\x69\x85"  # no application selected


# -- the CRT-310 protocol (Crt310Peer) against its public vectors --------------------------------
V310 = load_vectors("card_reader", "crt310.toml")
CMD310 = {v["meaning"]: hexbytes(v["hex"]) for v in V310["command"]}
REPLY310 = {v["meaning"]: hexbytes(v["hex"]) for v in V310["reply"]}
INIT310 = CMD310["INITIALIZE, reset and return the version (card not moved)"]
STATUS310 = CMD310["STATUS, reader status (card position, front and rear entry)"]
ENQ = bytes([crt310.ENQ])


def _ask(peer: Crt310Peer, wire: Wire, frame: bytes) -> bytes:
    """Command, its ACK, ENQ, the reply (the CRT-310 sequence)."""
    peer.feed(frame)
    assert wire.take() == bytes([ACK])
    peer.feed(ENQ)
    return wire.take()


def test_registry_switches_the_card_protocol() -> None:
    assert peer_class("card_reader", card_protocol="crt310") is Crt310Peer
    assert peer_class("card_reader", card_protocol="crt591") is CardReaderPeer
    assert Crt310Peer.driver_options == {"link": "crt310"}
    with pytest.raises(KeyError):
        peer_class("card_reader", card_protocol="crt999")


def test_crt310_replies_are_the_vectors() -> None:
    peer = Crt310Peer()
    wire = Wire(peer)
    assert _ask(peer, wire, STATUS310) == crt310.Frame310(crt310.encode_negative(0x31, 0x02)).encode()
    assert crt310.decode_reply(crt310.decode_frame(_ask(peer, wire, INIT310))[0].text).cm == 0x30  # type: ignore[union-attr]
    assert _ask(peer, wire, STATUS310) == REPLY310["STATUS: no card, front entry prohibited, rear entry prohibited"]
    _ask(peer, wire, CMD310["CARD ENTRY, allow entry from the front by the switch"])
    peer.act("present_card", [])
    assert _ask(peer, wire, STATUS310) == REPLY310["STATUS: card inside, front entry by switch, rear prohibited"]
    assert _ask(peer, wire, CMD310["MOVE, to the front and hold"]) == REPLY310["MOVE to the front: success ('Y')"]
    peer.act("remove_card", [])
    no_card = REPLY310["MOVE to the front: no card to move ('E')"]
    assert _ask(peer, wire, CMD310["MOVE, to the front and hold"]) == no_card
    peer.set_device_fault("card_jam", True)
    assert _ask(peer, wire, STATUS310) == REPLY310["negative reply 'N' to STATUS: abnormal card detected"]


@pytest.mark.parametrize("vec", V310["command"][:12], ids=lambda v: v["meaning"])
def test_crt310_every_vector_command_is_acked_and_answered(vec: dict) -> None:
    peer = Crt310Peer()
    wire = Wire(peer)
    _ask(peer, wire, INIT310)
    peer.act("present_card", [])
    frame, rest = crt310.decode_frame(_ask(peer, wire, hexbytes(vec["hex"])))
    assert frame is not None and rest == b"" and crt310.decode_reply(frame.text).cm == vec["cm"]


def test_crt310_reply_waits_for_enq_nak_resends_eot_drops() -> None:
    peer = Crt310Peer()
    wire = Wire(peer)
    peer.feed(INIT310)
    assert wire.take() == bytes([ACK])  # nothing more until ENQ
    peer.feed(bytes([EOT]))
    assert wire.take() == bytes([EOT])
    peer.feed(ENQ)
    assert wire.take() == b""  # the held reply was dropped
    first = _ask(peer, wire, INIT310)
    peer.feed(bytes([NAK]))
    assert wire.take() == first
    peer.feed(STATUS310[:-1] + bytes([STATUS310[-1] ^ 1]))
    assert set(wire.take()) == {NAK}  # NAKed (LEN_L 02 reads as a second false STX: NAKed too)
    assert crt310.Cm310.STATUS not in peer.executed
