"""ccTalk codec: byte-exact frames from public code (tests/vectors/coin_acceptor/cctalk.toml, each
row cites its source) and properties of the framing, the echo filter and the event counter."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base.errors import FrameError, ProtocolError
from drivers.coin_acceptor.constants import ADDR_COIN_ACCEPTOR, ADDR_HOST, ErrorClass, Header, error_class
from drivers.coin_acceptor.frames import Checksum, EchoFilter, Frame, crc16_xmodem, decode_frame, new_decoder
from drivers.coin_acceptor.messages import (
    CoinCredit,
    CoinError,
    CoinId,
    CreditBuffer,
    address_poll,
    advance,
    ascii_answer,
    enabled_positions,
    inhibit_mask,
    serial_number,
    steps,
)
from tests.drivers.helpers import hexbytes, load_vectors

VECTORS = load_vectors("coin_acceptor", "cctalk.toml")
FRAMES = VECTORS["frame"]
BUFFERS = VECTORS["buffer"]


@pytest.mark.parametrize("vec", FRAMES, ids=[v["name"] for v in FRAMES])
def test_frame_vectors_encode_and_decode(vec: dict[str, Any]) -> None:
    assert vec["source"]
    raw, checksum = hexbytes(vec["hex"]), Checksum(vec["checksum"])
    frame = Frame(vec["dest"], vec["src"], vec["header"], hexbytes(vec["data"]))
    assert frame.encode(checksum) == raw
    assert decode_frame(raw + b"\x99", checksum, implied_src=vec["src"]) == (frame, b"\x99")


@pytest.mark.parametrize("vec", BUFFERS, ids=[v["name"] for v in BUFFERS])
def test_credit_buffer_vectors(vec: dict[str, Any]) -> None:
    buffer = CreditBuffer.decode(Frame(ADDR_HOST, ADDR_COIN_ACCEPTOR, 0, hexbytes(vec["data"])))
    assert buffer.counter == vec["counter"]
    want = [CoinCredit(e[1], e[2]) if e[0] == "credit" else CoinError(e[1]) for e in vec["events"]]
    assert list(buffer.events[: len(want)]) == want
    assert buffer.encode_data() == hexbytes(vec["data"])


def test_crc16_is_xmodem() -> None:
    assert crc16_xmodem(b"123456789") == 0x31C3  # the CRC catalogue's check value for CRC-16/XMODEM


def test_corrupt_frames_are_refused() -> None:
    with pytest.raises(FrameError, match="checksum"):
        decode_frame(hexbytes("02 00 01 FE FE"))
    with pytest.raises(FrameError, match="CRC"):
        decode_frame(hexbytes("28 00 46 01 3E"), Checksum.CRC16)
    with pytest.raises(FrameError, match="LEN"):
        decode_frame(hexbytes("01 FD 02 00"))
    assert decode_frame(hexbytes("01 03 02 00 41")) == (None, hexbytes("01 03 02 00 41"))


def test_answers() -> None:
    ok = Frame(1, 2, 0, b"SIM")
    assert ascii_answer(ok) == "SIM"
    assert serial_number(Frame(1, 2, 0, bytes([0x56, 0x34, 0x12]))) == 0x123456
    with pytest.raises(ProtocolError, match="NAK"):
        ascii_answer(Frame(1, 2, Header.NAK))
    with pytest.raises(FrameError):
        serial_number(Frame(1, 2, 0, b"SIMC"))
    coin = CoinId.decode(3, Frame(1, 2, 0, b"CN100A"))
    assert (coin.country, coin.value_code, coin.value_minor, coin.programmed) == ("CN", "100", 100, True)
    assert not CoinId.decode(4, Frame(1, 2, 0, b"......")).programmed
    assert CoinId(5, "EU2K5A").value_minor is None


def test_inhibit_mask_bits() -> None:
    assert inhibit_mask({1, 2, 3}) == b"\x07\x00"
    assert inhibit_mask(set(range(1, 17))) == b"\xff\xff"
    assert enabled_positions(b"\xf7\xfd") == frozenset(range(1, 17)) - {4, 10}
    with pytest.raises(ValueError):
        inhibit_mask({17})


def test_address_poll_is_broadcast() -> None:
    assert address_poll().encode() == hexbytes("00 00 01 FD 02")


def test_error_classes() -> None:
    assert error_class(1) is ErrorClass.REJECT
    assert error_class(130) is ErrorClass.REJECT  # inhibited coin type 3
    assert error_class(14) is ErrorClass.JAM
    assert error_class(17) is ErrorClass.FRAUD
    assert error_class(5) is ErrorClass.HARDWARE
    assert error_class(99) is ErrorClass.HARDWARE  # not in the table: an engineer looks


# -- the event counter: 1..255, wrapping to 1, 0 only after a reset -----------------------------------
def test_counter_wraps_past_255_to_1() -> None:
    assert advance(255) == 1 and advance(0) == 1 and advance(254, 3) == 2
    assert steps(254, 2) == 3 and steps(0, 4) == 4 and steps(7, 7) == 0 and steps(9, 0) == 0


def test_since_lists_new_events_oldest_first_with_their_counters() -> None:
    buffer = CreditBuffer(2, (CoinCredit(1, 1), CoinError(14), CoinCredit(3, 1), CoinCredit(2, 1), CoinCredit(1, 1)))
    events, lost = buffer.since(254)
    assert lost == 0
    assert events == [(255, CoinCredit(3, 1)), (1, CoinError(14)), (2, CoinCredit(1, 1))]
    events, lost = buffer.since(250)  # 7 steps: only 5 are in the buffer
    assert lost == 2 and [c for c, _ in events] == [253, 254, 255, 1, 2]


@given(st.integers(1, 255), st.integers(0, 254))
def test_steps_inverts_advance(start: int, n: int) -> None:
    end = advance(start, n)
    assert 1 <= end <= 255
    assert steps(start, end) == n


@given(st.integers(1, 255))
def test_steps_from_a_reset_counter(n: int) -> None:
    assert steps(0, advance(0, n)) == n


# -- framing properties through StreamDecoder --------------------------------------------------------
frames = st.builds(Frame, st.just(ADDR_HOST), st.integers(2, 255), st.integers(0, 255), st.binary(max_size=40))
#: garbage without the host address byte: bytes that cannot start a frame (a garbage 0x01 followed by
#: a long LEN waits for its bytes: the driver salvages it on silence, tested in test_driver.py)
garbage = st.binary(max_size=30).map(lambda b: bytes(x for x in b if x != ADDR_HOST))


@given(frames, st.sampled_from(list(Checksum)))
def test_round_trip(frame: Frame, checksum: Checksum) -> None:
    raw = frame.encode(checksum)
    assert decode_frame(raw, checksum, implied_src=frame.src) == (frame, b"")


@given(st.lists(frames, min_size=1, max_size=5))
def test_whole_halves_and_byte_by_byte(batch: list[Frame]) -> None:
    raw = b"".join(f.encode() for f in batch)
    whole = new_decoder().feed(raw)
    half = len(raw) // 2
    dec = new_decoder()
    halves = dec.feed(raw[:half]) + dec.feed(raw[half:])
    dec = new_decoder()
    by_byte = [f for i in range(len(raw)) for f in dec.feed(raw[i: i + 1])]
    assert whole == halves == by_byte == batch


@given(garbage, frames, garbage, frames)
def test_garbage_around_frames_is_skipped(g1: bytes, f1: Frame, g2: bytes, f2: Frame) -> None:
    dec = new_decoder()
    assert dec.feed(g1 + f1.encode() + g2 + f2.encode()) == [f1, f2]
    assert dec.dropped >= len(g1) + len(g2)


@given(frames)
def test_a_corrupt_frame_does_not_swallow_the_next(frame: Frame) -> None:
    bad = bytearray(Frame(ADDR_HOST, 2, 0).encode())
    bad[-1] ^= 0x55
    assert new_decoder().feed(bytes(bad) + frame.encode()) == [frame]


# -- the echo of a single-wire line ------------------------------------------------------------------
@given(frames, st.integers(1, 8))
def test_echo_is_removed_in_any_chunking(reply: Frame, chunk: int) -> None:
    sent = Frame(ADDR_COIN_ACCEPTOR, ADDR_HOST, Header.READ_BUFFERED_CREDIT).encode()
    line = sent + reply.encode()
    echo, out = EchoFilter(sent), b""
    for i in range(0, len(line), chunk):
        out += echo.feed(line[i: i + chunk])
    assert echo.echoed and not echo.absent and out == reply.encode()


@given(frames)
def test_no_echo_on_the_line_passes_everything(reply: Frame) -> None:
    sent = Frame(ADDR_COIN_ACCEPTOR, ADDR_HOST, Header.SIMPLE_POLL).encode()
    echo = EchoFilter(sent)
    assert echo.feed(reply.encode()) == reply.encode()
    assert echo.absent and not echo.echoed
