"""Barcode data rules per symbology (GS k format B), the EAN13 check digit, and barcode widths."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.receipt_printer.barcodes import barcode_data, ean13_check_digit, width_dots
from drivers.receipt_printer.commands import BarcodeCommand, decode_command

digits = st.text(alphabet="0123456789", min_size=12, max_size=12)


@pytest.mark.parametrize(("first12", "check"), [
    # GS1 General Specifications 7.9.1 worked example / the well-known 4006381333931 (both from the spec's method)
    ("400638133393", 1),
    ("590123412345", 7),   # 5901234123457, GS1's example GTIN-13
    ("000000000000", 0),
    ("978030640615", 7),   # ISBN 978-0-306-40615-7 as EAN13
])
def test_ean13_check_digit(first12: str, check: int) -> None:
    assert ean13_check_digit(first12) == check


def test_ean13_twelve_digits_get_the_check_digit_thirteen_are_verified() -> None:
    b = barcode_data("EAN13", "400638133393")
    assert (b.m, b.data, b.text) == (67, b"4006381333931", "4006381333931")
    assert barcode_data("EAN13", "4006381333931") == b
    with pytest.raises(ValueError, match="EAN13 check digit of 400638133393 is 1, got 2"):
        barcode_data("EAN13", "4006381333932")
    for bad in ("40063813339", "40063813339311", "40063813339a", "\uff14" * 12):
        with pytest.raises(ValueError, match="EAN13 takes 12 digits"):
            barcode_data("EAN13", bad)


@given(digits, st.integers(0, 9))
def test_ean13_only_the_right_check_digit_passes(first12: str, last: int) -> None:
    right = ean13_check_digit(first12)
    assert barcode_data("EAN13", first12).data == (first12 + str(right)).encode()
    if last == right:
        assert barcode_data("EAN13", first12 + str(last)).text == first12 + str(right)
    else:
        with pytest.raises(ValueError, match="check digit"):
            barcode_data("EAN13", first12 + str(last))


def test_itf_needs_an_even_number_of_digits() -> None:
    assert barcode_data("ITF", "1234").data == b"1234"
    assert barcode_data("ITF", "1234").m == 70
    for bad in ("123", "", "12a4", "1" * 256):
        with pytest.raises(ValueError, match="ITF takes an even number of digits"):
            barcode_data("ITF", bad)


def test_code39_charset() -> None:
    b = barcode_data("CODE39", "KIOSK-01 $%+./")
    assert (b.m, b.data) == (69, b"KIOSK-01 $%+./")
    for bad, shown in (("abc", "'abc'"), ("A*B", "'*'"), ("Ä", "'Ä'")):
        with pytest.raises(ValueError, match=f"not in its character set: {shown}"):
            barcode_data("CODE39", bad)
    with pytest.raises(ValueError, match="0 characters"):
        barcode_data("CODE39", "")


def test_code128_is_code_set_b_with_brace_escaped() -> None:
    b = barcode_data("CODE128", "AB{1")
    # GS k m=73: the data starts with the code set ({B = 7B 42); a literal '{' is sent as '{{'
    assert (b.m, b.data, b.text) == (73, b"{BAB{{1", "AB{1")
    assert BarcodeCommand(b.m, b.data).encode() == bytes.fromhex("1D 6B 49 07 7B 42 41 42 7B 7B 31")
    for bad in ("tab\tx", "é", "\x7f"):
        with pytest.raises(ValueError, match="printable ASCII"):
            barcode_data("CODE128", bad)
    with pytest.raises(ValueError, match=r"1\.\.253 characters"):
        barcode_data("CODE128", "x" * 254)
    assert len(barcode_data("CODE128", "x" * 253).data) == 255


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=120))
def test_code128_round_trips_through_the_codec(text: str) -> None:
    b = barcode_data("CODE128", text)
    cmd, rest = decode_command(BarcodeCommand(b.m, b.data).encode())
    assert rest == b"" and cmd == BarcodeCommand(73, b.data)
    assert cmd.data[:2] == b"{B" and cmd.data[2:].replace(b"{{", b"{").decode() == text


def test_unknown_symbology() -> None:
    with pytest.raises(ValueError, match="symbology must be one of EAN13, CODE39, ITF, CODE128"):
        barcode_data("QR", "x")


def test_widths() -> None:
    # EAN13: 95 modules; CODE128: 11 per symbol (start, data, check) + 13 (stop)
    assert width_dots(barcode_data("EAN13", "400638133393"), 2) == 190
    assert width_dots(barcode_data("CODE128", "ABCDEFGHIJ"), 2) == (11 * 12 + 13) * 2
    # CODE39 "A" + start/stop: 3 chars x (3 wide + 6 narrow) + 2 gaps; module 2 -> narrow 2, wide 5
    assert width_dots(barcode_data("CODE39", "A"), 2) == 3 * (3 * 5 + 6 * 2) + 2 * 2
    # ITF "12": one pair (4 wide + 6 narrow), start 4 narrow, stop wide + 2 narrow; module 3 -> 3 / 8
    assert width_dots(barcode_data("ITF", "12"), 3) == (4 * 8 + 6 * 3) + 4 * 3 + 8 + 2 * 3
    with pytest.raises(ValueError):
        width_dots(barcode_data("ITF", "12"), 7)
