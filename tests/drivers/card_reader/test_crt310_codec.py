"""CRT-310 codec: the public vectors byte for byte, round trips, stream recovery (whole, halves,
byte by byte, garbage), fuzzing, and the translation to the driver's CRT-591 terms."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base.errors import FrameError
from drivers.base.framing import StreamDecoder
from drivers.card_reader import crt310
from drivers.card_reader import messages as msg
from drivers.card_reader.constants import CM, ErrorCode, InitPm, MovePm, St0, St2
from drivers.card_reader.frames import decode_frame as decode_frame_591
from tests.drivers.helpers import hexbytes, load_vectors

V = load_vectors("card_reader", "crt310.toml")
ALL = [hexbytes(v["hex"]) for v in V["command"] + V["reply"]]


def _stream() -> StreamDecoder[crt310.Frame310]:
    return StreamDecoder(crt310.decode_frame, bytes([crt310.STX]))


@pytest.mark.parametrize("vec", V["command"], ids=lambda v: v["meaning"])
def test_command_vectors(vec: dict) -> None:
    raw = hexbytes(vec["hex"])
    command = crt310.Command310(vec["cm"], vec["pm"])
    assert crt310.Frame310(command.encode()).encode() == raw
    frame, rest = crt310.decode_frame(raw)
    assert rest == b"" and frame is not None
    assert crt310.decode_command(frame.text) == command


@pytest.mark.parametrize("vec", V["reply"], ids=lambda v: v["meaning"])
def test_reply_vectors(vec: dict) -> None:
    raw = hexbytes(vec["hex"])
    frame, rest = crt310.decode_frame(raw)
    assert rest == b"" and frame is not None
    reply = crt310.decode_reply(frame.text)
    if vec["kind"] == "positive":
        assert reply == crt310.Positive310(vec["cm"], vec["pm"], hexbytes(vec["data"]))
        assert crt310.Frame310(crt310.encode_positive(vec["cm"], vec["pm"], hexbytes(vec["data"]))).encode() == raw
    else:
        assert reply == crt310.Negative310(vec["cm"], vec["error"])
        assert crt310.error_code(reply.error) == vec["code"]
        if raw[3] == 0x4E:  # the simulator writes the 'N' head
            assert crt310.Frame310(crt310.encode_negative(vec["cm"], vec["error"])).encode() == raw


def test_not_crt591_frames() -> None:
    """The two framings do not read each other's frames (different STX, an address byte)."""
    status_310 = hexbytes(V["command"][3]["hex"])
    with pytest.raises(FrameError):
        decode_frame_591(status_310)
    with pytest.raises(FrameError):
        crt310.decode_frame(hexbytes("F2 00 00 03 43 31 30 03 B0"))


def test_error_codes() -> None:
    assert crt310.error_code(0x00) == ErrorCode.UNDEFINED_COMMAND
    assert crt310.error_code(0x32) == ErrorCode.COMMAND_SEQUENCE_ERROR  # an ASCII digit counts too
    assert crt310.error_code(0x05) == crt310.Error310.INPUT_VOLTAGE
    assert crt310.error_code(0x06) == crt310.Error310.ABNORMAL_CARD
    assert crt310.error_code(0x0C) == "EC"
    assert crt310.error_code(0x99) == "E?"


def test_short_texts_and_bad_arguments() -> None:
    for text in (b"N", b"N1", b"E1", b"1"):
        with pytest.raises(FrameError):
            crt310.decode_reply(text)
    with pytest.raises(FrameError):
        crt310.decode_command(b"N10")
    with pytest.raises(ValueError):
        crt310.Frame310(b"")
    with pytest.raises(ValueError):
        crt310.Command310(0x4E, 0x30)
    with pytest.raises(ValueError):
        crt310.Command310(0x31, 0x30, bytes(crt310.MAX_DATA + 1))


# -- the driver's commands on the CRT-310 ------------------------------------------------------
def test_to_wire_maps_the_driver_commands() -> None:
    wire = {(c.cm, c.pm): crt310.to_wire(c.cm, c.pm) for c in (
        msg.initialize(), msg.initialize(InitPm.CAPTURE), msg.initialize(InitPm.MOVE_TO_GATE), msg.status_request(),
        msg.card_move(MovePm.HOLDING), msg.card_move(MovePm.IC_POSITION), msg.card_move(MovePm.ERROR_BIN),
        msg.card_move(MovePm.OUT_OF_GATE), msg.card_entry(True), msg.card_entry(False))}
    assert [w.encode().hex() if w else None for w in wire.values()] == [
        "3030", "3032", "3031", "3130", "3231", "322f", "3233", "3230", "2f31", "2f30"]
    for unsupported in (msg.cpu_cold_reset(), msg.cpu_power_down(), msg.bin_counter_read(), msg.cpu_apdu(b"\x00")):
        assert crt310.to_wire(unsupported.cm, unsupported.pm) is None


def test_translate_status_move_and_errors() -> None:
    inside = crt310.translate(crt310.Positive310(0x31, 0x30, b"JJN"), CM.STATUS_REQUEST, 0x30)
    assert inside.st == (St0.CARD_AT_IC_RF, 0x4A, St2.BIN_NOT_FULL) and inside.error is None
    long_card = crt310.translate(crt310.Positive310(0x31, 0x30, b"FNN"), CM.STATUS_REQUEST, 0x30)
    assert long_card.st is not None and msg.ModuleStatus(*long_card.st).card_position is None
    moved = crt310.translate(crt310.Positive310(0x32, 0x31, b"Y"), CM.CARD_MOVE, MovePm.HOLDING)
    assert moved.st is not None and moved.st[0] == St0.CARD_AT_GATE
    for result, code in ((b"N", ErrorCode.CARD_JAM), (b"E", ErrorCode.COMMAND_SEQUENCE_ERROR),
                         (b"W", ErrorCode.COMMAND_SEQUENCE_ERROR)):
        assert crt310.translate(crt310.Positive310(0x32, 0x31, result), CM.CARD_MOVE, MovePm.HOLDING).error == code
    assert crt310.translate(crt310.Negative310(0x31, 6), CM.STATUS_REQUEST, 0x30).error == "E6"
    with pytest.raises(FrameError):
        crt310.translate(crt310.Positive310(0x31, 0x30, b"J"), CM.STATUS_REQUEST, 0x30)
    with pytest.raises(FrameError):
        crt310.translate(crt310.Positive310(0x32, 0x31), CM.CARD_MOVE, MovePm.HOLDING)


# -- stream: whole, halves, byte by byte, garbage ----------------------------------------------
def test_stream_whole() -> None:
    assert [f.encode() for f in _stream().feed(b"".join(ALL))] == ALL


def test_stream_halves_and_bytes() -> None:
    for raw in ALL:
        dec = _stream()
        half = len(raw) // 2
        assert dec.feed(raw[:half]) == []
        assert [f.encode() for f in dec.feed(raw[half:])] == [raw]
        dec = _stream()
        assert [f.encode() for b in raw for f in dec.feed(bytes([b]))] == [raw]


def test_stream_garbage_and_link_bytes_around_frames() -> None:
    dec = _stream()
    noise = b"\x06\x05\x15\x04\x02\xff\x03"  # ACK ENQ NAK EOT, a false STX, junk
    bad_bcc = hexbytes("02 00 02 31 30 03 00")
    out = dec.feed(noise + ALL[0] + b"\x13\x37" + ALL[1] + bad_bcc + ALL[2])
    assert [f.encode() for f in out] == ALL[:3]
    assert dec.errors >= 1 and dec.dropped > 0


@given(st.binary(min_size=1, max_size=crt310.MAX_TEXT))
def test_frame_round_trip(text: bytes) -> None:
    frame = crt310.Frame310(text)
    assert crt310.decode_frame(frame.encode()) == (frame, b"")


@given(st.integers(0, 255).filter(lambda b: b not in crt310.NEGATIVE_HEADS), st.integers(0, 255),
       st.binary(max_size=64))
def test_positive_round_trip(cm: int, pm: int, data: bytes) -> None:
    assert crt310.decode_reply(crt310.encode_positive(cm, pm, data)) == crt310.Positive310(cm, pm, data)
    assert crt310.decode_command(crt310.Command310(cm, pm, data).encode()) == crt310.Command310(cm, pm, data)


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=16))
def test_negative_round_trip(cm: int, error: int, data: bytes) -> None:
    assert crt310.decode_reply(crt310.encode_negative(cm, error, data)) == crt310.Negative310(cm, error, data)


@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=5), st.binary(max_size=20),
       st.integers(1, 7))
def test_stream_frames_survive_garbage_and_any_split(texts: list[bytes], junk: bytes, step: int) -> None:
    frames = [crt310.Frame310(t).encode() for t in texts]
    wire = junk.replace(b"\x02", b"") + b"".join(frames)
    dec = _stream()
    got = [f.encode() for i in range(0, len(wire), step) for f in dec.feed(wire[i : i + step])]
    assert got == frames


@settings(max_examples=2000)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_only_raise_frame_error(data: bytes) -> None:
    for buf in (data, bytes([crt310.STX]) + data):
        try:
            frame, _ = crt310.decode_frame(buf)
            if frame is not None:
                crt310.decode_reply(frame.text)
        except FrameError:
            pass
    _stream().feed(data)
