"""SAM frame codec: golden vectors, round trip, stream splitting, garbage, fuzzing."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base.errors import FrameError
from drivers.base.framing import StreamDecoder
from drivers.id_reader.constants import PREAMBLE, TEXT_BYTES, Command
from drivers.id_reader.frames import Request, Response, decode_request, decode_response
from drivers.id_reader.messages import decode_identity, decode_sam_id, encode_identity_text
from tests.drivers.helpers import hexbytes, load_vectors

V = load_vectors("id_reader", "frames.toml")


@pytest.mark.parametrize("vec", V["request"], ids=lambda v: v["name"])
def test_request_vectors(vec: dict) -> None:
    assert Request(vec["command"]).encode() == hexbytes(vec["hex"])
    assert decode_request(hexbytes(vec["hex"])) == (Request(vec["command"]), b"")


@pytest.mark.parametrize("vec", V["response"], ids=lambda v: v["name"])
def test_response_vectors(vec: dict) -> None:
    frame, rest = decode_response(hexbytes(vec["hex"]))
    assert frame == Response(0, 0, vec["sw3"], bytes.fromhex(vec["data"])) and rest == b""
    assert frame.encode() == hexbytes(vec["hex"])


def test_public_snippet_with_wrong_checksum_is_rejected() -> None:
    with pytest.raises(FrameError, match="checksum"):
        decode_request(hexbytes(V["bad"][0]["hex"]))


def _stream() -> tuple[bytes, list[Response]]:
    frames = [Response(0, 0, 0x90), Response(0, 0, 0x9F, bytes(4)), Response(0, 0, 0x80)]
    return b"".join(f.encode() for f in frames), frames


def test_whole_halves_bytes_and_garbage() -> None:
    data, frames = _stream()
    for chunks in ([data], [data[: len(data) // 2], data[len(data) // 2:]], [bytes([b]) for b in data],
                   [b"\x00\xaa\x13garbage" + data[:9], data[9:] + b"\xaa\xaa"]):
        dec: StreamDecoder[Response] = StreamDecoder(decode_response, PREAMBLE)
        got = [f for c in chunks for f in dec.feed(c)]
        assert got == frames


def test_a_corrupt_frame_does_not_swallow_the_next() -> None:
    data, frames = _stream()
    bad = bytearray(frames[0].encode())
    bad[-1] ^= 0xFF
    dec: StreamDecoder[Response] = StreamDecoder(decode_response, PREAMBLE)
    assert dec.feed(bytes(bad) + data) == frames and dec.errors >= 1


@given(st.binary(max_size=300))
@settings(max_examples=3000)
def test_arbitrary_bytes_raise_only_frame_error(data: bytes) -> None:
    for decode in (decode_response, decode_request):
        try:
            decode(data)
        except FrameError:
            pass


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.binary(max_size=600))
@settings(max_examples=500)
def test_round_trip(sw1: int, sw2: int, sw3: int, payload: bytes) -> None:
    r = Response(sw1, sw2, sw3, payload)
    assert decode_response(r.encode() + b"\xaa") == (r, b"\xaa")


def test_identity_text_layout_and_opaque_photo() -> None:
    fields = {"name": "张三", "sex": "2", "nation": "05", "birth": "19900101", "address": "某地",
              "id_number": "11010519491231002X", "authority": "某局", "valid_from": "20200101", "valid_to": "长期"}
    photo = bytes(range(256)) * 4
    ident = decode_identity(struct.pack(">HH", TEXT_BYTES, len(photo)) + encode_identity_text(fields) + photo)
    assert ident.name == "张三" and ident.sex == "女" and ident.nation == "维吾尔" and ident.valid_to == "长期"
    assert ident.photo == photo and "11010519491231002X" not in repr(ident)
    assert ident.id_number_masked == "110105********002X"
    with pytest.raises(FrameError):
        decode_identity(struct.pack(">HH", 100, 0) + b"x" * 100)
    assert decode_sam_id(bytes([5, 0, 2, 0]) + struct.pack("<III", 1, 2, 3)) == "05.02-1-000000002-000000003"


def test_command_constants_match_the_vectors() -> None:
    assert Request(Command.STATUS_DETECT).encode() == hexbytes("AA AA AA 96 69 00 03 11 FF ED")
