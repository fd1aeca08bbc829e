"""Scanner framing: golden vectors, suffix/idle framing, menu replies, garbage, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.barcode_scanner.constants import MAX_CODE_LEN, REVINF, TRIGGER_OFF, TRIGGER_ON, MenuStatus
from drivers.barcode_scanner.frames import MenuReply, ScanData, decode_frame, encode_menu
from drivers.base.errors import FrameError
from tests.drivers.helpers import hexbytes, load_vectors

VECTORS = load_vectors("barcode_scanner", "commands.toml")


def test_command_vectors() -> None:
    by_name = {v["name"]: hexbytes(v["hex"]) for v in VECTORS["vector"]}
    assert by_name["trigger_on"] == TRIGGER_ON and by_name["trigger_off"] == TRIGGER_OFF
    assert encode_menu(REVINF) == by_name["revinf"]


@pytest.mark.parametrize("vec", VECTORS["reply"], ids=lambda v: v["name"])
def test_reply_vectors(vec: dict) -> None:
    frame, rest = decode_frame(hexbytes(vec["hex"]), menu_tags=(vec["tag"],))
    assert frame == MenuReply(vec["tag"], vec["data"], MenuStatus[vec["status"]]) and rest == b""


def _all(buf: bytes, **kw: object) -> list:
    out = []
    while True:
        frame, buf = decode_frame(buf, **kw)  # type: ignore[arg-type]
        if frame is None:
            return out
        out.append(frame)


STREAM = b"ABC-123\r" + b"REVINF" + b"Product Name: X\r\nFirmware: 1" + b"\x06." + "支付码-9\r\n".encode()


def test_whole_halves_and_byte_by_byte_give_the_same_frames() -> None:
    whole = _all(STREAM, menu_tags=(REVINF,))
    assert whole == [ScanData("ABC-123"), MenuReply(REVINF, "Product Name: X\r\nFirmware: 1", MenuStatus.ACK),
                     ScanData("支付码-9")]
    for split in (len(STREAM) // 2, 3, 11):
        buf, got = b"", []
        for part in (STREAM[:split], STREAM[split:]):
            buf += part
            while (r := decode_frame(buf, menu_tags=(REVINF,)))[0] is not None:
                got.append(r[0])
                buf = r[1]
        assert got == whole
    buf, got = b"", []
    for b in STREAM:
        buf += bytes([b])
        while (r := decode_frame(buf, menu_tags=(REVINF,)))[0] is not None:
            got.append(r[0])
            buf = r[1]
    assert got == whole


def test_control_garbage_is_stripped_and_idle_ends_a_suffixless_scan() -> None:
    assert _all(b"\x00\x07AB\x1bC\r") == [ScanData("ABC")]
    assert decode_frame(b"XYZ", suffix="none") == (None, b"XYZ")
    assert decode_frame(b"XYZ", suffix="none", idle=True) == (ScanData("XYZ"), b"")
    assert decode_frame(b"XY", suffix="cr", idle=True) == (ScanData("XY"), b"")


def test_malformed_menu_reply_raises_frame_error() -> None:
    with pytest.raises(FrameError):
        decode_frame(b"REVINF data\x06X", menu_tags=(REVINF,))
    with pytest.raises(ValueError):
        encode_menu("BAD\r")


@given(st.binary(max_size=200), st.sampled_from(["cr", "crlf", "none"]), st.booleans())
@settings(max_examples=3000)
def test_arbitrary_bytes_raise_only_frame_error(data: bytes, suffix: str, idle: bool) -> None:
    try:
        frame, rest = decode_frame(data, menu_tags=(REVINF,), suffix=suffix, idle=idle)
    except FrameError:
        return
    assert len(rest) <= len(data)
    if frame is not None:
        assert isinstance(frame, ScanData | MenuReply)


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=80))
@settings(max_examples=500)
def test_scan_round_trip(code: str) -> None:
    assert decode_frame(code.encode() + b"\r\n", suffix="crlf")[0] == ScanData(code)


@given(stream=st.binary(min_size=1, max_size=3 * MAX_CODE_LEN), chunk=st.integers(1, 700))
@settings(max_examples=50)
def test_suffixless_buffer_is_bounded_while_the_line_never_goes_idle(stream: bytes, chunk: int) -> None:
    """issue 15 finding 10: suffix "none" kept everything until an idle gap."""
    buf, codes = b"", []
    for i in range(0, len(stream), chunk):
        buf += stream[i:i + chunk]
        frame, buf = decode_frame(buf, suffix="none")
        if frame is not None:
            codes.append(frame)
        assert len(buf) <= MAX_CODE_LEN + chunk
    assert all(c.truncated and len(c.code) <= MAX_CODE_LEN for c in codes)
