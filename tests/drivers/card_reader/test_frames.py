"""CRT framing and module messages: golden vectors, round trips, stream recovery, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base.errors import FrameError
from drivers.base.framing import StreamDecoder
from drivers.card_reader import messages as msg
from drivers.card_reader.constants import CM, STX, CpuPm, ErrorCode, InitPm, MovePm, St0
from drivers.card_reader.frames import Frame, decode_frame
from tests.drivers.helpers import hexbytes, load_vectors

V = load_vectors("card_reader", "frames.toml")


def _stream() -> StreamDecoder[Frame]:
    return StreamDecoder(decode_frame, bytes([STX]))


@pytest.mark.parametrize("vec", V["command"], ids=lambda v: v["meaning"])
def test_command_vectors_encode_and_decode(vec: dict) -> None:
    raw = hexbytes(vec["hex"])
    command = msg.Command(vec["cm"], vec["pm"], hexbytes(vec["data"]))
    assert Frame(command.encode()).encode() == raw
    frame, rest = decode_frame(raw)
    assert rest == b"" and frame is not None
    assert msg.decode_command(frame.text) == command


@pytest.mark.parametrize("vec", V["positive"], ids=lambda v: v["meaning"])
def test_positive_reply_vectors(vec: dict) -> None:
    frame, _ = decode_frame(hexbytes(vec["hex"]))
    assert frame is not None
    reply = msg.decode_reply(frame.text)
    assert isinstance(reply, msg.PositiveReply)
    want = (vec["cm"], vec["pm"], vec["st"], hexbytes(vec["data"]))
    assert (reply.cm, reply.pm, reply.status.code, reply.data) == want
    assert Frame(msg.encode_positive(reply.cm, reply.pm, reply.status, reply.data)).encode() == hexbytes(vec["hex"])


@pytest.mark.parametrize("vec", V["negative"], ids=lambda v: v["meaning"])
def test_negative_reply_vectors(vec: dict) -> None:
    frame, _ = decode_frame(hexbytes(vec["hex"]))
    assert frame is not None
    reply = msg.decode_reply(frame.text)
    assert isinstance(reply, msg.NegativeReply)
    assert (reply.cm, reply.pm, reply.error) == (vec["cm"], vec["pm"], vec["error"])
    assert ErrorCode(reply.error)
    assert Frame(msg.encode_negative(reply.cm, reply.pm, reply.error)).encode() == hexbytes(vec["hex"])


@pytest.mark.parametrize("vec", V["bad"], ids=lambda v: v["meaning"])
def test_bad_frames_raise(vec: dict) -> None:
    with pytest.raises(FrameError):
        decode_frame(hexbytes(vec["hex"]))


def test_builders_match_vectors() -> None:
    by_meaning = {v["meaning"]: hexbytes(v["hex"]) for v in V["command"]}
    assert Frame(msg.status_request().encode()).encode() == by_meaning["STATUS REQUEST, report status"]
    assert Frame(msg.initialize(InitPm.NO_MOVE).encode()).encode() == \
        by_meaning["INITIALIZE, do not move a card inside (leave card)"]
    assert Frame(msg.card_move(MovePm.ERROR_BIN).encode()).encode() == \
        by_meaning["CARD MOVE to error card bin (retain)"]
    assert Frame(msg.card_move(MovePm.HOLDING).encode()).encode() == \
        by_meaning["CARD MOVE to holding position (present at the gate)"]
    assert Frame(msg.card_entry(True).encode()).encode() == by_meaning["CARD ENTRY enable"]
    assert Frame(msg.card_entry(False).encode()).encode() == by_meaning[
        "CARD ENTRY disable (MTKF31 prints 43 33 30 with BCC B3; the PM of its comment, 31, matches B3)"]
    assert Frame(msg.cpu_power_down().encode()).encode() == by_meaning["CPU card power down"]
    assert Frame(msg.bin_counter_read().encode()).encode() == by_meaning["read error-card bin counter"]


def test_need_more_returns_none_for_every_prefix() -> None:
    raw = hexbytes(V["command"][-3]["hex"])
    for i in range(len(raw)):
        assert decode_frame(raw[:i]) == (None, raw[:i])


def test_rest_bytes_are_returned() -> None:
    raw = hexbytes(V["command"][0]["hex"])
    frame, rest = decode_frame(raw + b"\x06\xf2\x00")
    assert frame is not None and rest == b"\x06\xf2\x00"


def test_every_enum_decodes() -> None:
    assert msg.ModuleStatus(0x30, 0x30, 0x31).card_position is St0.NO_CARD
    assert msg.ModuleStatus(0x39, 0x30, 0x30).card_position is None
    assert msg.ModuleStatus(0x30, 0x30, 0x31).bin_full
    assert msg.decode_bin_counter(b"042") == 42
    with pytest.raises(FrameError):
        msg.decode_bin_counter(b"4x")
    reset = msg.decode_chip_reset(b"\x30\x3b\x68\x00")
    assert reset.protocol == 0x30 and reset.atr == b"\x3b\x68\x00"
    with pytest.raises(FrameError):
        msg.decode_chip_reset(b"\x37\x3b\x00")
    assert msg.decode_cpu_status(b"1") == 0x31
    assert {c.value for c in CM} >= {0x30, 0x31, 0x32, 0x33, 0x51, 0xA5}
    assert CpuPm.T0_APDU == 0x33


def test_reply_too_short_or_unknown_head() -> None:
    for text in (b"P1", b"P10\x30", b"N10\x31", b"X10000"):
        with pytest.raises(FrameError):
            msg.decode_reply(text)


def test_frame_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Frame(b"")
    with pytest.raises(ValueError):
        Frame(b"C10", addr=256)
    with pytest.raises(ValueError):
        msg.Command(0x51, 0x33, bytes(513))


# -- stream: whole, halves, byte by byte, garbage -------------------------------------------
ALL = [hexbytes(v["hex"]) for v in V["command"] + V["positive"] + V["negative"]]


def test_stream_whole() -> None:
    dec = _stream()
    out = dec.feed(b"".join(ALL))
    assert [f.encode() for f in out] == ALL


def test_stream_halves_and_bytes() -> None:
    for raw in ALL:
        dec = _stream()
        half = len(raw) // 2
        assert dec.feed(raw[:half]) == []
        assert [f.encode() for f in dec.feed(raw[half:])] == [raw]
        dec = _stream()
        got = [f for b in raw for f in dec.feed(bytes([b]))]
        assert [f.encode() for f in got] == [raw]


def test_stream_garbage_and_link_bytes_around_frames() -> None:
    dec = _stream()
    noise = b"\x06\x15\x04\x00\xf2\xff\x03"  # ACK NAK EOT, a false STX, junk
    out = dec.feed(noise + ALL[0] + b"\x13\x37" + ALL[1] + b"\xf2\x00\x00\x03\x43\x31\x30\x03\x00" + ALL[2])
    assert [f.encode() for f in out] == ALL[:3]
    assert dec.errors >= 1 and dec.dropped > 0


@given(st.binary(min_size=1, max_size=msg.MAX_DATA), st.integers(0, 255))
def test_round_trip(text: bytes, addr: int) -> None:
    frame = Frame(text, addr)
    assert decode_frame(frame.encode()) == (frame, b"")


@settings(max_examples=3000)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_only_raise_frame_error(data: bytes) -> None:
    for buf in (data, bytes([STX]) + data):
        try:
            frame, _ = decode_frame(buf)
            if frame is not None:
                msg.decode_reply(frame.text)
        except FrameError:
            pass


@given(st.binary(max_size=64))
def test_stream_never_raises(data: bytes) -> None:
    _stream().feed(data)
