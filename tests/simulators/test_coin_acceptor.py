"""CoinAcceptorPeer fed raw ccTalk bytes (frames from tests/vectors/coin_acceptor/cctalk.toml, written
out, not produced by our encoder): answers, the echo, the event counter and the faults."""

from __future__ import annotations

from drivers.base.clock import FakeClock
from drivers.coin_acceptor.frames import decode_frame
from simulators.base.loopback import LoopbackPeerLink
from simulators.coin_acceptor import CoinAcceptorPeer
from simulators.registry import DEVICE_NAMES, peer_class

SIMPLE_POLL = bytes.fromhex("02 00 01 FE FF")
READ_CREDIT = bytes.fromhex("02 00 01 E5 18")
RESET = bytes.fromhex("02 00 01 01 FC")
SELF_CHECK = bytes.fromhex("02 00 01 E8 15")
ENABLE_ALL = bytes.fromhex("02 02 01 E7 FF FF 16")
COIN_ID_1 = bytes.fromhex("02 01 01 B8 01 43")
ACK = bytes.fromhex("01 00 02 00 FD")


def ask(peer: CoinAcceptorPeer, request: bytes) -> bytes:
    (reply,) = peer.on_bytes(request)
    return reply


def credit_data(peer: CoinAcceptorPeer) -> bytes:
    frame, rest = decode_frame(ask(peer, READ_CREDIT))
    assert frame is not None and rest == b"" and frame.header == 0
    return frame.data


def test_answers_the_core_headers() -> None:
    peer = CoinAcceptorPeer()
    assert ask(peer, SIMPLE_POLL) == ACK
    assert ask(peer, COIN_ID_1) == bytes.fromhex("01 06 02 00") + b"CN010A" + bytes([0x94])
    assert ask(peer, SELF_CHECK) == bytes.fromhex("01 01 02 00 00 FC")
    assert credit_data(peer) == bytes(11)
    assert peer.on_bytes(bytes.fromhex("00 00 01 FD 02")) == [b"\x02"]  # address poll: one raw byte
    assert decode_frame(ask(peer, bytes.fromhex("02 00 01 C0 3D")))[0].header == 5  # unknown header: NAK


def test_coins_count_up_and_wrap_and_reset_clears() -> None:
    peer = CoinAcceptorPeer()
    assert peer.act("insert_coin", ["1"]) == {"accepted": False, "reason": "inhibited", "counter": 1}
    assert ask(peer, ENABLE_ALL) == ACK
    peer.counter = 254
    peer.act("insert_coin", ["1"])
    peer.act("insert_coin", ["0.1"])
    assert credit_data(peer)[:5] == bytes([1, 1, 1, 3, 1])  # counter 255 -> 1; newest first
    assert ask(peer, RESET) == ACK
    assert credit_data(peer) == bytes(11) and peer.enabled == frozenset()


def test_faults_report_error_codes_and_self_check() -> None:
    peer = CoinAcceptorPeer()
    ask(peer, ENABLE_ALL)
    peer.set_fault("jam", True)
    assert credit_data(peer)[:3] == bytes([1, 0, 14])
    assert ask(peer, SELF_CHECK) == bytes.fromhex("01 01 02 00 03 F9")
    assert peer.act("insert_coin", ["1"])["reason"] == "jam"
    peer.set_fault("jam", False)
    peer.set_fault("fraud", True)
    assert credit_data(peer)[:3] == bytes([2, 0, 17])


def test_the_echo_comes_first_and_survives_mute() -> None:
    clock = FakeClock()
    peer = CoinAcceptorPeer()
    link = LoopbackPeerLink(peer, clock)
    link.host.open()
    link.host.write(SIMPLE_POLL)
    assert link.host.read(64, 0.1) + link.host.read(64, 0.1) == SIMPLE_POLL + ACK
    peer.set_fault("mute", True)
    link.host.write(SIMPLE_POLL)
    assert link.host.read(64, 0.1) + link.host.read(64, 0.1) == SIMPLE_POLL  # the wire echoes; the acceptor is silent


def test_registered_for_kiosk_sim() -> None:
    assert DEVICE_NAMES["coin_acceptor"] == "coin_acceptor"
    assert peer_class("coin_acceptor") is CoinAcceptorPeer
