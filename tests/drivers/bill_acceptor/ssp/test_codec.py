"""SSP codec: CRC and frames against public vectors, stuffing, events, the eSSP layer.

Vectors: the SSP frames listed in docs/hardware.md match the Node ``kybarg/ssp`` library's
commands (SYNC ``7F 80 01 11 65 82`` is the frame ITL's GA138 manual and every public SSP driver
start with); the CRC is CRC-16/CMS (poly 0x8005, init 0xFFFF, no reflection), whose catalogue
check value over "123456789" is 0xAEE7 (Greg Cook's CRC RevEng catalogue).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base.errors import FrameError
from drivers.bill_acceptor.ssp.crypto import EsspKey, KeyExchange, is_probable_prime, random_prime
from drivers.bill_acceptor.ssp.frames import Packet, crc16_ssp, decode_frame, new_decoder
from drivers.bill_acceptor.ssp.messages import (
    Command,
    Event,
    EventCode,
    SetupReply,
    channels_from_mask,
    decode_events,
    encode_events,
    inhibit_mask,
)

VECTORS = [
    ("sync", "7F 80 01 11 65 82", Packet(bytes([Command.SYNC]), seq=True)),
    ("reset", "7F 80 01 01 06 02", Packet(bytes([Command.RESET]), seq=True)),
    ("set_inhibits_all", "7F 00 03 02 FF FF 26 18", Packet(bytes([Command.SET_INHIBITS, 0xFF, 0xFF]))),
    ("setup_request", "7F 80 01 05 1D 82", Packet(bytes([Command.SETUP_REQUEST]), seq=True)),
    ("host_protocol_6", "7F 00 02 06 06 1B 94", Packet(bytes([Command.HOST_PROTOCOL_VERSION, 6]))),
    ("poll_seq0", "7F 00 01 07 11 88", Packet(bytes([Command.POLL]))),
    ("poll_seq1", "7F 80 01 07 12 02", Packet(bytes([Command.POLL]), seq=True)),
    ("reject", "7F 00 01 08 33 88", Packet(bytes([Command.REJECT_BANKNOTE]))),
    ("disable", "7F 00 01 09 36 08", Packet(bytes([Command.DISABLE]))),
    ("enable", "7F 00 01 0A 3C 08", Packet(bytes([Command.ENABLE]))),
    ("hold", "7F 00 01 18 50 08", Packet(bytes([Command.HOLD]))),
    ("ok", "7F 80 01 F0 23 80", Packet(b"\xf0", seq=True)),
    ("escrow_ch2", "7F 00 03 F0 EF 02 C3 F6", Packet(b"\xf0\xef\x02")),
    ("credit_ch2", "7F 80 03 F0 EE 02 C3 CC", Packet(b"\xf0\xee\x02", seq=True)),
    ("stacker_full", "7F 00 02 F0 E7 52 22", Packet(b"\xf0\xe7")),
]


def test_crc_is_crc16_cms() -> None:
    assert crc16_ssp(b"123456789") == 0xAEE7


@pytest.mark.parametrize(("name", "raw", "packet"), VECTORS, ids=[v[0] for v in VECTORS])
def test_vectors_are_byte_exact(name: str, raw: str, packet: Packet) -> None:
    wire = bytes.fromhex(raw)
    assert packet.encode() == wire
    assert decode_frame(wire) == (packet, b"")


def test_stuffing_doubles_every_0x7f_after_stx_crc_included() -> None:
    wire = Packet(b"\x7f\x7f\x01").encode()
    assert wire == bytes.fromhex("7F 00 03 7F 7F 7F 7F 01 0C 1C")
    # the CRC is over the unstuffed bytes; find one whose CRC holds a 0x7F and check it is doubled too
    data = next(bytes([b]) for b in range(256) if 0x7F in crc16_ssp(bytes([0, 1, b])).to_bytes(2, "little"))
    wire = Packet(data).encode()
    assert wire.count(b"\x7f\x7f") >= 1 and decode_frame(wire)[0] == Packet(data)


def test_lone_stx_inside_a_packet_resyncs_on_it() -> None:
    cut = bytes.fromhex("7F 00 03 F0 EF")  # cut short, then a whole packet
    whole = Packet(b"\xf0\xe8").encode()
    with pytest.raises(FrameError):
        decode_frame(cut + whole)
    assert new_decoder().feed(cut + whole) == [Packet(b"\xf0\xe8")]
    with pytest.raises(FrameError):
        decode_frame(bytes.fromhex("7F 00 01 07 11 89"))


packets = st.builds(Packet, st.binary(min_size=1, max_size=255), st.booleans(), st.integers(0, 127))


@given(st.lists(packets, max_size=4))
def test_stream_whole_halves_and_byte_by_byte(batch: list[Packet]) -> None:
    wire = b"".join(p.encode() for p in batch)
    assert new_decoder().feed(wire) == batch
    dec = new_decoder()
    half = len(wire) // 2
    assert dec.feed(wire[:half]) + dec.feed(wire[half:]) == batch
    dec = new_decoder()
    assert [p for i in range(len(wire)) for p in dec.feed(wire[i: i + 1])] == batch


@given(st.binary(max_size=40), packets)
def test_garbage_before_a_packet(garbage: bytes, packet: Packet) -> None:
    got = new_decoder().feed(garbage.replace(b"\x7f", b"") + packet.encode())
    assert got == [packet]


def test_events_decode_in_order_with_their_data() -> None:
    data = bytes.fromhex("EF 00 EE 03 CC E7 E3 83 07 E8")
    assert decode_events(data) == (Event(EventCode.READ_NOTE, 0), Event(EventCode.CREDIT_NOTE, 3),
                                   Event(EventCode.STACKING), Event(EventCode.STACKER_FULL),
                                   Event(EventCode.CASHBOX_REMOVED), Event(EventCode.CALIBRATION_FAIL, 7),
                                   Event(EventCode.DISABLED))
    with pytest.raises(FrameError):
        decode_events(b"\xee")  # cut short
    with pytest.raises(FrameError):
        decode_events(b"\x42")  # unknown: its length cannot be known


_WITH_BYTE = {EventCode.READ_NOTE, EventCode.CREDIT_NOTE, EventCode.FRAUD_ATTEMPT, EventCode.NOTE_CLEARED_TO_CASHBOX,
              EventCode.NOTE_CLEARED_FROM_FRONT, EventCode.CALIBRATION_FAIL}
events = st.sampled_from(sorted(EventCode)).flatmap(
    lambda c: st.builds(Event, st.just(c), st.integers(0, 255) if c in _WITH_BYTE else st.none()))


@given(st.lists(events, max_size=8))
def test_events_round_trip(events: list[Event]) -> None:
    assert decode_events(encode_events(events)[1:]) == tuple(events)


@given(st.frozensets(st.integers(1, 16)))
def test_inhibit_mask_round_trip(channels: frozenset[int]) -> None:
    assert channels_from_mask(inhibit_mask(channels)) == channels


def test_setup_reply_protocol_6_layout() -> None:
    setup = SetupReply("0420", "CNY", (1, 5, 10, 20, 50, 100))
    raw = setup.encode()
    assert raw[:12] == bytes.fromhex("F0 00") + b"0420CNY" + bytes.fromhex("00 00 01")
    assert SetupReply.decode(raw[1:]) == setup and setup.values()[6] == 100
    with pytest.raises(FrameError):
        SetupReply.decode(raw[1:30])


# -- eSSP -------------------------------------------------------------------------------------------
def test_key_exchange_agrees_and_builds_the_aes_key() -> None:
    g, p = random_prime(), random_prime()
    assert is_probable_prime(g) and is_probable_prime(p) and not is_probable_prime(p * g)
    host, slave = KeyExchange(g, p), KeyExchange(g, p)
    key = host.shared(slave.intermediate)
    assert key == slave.shared(host.intermediate)
    assert EsspKey(key).aes_key == bytes.fromhex("6745230167452301") + key.to_bytes(8, "little")
    with pytest.raises(ValueError):
        KeyExchange(g, p * g)


@given(st.binary(min_size=1, max_size=200), st.integers(0, 2**32 - 1), st.integers(1, 2**64 - 1))
def test_essp_wrap_round_trip(data: bytes, count: int, negotiated: int) -> None:
    key = EsspKey(negotiated)
    wrapped = key.wrap(data, count)
    assert wrapped[0] == 0x7E and (len(wrapped) - 1) % 16 == 0
    assert key.unwrap(wrapped) == (data, count)
    with pytest.raises(FrameError):
        EsspKey(negotiated ^ 1).unwrap(wrapped)  # another key: the inner CRC fails


def test_essp_block_layout_is_pinned() -> None:
    """With a fixed packing the block is deterministic: eLENGTH, eCOUNT (LE), DATA, PACKING, eCRC."""
    key = EsspKey(0x1122334455667788)
    wrapped = key.wrap(b"\x07", 5, packing=b"")
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    plain = Cipher(algorithms.AES(key.aes_key), modes.ECB()).decryptor().update(wrapped[1:])
    assert plain[:6] == bytes.fromhex("01 05 00 00 00 07") and plain[6:14] == bytes(8)
    assert plain[14:] == crc16_ssp(plain[:14]).to_bytes(2, "little")
