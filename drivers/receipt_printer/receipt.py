"""Receipt basics: printer options, the ``lines`` shorthand, wrapping by display width, code pages.

Pure. The print request's blocks are checked in blocks.py and turned into commands in layout.py.
Chinese receipts use GB18030 in Kanji mode (FS &); a CJK character is two columns wide on the
paper, so lines wrap by display width.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drivers.receipt_printer.commands import (
    CodeTableCommand,
    Command,
    InitializeCommand,
    KanjiModeCommand,
)
from drivers.receipt_printer.constants import (
    CharacterCodeTable,
    CutFunction,
    Justification,
    QrErrorCorrection,
)

#: code page option -> (Python codec, Kanji mode, ESC t table)
CODE_PAGES: dict[str, tuple[str, bool, CharacterCodeTable]] = {
    "gb18030": ("gb18030", True, CharacterCodeTable.PC437),
    "cp437": ("cp437", False, CharacterCodeTable.PC437),
    "cp850": ("cp850", False, CharacterCodeTable.PC850),
    "cp1252": ("cp1252", False, CharacterCodeTable.WPC1252),
}
CUT_MODES = {"partial": CutFunction.FEED_PARTIAL_CUT, "full": CutFunction.FEED_FULL_CUT}
ALIGN = {"left": Justification.LEFT, "center": Justification.CENTER, "right": Justification.RIGHT}
MAX_LINES = 500
#: font A is 12 x 24 dots (Epson ESC ! / ESC M: font A 12 x 24), so 48 columns span 576 dots
FONT_A_DOTS = 12


def _int_in(lo: int, hi: int) -> Callable[[Any], bool]:
    return lambda v: not isinstance(v, bool) and isinstance(v, int) and lo <= v <= hi


def _number_in(lo: float, hi: float) -> Callable[[Any], bool]:
    return lambda v: not isinstance(v, bool) and isinstance(v, int | float) and lo <= v <= hi


#: option -> (accepts the value, what it must be)
OPTION_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "code_page": (lambda v: v in CODE_PAGES, f"must be one of {', '.join(sorted(CODE_PAGES))}"),
    "width_chars": (_int_in(16, 96), "must be an integer 16..96"),
    "qr_module_size": (_int_in(1, 16), "must be an integer 1..16"),
    "qr_error_correction": (lambda v: v in QrErrorCorrection.__members__, "must be one of L, M, Q, H"),
    "cut_mode": (lambda v: v in CUT_MODES, "must be 'partial' or 'full'"),
    "print_timeout_s": (_number_in(0.5, 120), "must be a number 0.5..120"),
    "dot_width": (_int_in(96, 2048), "must be an integer 96..2048 (58 mm: 384, 80 mm: 576)"),
}


@dataclass(frozen=True, slots=True)
class PrinterOptions:
    """``[devices.NAME.options]`` of a receipt printer."""

    code_page: str = "gb18030"
    #: characters per line in the font in use (58 mm: 32, 80 mm: 48)
    width_chars: int = 48
    qr_module_size: int = 6
    qr_error_correction: str = "M"
    cut_mode: str = "partial"
    #: how long the printer may take to print a receipt before the GS r barrier answers
    print_timeout_s: float = 10.0
    #: printable dots per line (58 mm: 384, 80 mm: 576); unset: width_chars x 12, font A's cell width
    dot_width: int | None = None

    @property
    def print_width_dots(self) -> int:
        """How wide an image or barcode may be: ``dot_width``, else ``width_chars`` font A cells of 12 dots."""
        return self.dot_width if self.dot_width is not None else self.width_chars * FONT_A_DOTS

    @classmethod
    def problems(cls, options: Mapping[str, Any]) -> list[str]:
        """One message per bad key, in the table's order: ``"key: must be ..., got value"``."""
        out: list[str] = []
        for key, value in options.items():
            if key in OPTION_CHECKS:
                out += cls.value_problems({key: value})
            else:
                out.append(f"{key}: unknown option for receipt_printer")
        return out

    @staticmethod
    def value_problems(options: Mapping[str, Any]) -> list[str]:
        """The problems with the values of known keys (unknown keys are not looked at)."""
        return [f"{key}: {OPTION_CHECKS[key][1]}, got {value!r}" for key, value in options.items()
                if key in OPTION_CHECKS and not OPTION_CHECKS[key][0](value)]

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> PrinterOptions:
        """Raises ValueError listing every problem."""
        problems = cls.problems(options)
        if problems:
            raise ValueError("; ".join(problems))
        return cls(**dict(options))


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    text: str
    bold: bool = False
    align: str = "left"


def display_width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def wrap(text: str, width: int) -> list[str]:
    """Split ``text`` into pieces no wider than ``width`` columns (CJK counts two)."""
    if not text:
        return [""]
    out: list[str] = []
    cur, used = "", 0
    for ch in text:
        w = display_width(ch)
        if used + w > width and cur:
            out.append(cur)
            cur, used = "", 0
        cur += ch
        used += w
    out.append(cur)
    return out


def _check_text(text: str, what: str) -> None:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError(f"{what} must not contain control characters")


def parse_lines(raw: Any) -> list[ReceiptLine]:
    """``lines`` from the print request: strings, or objects ``{"text", "bold", "align"}``.

    Raises:
        TypeError / ValueError: a malformed request (the API answers 422).
    """
    if not isinstance(raw, list):
        raise TypeError("lines must be a list")
    if len(raw) > MAX_LINES:
        raise ValueError(f"at most {MAX_LINES} lines per receipt")
    out: list[ReceiptLine] = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            line = ReceiptLine(item)
        elif isinstance(item, Mapping):
            unknown = set(item) - {"text", "bold", "align"}
            if unknown:
                raise ValueError(f"lines[{i}]: unknown keys {sorted(unknown)}")
            text, bold, align = item.get("text"), item.get("bold", False), item.get("align", "left")
            if not isinstance(text, str) or not isinstance(bold, bool) or align not in ALIGN:
                raise ValueError(f"lines[{i}]: text must be a string, bold a boolean, align left|center|right")
            line = ReceiptLine(text, bold, align)
        else:
            raise TypeError(f"lines[{i}] must be a string or an object")
        _check_text(line.text, f"lines[{i}]")
        out.append(line)
    return out


def encode_text(text: str, options: PrinterOptions) -> bytes:
    """Text in the configured code page. Raises ValueError for a character it cannot print."""
    codec = CODE_PAGES[options.code_page][0]
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start:exc.end]
        raise ValueError(f"character {bad!r} is not in code page {options.code_page}") from None


def setup_commands(options: PrinterOptions) -> list[Command]:
    """ESC @ and the character setup (Kanji mode for GB18030, else ESC t and FS .)."""
    _, kanji, table = CODE_PAGES[options.code_page]
    return [InitializeCommand(), CodeTableCommand(table), KanjiModeCommand(kanji)]


def encode_all(cmds: Sequence[Command]) -> bytes:
    return b"".join(c.encode() for c in cmds)
