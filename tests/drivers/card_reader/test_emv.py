"""The PBOC/EMV read flow against the simulated chip card (no link), every path of the flow."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base.errors import DriverError
from drivers.card_reader import emv
from drivers.card_reader.apdu import CommandApdu, ResponseApdu, transceive
from drivers.card_reader.tlv import encode_tlv
from simulators.card_reader import CREDIT_AID, DEBIT_AID, SimCard

TERMINAL = emv.TerminalData(date=bytes.fromhex("261123"), time=bytes.fromhex("120000"),
                            unpredictable_number=bytes.fromhex("01020304"))


class Recorder:
    def __init__(self, card: SimCard) -> None:
        self.card = card
        self.sent: list[bytes] = []

    def __call__(self, command: CommandApdu) -> ResponseApdu:
        def send(raw: bytes) -> bytes:
            self.sent.append(raw)
            return self.card.apdu(raw)
        return transceive(send, command)

    def ins(self) -> list[int]:
        return [raw[1] for raw in self.sent]


def test_pse_flow_reads_5a_and_5f24_with_t0_rules() -> None:
    rec = Recorder(SimCard("6228480000000000000"))
    data = emv.read_card(rec, TERMINAL)
    assert (data.pan, data.expiry, data.aid, data.card_type, data.label) == (
        "6228480000000000000", "3012", DEBIT_AID, "debit", "UnionPay Debit")
    assert rec.sent[0] == bytes.fromhex("00A404000E315041592E5359532E444446303100")
    assert 0xC0 in rec.ins()  # GET RESPONSE after 61xx
    reissued = [raw for raw in rec.sent if raw[1] == 0xB2 and raw[-1] != 0]
    assert reissued, "READ RECORD must be re-issued with the Le from 6Cxx"
    assert "6228480000000000000" not in repr(data)


def test_gpo_carries_the_filled_pdol() -> None:
    rec = Recorder(SimCard())
    emv.read_card(rec, TERMINAL)
    gpo = next(raw for raw in rec.sent if raw[:2] == b"\x80\xa8")
    body = gpo[5:-1]
    assert body[0] == 0x83 and body[1] == 33 and len(body) == 35
    pdol = body[2:]
    assert pdol[:4] == TERMINAL.ttq and pdol[4:16] == bytes(12)
    assert pdol[16:18] == b"\x01\x56" and pdol[23:25] == b"\x01\x56"
    assert pdol[25:28] == bytes.fromhex("261123") and pdol[29:33] == bytes.fromhex("01020304")


def test_ppse_when_no_pse() -> None:
    rec = Recorder(SimCard("6212345678901232", pse=False, aid=CREDIT_AID, label="UnionPay Credit"))
    data = emv.read_card(rec, TERMINAL)
    assert data.card_type == "credit" and data.pan == "6212345678901232"
    assert any(b"2PAY.SYS.DDF01" in raw for raw in rec.sent)


def test_candidate_aids_when_no_directory() -> None:
    rec = Recorder(SimCard("6212345678901232", pse=False, ppse=False, aid=CREDIT_AID))
    data = emv.read_card(rec, TERMINAL)
    assert data.aid == CREDIT_AID and data.card_type == "credit"
    selects = [raw[5:-1] for raw in rec.sent if raw[1] == 0xA4]
    assert selects[2:4] == [DEBIT_AID, CREDIT_AID]  # debit probed (6A82) before credit


def test_track2_only_and_format1() -> None:
    data = emv.read_card(Recorder(SimCard("6212345678901232", with_5a=False, gpo_format=1)), TERMINAL)
    assert data.pan == "6212345678901232" and data.expiry == "3012"


def test_invalid_luhn_is_refused_without_digits() -> None:
    with pytest.raises(emv.EmvError) as err:
        emv.read_card(Recorder(SimCard("6212345678901234")), TERMINAL)
    assert err.value.code == "invalid_pan"
    assert "6212345678901234" not in str(err.value)


def test_non_emv_card() -> None:
    class Dumb:
        def __call__(self, command: CommandApdu) -> ResponseApdu:
            return ResponseApdu(b"", 0x6D, 0x00)
    with pytest.raises(emv.EmvError) as err:
        emv.read_card(Dumb(), TERMINAL)
    assert err.value.code == "not_emv"


def test_no_application() -> None:
    class Empty:
        def __call__(self, command: CommandApdu) -> ResponseApdu:
            return ResponseApdu(b"", 0x6A, 0x82)
    with pytest.raises(emv.EmvError) as err:
        emv.read_card(Empty(), TERMINAL)
    assert err.value.code == "no_application"


def test_fill_dol_pads_and_truncates() -> None:
    # 9F02 asked as 4 bytes (right-most kept), 9F66 as 6 (zero-padded right), unknown tag zeros
    dol = bytes.fromhex("9F02049F6606DF7002")
    assert emv.fill_dol(dol, TERMINAL) == bytes(4) + TERMINAL.ttq + bytes(2) + bytes(2)
    assert emv.fill_dol(bytes.fromhex("9A02"), TERMINAL) == bytes.fromhex("1123")


@pytest.mark.parametrize(("aid", "kind"), [("A000000333010101", "debit"), ("A000000333010102", "credit"),
                                           ("A000000333010103", "quasi_credit"), ("A000000333010106", "ecash"),
                                           ("A0000000031010", "unknown")])
def test_card_type_for(aid: str, kind: str) -> None:
    assert emv.card_type_for(bytes.fromhex(aid)) == kind


def test_afl_validation() -> None:
    with pytest.raises(emv.EmvError):
        emv._afl_entries(bytes.fromhex("080101"))
    with pytest.raises(emv.EmvError):
        emv._afl_entries(bytes.fromhex("08020100"))
    assert emv._afl_entries(bytes.fromhex("10010200")) == [(2, 1), (2, 2)]


SWS = [0x9000, 0x6A82, 0x6A83, 0x6985, 0x6D00, 0x6A81, 0x6283]


@settings(max_examples=400)
@given(st.lists(st.tuples(st.binary(max_size=60), st.sampled_from(SWS)), min_size=1, max_size=12),
       st.binary(max_size=40))
def test_hostile_card_answers_only_raise_driver_errors(script: list[tuple[bytes, int]], tail: bytes) -> None:
    answers = list(script)

    def transmit(command: CommandApdu) -> ResponseApdu:
        if not answers:
            return ResponseApdu(tail, 0x90, 0x00)
        data, sw = answers.pop(0)
        return ResponseApdu(data, sw >> 8, sw & 0xFF)
    try:
        emv.read_card(transmit, TERMINAL)
    except DriverError:
        pass


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=40))
def test_hostile_records_in_a_well_formed_flow(record: bytes) -> None:
    """A real card whose SFI 3 record 1 is replaced by arbitrary bytes."""
    card = SimCard()
    card.records[(3, 1)] = encode_tlv(0x70, record)
    try:
        data = emv.read_card(Recorder(card), TERMINAL)
    except DriverError:
        return
    assert data.pan.isdigit() and emv.luhn_ok(data.pan)
