"""ISO 7816 APDUs, the T=0 61xx/6Cxx rules and BER-TLV: vectors from tests/vectors/card_reader/apdu.toml."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.card_reader.apdu import (
    MAX_GET_RESPONSE,
    ApduError,
    CommandApdu,
    decode_command_apdu,
    decode_response_apdu,
    transceive,
)
from drivers.card_reader.tlv import TlvError, decode_dol, decode_tlv, encode_tlv, find
from tests.drivers.helpers import hexbytes, load_vectors

V = load_vectors("card_reader", "apdu.toml")


@pytest.mark.parametrize("vec", V["command"], ids=lambda v: v["meaning"])
def test_command_apdu_vectors(vec: dict) -> None:
    apdu = CommandApdu(vec["cla"], vec["ins"], vec["p1"], vec["p2"], hexbytes(vec["data"]), vec["le"])
    assert apdu.encode() == hexbytes(vec["hex"])
    assert decode_command_apdu(hexbytes(vec["hex"])) == apdu


class ScriptedCard:
    """Answers from a script and records what it was sent."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = [hexbytes(a) for a in answers]
        self.sent: list[bytes] = []

    def __call__(self, raw: bytes) -> bytes:
        self.sent.append(raw)
        return self.answers.pop(0)


def test_t0_get_response_after_61xx_trace() -> None:
    trace = next(t for t in V["t0"] if t["name"] == "select_pse_61xx")
    fci = "6F 2A" + " 00" * 0x2A
    card = ScriptedCard([trace["first_answer"], fci + " 90 00"])
    resp = transceive(card, decode_command_apdu(hexbytes(trace["sent"][0])))
    assert card.sent == [hexbytes(s) for s in trace["sent"]]
    assert resp.ok and resp.data == hexbytes(fci)


def test_t0_wrong_le_reissue_trace() -> None:
    trace = next(t for t in V["t0"] if t["name"] == "read_record_6cxx")
    record = "70 29" + " 11" * 0x29
    card = ScriptedCard([trace["first_answer"], record + " 90 00"])
    resp = transceive(card, decode_command_apdu(hexbytes(trace["sent"][0])))
    assert card.sent == [hexbytes(s) for s in trace["sent"]]
    assert resp.ok and resp.data == hexbytes(record)


def test_t0_chained_61xx_concatenates() -> None:
    card = ScriptedCard(["61 02", "AA BB 61 01", "CC 90 00"])
    resp = transceive(card, CommandApdu(0, 0xA4, 4, 0, b"\x01", 0))
    assert resp.data == b"\xaa\xbb\xcc" and resp.sw == 0x9000
    assert card.sent[1:] == [hexbytes("00 C0 00 00 02"), hexbytes("00 C0 00 00 01")]


def test_t0_error_status_passes_through() -> None:
    resp = transceive(ScriptedCard(["6A 82"]), CommandApdu(0, 0xA4, 4, 0, b"\x01", 0))
    assert resp.sw == 0x6A82 and not resp.ok and resp.data == b""


def test_t0_loops_are_bounded() -> None:
    with pytest.raises(ApduError):
        transceive(ScriptedCard(["61 01"] + ["00 61 01"] * (MAX_GET_RESPONSE + 1)), CommandApdu(0, 0xB2, 1, 0x0C, le=0))
    with pytest.raises(ApduError):
        transceive(ScriptedCard(["6C 10", "6C 11", "6C 12"]), CommandApdu(0, 0xB2, 1, 0x0C, le=0))


def test_apdu_validation() -> None:
    for raw in ("00 A4", "00 A4 04 00 05 01", "00 A4 04 00 00 01 02"):
        with pytest.raises(ApduError):
            decode_command_apdu(hexbytes(raw))
    with pytest.raises(ApduError):
        CommandApdu(0x100, 0, 0, 0)
    with pytest.raises(ApduError):
        decode_response_apdu(b"\x90")
    assert decode_command_apdu(hexbytes("00 84 00 00")).le is None


@pytest.mark.parametrize("vec", V["dol"], ids=lambda v: v["meaning"])
def test_dol_vectors(vec: dict) -> None:
    assert decode_dol(hexbytes(vec["hex"])) == tuple(tuple(e) for e in vec["entries"])


@pytest.mark.parametrize("vec", V["tlv"], ids=lambda v: v["meaning"])
def test_tlv_vectors(vec: dict) -> None:
    objs = decode_tlv(hexbytes(vec["hex"]))
    assert len(objs) == 1
    if "pan" in vec and objs[0].tag == 0x70:
        assert find(objs, 0x5A).value.hex() == vec["pan"]
        assert find(objs, 0x5F24).value.hex()[:4] == vec["expiry"]
    if "afl" in vec:
        assert find(objs, 0x82).value == hexbytes(vec["aip"])
        assert find(objs, 0x94).value == hexbytes(vec["afl"])
    if objs[0].tag == 0x57:
        account, _, rest = objs[0].value.hex().upper().partition("D")
        assert account == vec["pan"] and rest[:4] == vec["expiry"]


def test_tlv_multibyte_tags_long_lengths_and_padding() -> None:
    value = bytes(200)
    raw = b"\x00\xff" + encode_tlv(0xBF0C, encode_tlv(0x9F4D, b"\x0b\x0a")) + encode_tlv(0xDF8101, value)
    objs = decode_tlv(raw)
    assert [o.tag for o in objs] == [0xBF0C, 0xDF8101]
    assert objs[0].constructed and find(objs, 0x9F4D).value == b"\x0b\x0a"
    assert objs[1].value == value and b"\xdf\x81\x01\x81\xc8" in raw  # long-form length 81 C8


@pytest.mark.parametrize("raw", ["5A 08 01", "9F", "9F 80", "5A 84 00 00 00 01", "5A 81", "70 03 5A 05 01",
                                 "9F FF FF FF 01 00"])
def test_tlv_malformed(raw: str) -> None:
    with pytest.raises(TlvError):
        decode_tlv(hexbytes(raw))


def test_tlv_depth_bound() -> None:
    raw = b"\x01"
    for _ in range(12):
        raw = encode_tlv(0x70, raw)
    with pytest.raises(TlvError):
        decode_tlv(raw)


def test_repr_hides_values() -> None:
    objs = decode_tlv(hexbytes(V["tlv"][0]["hex"]))
    assert "6228" not in repr(objs) and "62 28" not in repr(objs)
    assert "6228" not in repr(decode_response_apdu(hexbytes("62 28 48 90 00")))


@settings(max_examples=3000)
@given(st.binary(max_size=80))
def test_tlv_arbitrary_bytes_only_raise_tlv_error(data: bytes) -> None:
    for fn in (decode_tlv, decode_dol):
        try:
            fn(data)
        except TlvError:
            pass


@given(st.binary(max_size=40))
def test_apdu_arbitrary_bytes_only_raise_apdu_error(data: bytes) -> None:
    try:
        decode_command_apdu(data)
    except ApduError:
        pass


@given(st.integers(1, 0xFF), st.binary(max_size=300))
def test_tlv_round_trip_primitive(tag_low: int, value: bytes) -> None:
    tag = 0x9F00 | (tag_low & 0x7F)  # a two-byte primitive tag
    (obj,) = decode_tlv(encode_tlv(tag, value))
    assert (obj.tag, obj.value) == (tag, value)
