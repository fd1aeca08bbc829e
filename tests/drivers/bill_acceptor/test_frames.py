"""ID003 framing: golden vectors, round trip, stream recovery, arbitrary bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base.checksum import crc16_kermit
from drivers.base.errors import FrameError
from drivers.bill_acceptor.id003.frames import Frame, decode_frame, new_decoder
from tests.drivers.bill_acceptor.vectors import VECTORS, Vector

IDS = [v.name for v in VECTORS]


def test_vectors_have_sources() -> None:
    assert len(VECTORS) >= 10
    for v in VECTORS:
        assert v.source and v.meaning


def test_crc_is_kermit_check_value() -> None:
    assert crc16_kermit(b"123456789") == 0x2189


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_golden_decode(vector: Vector) -> None:
    frame, rest = decode_frame(vector.raw + b"\xfc\x05")
    assert frame == Frame(vector.cmd, vector.data)
    assert rest == b"\xfc\x05"


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_golden_encode(vector: Vector) -> None:
    assert Frame(vector.cmd, vector.data).encode() == vector.raw


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_every_prefix_needs_more(vector: Vector) -> None:
    for n in range(len(vector.raw)):
        assert decode_frame(vector.raw[:n]) == (None, vector.raw[:n])


def test_bad_crc_raises() -> None:
    raw = bytearray(VECTORS[0].raw)
    raw[-1] ^= 0x01
    with pytest.raises(FrameError, match="CRC"):
        decode_frame(bytes(raw))


def test_crc_is_little_endian() -> None:
    raw = VECTORS[0].raw
    swapped = raw[:-2] + raw[-1:] + raw[-2:-1]
    with pytest.raises(FrameError):
        decode_frame(swapped)


@pytest.mark.parametrize("lng", [0, 1, 4])
def test_impossible_length_raises(lng: int) -> None:
    with pytest.raises(FrameError, match="LNG"):
        decode_frame(bytes([0xFC, lng, 0x11, 0x00, 0x00]))


def test_bad_start_raises() -> None:
    with pytest.raises(FrameError, match="SYNC"):
        decode_frame(b"\x00\x05\x11\x27\x56")


@given(cmd=st.integers(0, 255), data=st.binary(max_size=250))
def test_round_trip(cmd: int, data: bytes) -> None:
    frame = Frame(cmd, data)
    raw = frame.encode()
    assert raw[1] == len(raw)
    assert decode_frame(raw) == (frame, b"")


def test_frame_rejects_oversized_data() -> None:
    with pytest.raises(ValueError):
        Frame(0x11, bytes(251))


STREAM = b"".join(v.raw for v in VECTORS)
EXPECTED = [Frame(v.cmd, v.data) for v in VECTORS]


def test_stream_whole() -> None:
    assert new_decoder().feed(STREAM) == EXPECTED


def test_stream_in_halves() -> None:
    dec = new_decoder()
    half = len(STREAM) // 2
    assert dec.feed(STREAM[:half]) + dec.feed(STREAM[half:]) == EXPECTED


def test_stream_byte_by_byte() -> None:
    dec = new_decoder()
    out: list[Frame] = []
    for b in STREAM:
        out += dec.feed(bytes([b]))
    assert out == EXPECTED
    assert dec.pending == b""


def test_stream_wrapped_in_garbage() -> None:
    dec = new_decoder()
    out: list[Frame] = []
    for v in VECTORS:
        out += dec.feed(b"\x00\x13\x37" + v.raw + b"\xaa")
    assert out == EXPECTED
    assert dec.dropped == 4 * len(VECTORS)


def test_stream_resyncs_after_corrupt_frame() -> None:
    bad = bytearray(VECTORS[0].raw)
    bad[-2] ^= 0xFF
    dec = new_decoder()
    assert dec.feed(bytes(bad) + VECTORS[1].raw) == [EXPECTED[1]]
    assert dec.errors >= 1


def test_stream_false_sync_in_garbage_does_not_swallow_frame() -> None:
    # 0xFC 0x06 looks like a 6-byte frame start; the CRC fails and the real frame is found
    dec = new_decoder()
    assert dec.feed(b"\xfc\x06\x01\x02" + VECTORS[2].raw) == [EXPECTED[2]]


@settings(max_examples=3000)
@given(st.one_of(st.binary(max_size=300), st.binary(max_size=300).map(lambda b: b"\xfc" + b)))
def test_arbitrary_bytes_only_frame_error(data: bytes) -> None:
    try:
        frame, rest = decode_frame(data)
    except FrameError:
        return
    if frame is None:
        assert rest == data
    else:
        assert frame.encode() + rest == data
