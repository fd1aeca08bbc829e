"""Style, bar code and raster commands: byte-exact vectors both ways, round trips, bad parameters.

Vectors: Epson ESC/POS Command Reference (ESC !, GS !, GS h, GS w, GS H, GS f, GS k, GS v 0), and
python-escpos 3.1 ``src/escpos/constants.py`` (``BARCODE_TYPE_B["EAN13"] = GS k C``, ``BARCODE_TXT_BLW =
GS H 2``, ``BARCODE_FONT_B = GS f 1``, ``S_RASTER_N = GS v 0 0``) for the same bytes.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base.errors import FrameError
from drivers.receipt_printer.commands import (
    BarcodeCommand,
    BarcodeHeightCommand,
    BarcodeWidthCommand,
    CharacterSizeCommand,
    HriFontCommand,
    HriPositionCommand,
    PrintModeCommand,
    RasterImageCommand,
    decode_command,
)

VECTORS: list[tuple[str, object]] = [
    ("1b 21 00", PrintModeCommand(0)),
    ("1b 21 88", PrintModeCommand(0x88)),  # emphasized + underline
    ("1d 21 00", CharacterSizeCommand(1, 1)),
    ("1d 21 11", CharacterSizeCommand(2, 2)),
    ("1d 21 77", CharacterSizeCommand(8, 8)),
    ("1d 21 10", CharacterSizeCommand(2, 1)),  # double width only
    ("1d 68 40", BarcodeHeightCommand(64)),
    ("1d 77 03", BarcodeWidthCommand(3)),
    ("1d 48 02", HriPositionCommand(2)),
    ("1d 66 01", HriFontCommand(1)),
    ("1d 6b 43 0d 34 30 30 36 33 38 31 33 33 33 39 33 31", BarcodeCommand(67, b"4006381333931")),
    ("1d 6b 49 05 7b 42 41 42 43", BarcodeCommand(73, b"{BABC")),
    ("1d 76 30 00 01 00 02 00 ff 81", RasterImageCommand(0, 1, 2, b"\xff\x81")),
    ("1d 76 30 03 00 01 01 00" + " 00" * 256, RasterImageCommand(3, 256, 1, bytes(256))),
]


@pytest.mark.parametrize(("hexstr", "cmd"), VECTORS, ids=[v[0][:14] for v in VECTORS])
def test_vector_both_ways(hexstr: str, cmd: object) -> None:
    data = bytes.fromhex(hexstr)
    assert cmd.encode() == data  # type: ignore[attr-defined]
    assert decode_command(data + b"\n") == (cmd, b"\n")
    for cut in range(1, len(data)):
        assert decode_command(data[:cut]) == (None, data[:cut])


@pytest.mark.parametrize(("hexstr", "cmd"), [
    ("1d 6b 02 34 30 30 36 33 38 31 33 33 33 39 33 00", BarcodeCommand(67, b"400638133393")),
    ("1d 6b 04 2a 41 2a 00", BarcodeCommand(69, b"*A*")),
    ("1d 48 32", HriPositionCommand(2)),
    ("1d 48 33", HriPositionCommand(3)),
    ("1d 66 31", HriFontCommand(1)),
    ("1d 76 30 31 01 00 01 00 aa", RasterImageCommand(1, 1, 1, b"\xaa")),
])
def test_alternative_forms_normalise(hexstr: str, cmd: object) -> None:
    """Format A bar codes and the ASCII-digit parameter forms decode to the canonical command."""
    assert decode_command(bytes.fromhex(hexstr)) == (cmd, b"")


@pytest.mark.parametrize("bad", ["1d 21 08", "1d 21 80", "1d 48 04", "1d 66 05", "1d 68 00", "1d 77 07",
                                 "1d 6b 07", "1d 6b 00 00", "1d 6b 43 00", "1d 76 30 04 01 00 01 00 00",
                                 "1d 76 31"])
def test_bad_parameters_raise(bad: str) -> None:
    with pytest.raises(FrameError):
        decode_command(bytes.fromhex(bad))


def test_encoders_reject_out_of_range() -> None:
    for make in (lambda: PrintModeCommand(256), lambda: CharacterSizeCommand(9, 1), lambda: CharacterSizeCommand(1, 0),
                 lambda: BarcodeHeightCommand(0), lambda: BarcodeWidthCommand(7), lambda: HriPositionCommand(48),
                 lambda: HriFontCommand(5), lambda: BarcodeCommand(2, b"1"), lambda: BarcodeCommand(67, b""),
                 lambda: BarcodeCommand(73, bytes(256)), lambda: RasterImageCommand(0, 2, 2, b"\x00"),
                 lambda: RasterImageCommand(4, 1, 1, b"\x00")):
        with pytest.raises(ValueError):
            make()


@given(st.integers(1, 8), st.integers(1, 8))
def test_character_size_round_trips(w: int, h: int) -> None:
    cmd = CharacterSizeCommand(w, h)
    assert cmd.encode()[2] == (w - 1) << 4 | (h - 1)
    assert decode_command(cmd.encode()) == (cmd, b"")


@given(st.integers(65, 79), st.binary(min_size=1, max_size=255))
def test_barcode_round_trips(system: int, data: bytes) -> None:
    cmd = BarcodeCommand(system, data)
    assert decode_command(cmd.encode()) == (cmd, b"")


@given(st.integers(0, 3), st.integers(1, 40), st.integers(1, 40), st.data())
def test_raster_round_trips(mode: int, xb: int, y: int, draw: st.DataObject) -> None:
    cmd = RasterImageCommand(mode, xb, y, draw.draw(st.binary(min_size=xb * y, max_size=xb * y)))
    assert decode_command(cmd.encode()) == (cmd, b"")
