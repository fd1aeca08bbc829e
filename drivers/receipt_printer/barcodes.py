"""Barcode data rules for ``GS k`` format B, and the width a barcode takes on the paper.

Pure: a symbology name and the caller's text in, the ``GS k`` data bytes (or every problem) out.
Rules per symbology (Epson ESC/POS Command Reference, "GS k: Print barcode", function B,
https://download4.epson.biz/sec_pubs/pos/reference_en/escpos/gs_lk.html)::

    m   symbology       n            d
    67  JAN13 (EAN13)   12 <= n <= 13  '0'..'9'
    69  CODE39          1 <= n <= 255  '0'..'9' 'A'..'Z' SP $ % + - . /  (start/stop '*' is added by the printer)
    70  ITF             2 <= n <= 254  '0'..'9', an even count
    73  CODE128         2 <= n <= 255  0..127; the data starts with a code set, '{B' here ('{' itself is '{{')

EAN13: 12 digits get the check digit appended here (so the printer and the HRI show all 13);
13 digits are accepted only when the 13th is the right check digit (GS1 General Specifications,
section 7.9.1, "Standard check digit calculation": weights 1,3,1,3.. from the left over the
first 12 digits; the check digit brings the sum to a multiple of 10).

Widths (for "does it fit the paper": a printer silently skips a barcode wider than its print
area): ``GS w n`` sets the module width in dots (2 <= n <= 6). EAN13 is 95 modules; CODE128 is
11 modules per symbol (start, data, check) plus a 13-module stop. CODE39 and ITF are two-width
codes: a narrow element is n dots, a wide one is the reference's thick element (0.625, 1.0, 1.25,
1.625, 1.875 mm for n = 2..6 at 0.125 mm a dot); a CODE39 character is 3 wide + 6 narrow elements
with a narrow gap between characters; an ITF digit pair is 4 wide + 6 narrow, with a 4-narrow
start and a wide+2-narrow stop.
"""

from __future__ import annotations

from dataclasses import dataclass

#: symbology name -> GS k format B m
SYMBOLOGY_M: dict[str, int] = {"EAN13": 67, "CODE39": 69, "ITF": 70, "CODE128": 73}
#: GS H n: where the human-readable interpretation is printed
HRI_POSITIONS: dict[str, int] = {"none": 0, "above": 1, "below": 2, "both": 3}
#: GS w n: module width range in dots
MODULE_WIDTHS = range(2, 7)
#: GS h n: bar height range in dots
HEIGHTS = range(1, 256)
#: GS w n -> thick element width in dots of a two-width code (see the module docstring)
_THICK_DOTS = {2: 5, 3: 8, 4: 10, 5: 13, 6: 15}
_CODE39_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%+-./")
_CODE128_SET_B = b"{B"
_MAX_N = 255


@dataclass(frozen=True, slots=True)
class BarcodeData:
    """Checked ``GS k`` data: ``m`` and the exact bytes sent after ``n``."""

    symbology: str
    m: int
    data: bytes
    #: what the HRI line reads (the EAN13 with its check digit, the CODE128 text without '{B')
    text: str


def ean13_check_digit(first12: str) -> int:
    """GS1 standard check digit of 12 digits (weights 1,3,1,3... from the left)."""
    if len(first12) != 12 or not first12.isascii() or not first12.isdigit():
        raise ValueError("EAN13 check digit needs exactly 12 digits")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return (10 - total % 10) % 10


def _digits(data: str) -> bool:
    return data.isascii() and data.isdigit()


def barcode_data(symbology: str, data: str) -> BarcodeData:
    """Check ``data`` for ``symbology`` and build its ``GS k`` bytes.

    Raises:
        ValueError: one sentence naming what is wrong (the caller prefixes the field path).
    """
    if symbology not in SYMBOLOGY_M:
        raise ValueError(f"symbology must be one of {', '.join(SYMBOLOGY_M)}, got {symbology!r}")
    m = SYMBOLOGY_M[symbology]
    if symbology == "EAN13":
        if not _digits(data) or len(data) not in (12, 13):
            raise ValueError(f"EAN13 takes 12 digits (the check digit is added) or 13, got {data!r}")
        check = ean13_check_digit(data[:12])
        if len(data) == 13 and int(data[12]) != check:
            raise ValueError(f"EAN13 check digit of {data[:12]} is {check}, got {data[12]}")
        full = data[:12] + str(check)
        return BarcodeData(symbology, m, full.encode("ascii"), full)
    if symbology == "ITF":
        if not _digits(data) or not data or len(data) % 2 or len(data) > _MAX_N - 1:
            raise ValueError(f"ITF takes an even number of digits (2..254), got {len(data)} characters: {data!r}")
        return BarcodeData(symbology, m, data.encode("ascii"), data)
    if symbology == "CODE39":
        bad = sorted({c for c in data if c not in _CODE39_CHARS})
        if bad or not 1 <= len(data) <= _MAX_N:
            detail = f"not in its character set: {''.join(bad)!r}" if bad else f"{len(data)} characters"
            raise ValueError("CODE39 takes 1..255 of 0-9, A-Z, space and $ % + - . / (upper case; '*' is the "
                             f"start/stop the printer adds); {detail}")
        return BarcodeData(symbology, m, data.encode("ascii"), data)
    bad = sorted({c for c in data if not 0x20 <= ord(c) <= 0x7E})
    if bad:
        raise ValueError(f"CODE128 takes printable ASCII (space to '~'); not allowed: {bad!r}")
    payload = _CODE128_SET_B + data.replace("{", "{{").encode("ascii")
    if not data or len(payload) > _MAX_N:
        raise ValueError(f"CODE128 takes 1..253 characters ('{{' counts twice), got {len(data)}")
    return BarcodeData(symbology, m, payload, data)


def width_dots(barcode: BarcodeData, module: int) -> int:
    """The width of the bars in dots at ``GS w module`` (quiet zones not included)."""
    if module not in _THICK_DOTS:
        raise ValueError(f"module width must be 2..6 dots, got {module}")
    thick = _THICK_DOTS[module]
    if barcode.symbology == "EAN13":
        return 95 * module
    if barcode.symbology == "CODE128":
        return (11 * (len(barcode.text) + 2) + 13) * module
    if barcode.symbology == "CODE39":
        chars = len(barcode.text) + 2  # the '*' start and stop
        return chars * (3 * thick + 6 * module) + (chars - 1) * module
    pairs = len(barcode.text) // 2
    return pairs * (4 * thick + 6 * module) + 4 * module + thick + 2 * module
