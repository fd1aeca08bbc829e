"""Core ESC/POS commands as frozen dataclasses with byte-exact ``encode()``.

Layouts (Epson ESC/POS Command Reference, https://download4.epson.biz/sec_pubs/pos/reference_en/escpos/index.html)::

    ESC @                 1B 40                 Initialize printer
    ESC E n               1B 45 n               Emphasized (bold) on/off (bit 0 of n)
    ESC - n               1B 2D n               Underline off / 1 dot / 2 dots (0..2, 48..50)
    ESC G n               1B 47 n               Double-strike on/off (bit 0 of n)
    ESC M n               1B 4D n               Character font (0..4, 48..52, 97, 98)
    ESC V n               1B 56 n               90 degree clockwise rotation (0..2, 48..50)
    ESC { n               1B 7B n               Upside-down printing on/off (bit 0 of n)
    ESC 2 / ESC 3 n       1B 32 / 1B 33 n       Default line spacing / line spacing n dots
    ESC J n               1B 4A n               Print and feed n motion units
    GS B n                1D 42 n               White/black reverse printing on/off (bit 0 of n)
    ESC a n               1B 61 n               Justification 0/1/2 (or 30h..32h)
    ESC d n               1B 64 n               Print and feed n lines
    ESC t n               1B 74 n               Character code table
    FS & / FS .           1C 26 / 1C 2E         Kanji (GB18030) mode on / off
    GS V m [n]            1D 56 m [n]           Cut (m=0,1,48,49: no n; m=65,66: n follows)
    GS ( k pL pH cn fn .. 1D 28 6B pL pH ...    2D symbol; QR when cn=49 (length = pL+256*pH)
    GS r 1                1D 72 01              Transmit paper sensor status (queued, not real-time)
    DLE EOT n             10 04 n               Real-time status, n=1..4
    DLE ENQ n             10 05 n               Real-time recover, n=1..2
    LF / CR / HT          0A / 0D / 09
    text                  bytes >= 20h up to the next control byte

The decoder lives in ``decoder.py``; ``commands.py`` re-exports everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.receipt_printer.constants import (
    CODE_TABLES,
    CR,
    DLE,
    ENQ,
    EOT,
    ESC,
    FS,
    GS,
    HT,
    LF,
    QR_CN,
    QR_MAX_DATA,
    CharacterCodeTable,
    CutFunction,
    Justification,
    QrErrorCorrection,
    QrFunction,
    QrModel,
    RecoverRequest,
    StatusType,
)


@dataclass(frozen=True, slots=True)
class InitializeCommand:
    def encode(self) -> bytes:
        return bytes([ESC, 0x40])


@dataclass(frozen=True, slots=True)
class EmphasizeCommand:
    on: bool

    def encode(self) -> bytes:
        return bytes([ESC, 0x45, 1 if self.on else 0])


@dataclass(frozen=True, slots=True)
class JustifyCommand:
    justification: Justification

    def encode(self) -> bytes:
        return bytes([ESC, 0x61, int(self.justification)])


@dataclass(frozen=True, slots=True)
class FeedLinesCommand:
    lines: int

    def __post_init__(self) -> None:
        if not 0 <= self.lines <= 255:
            raise ValueError(f"ESC d n: n must be 0..255, got {self.lines}")

    def encode(self) -> bytes:
        return bytes([ESC, 0x64, self.lines])


@dataclass(frozen=True, slots=True)
class CodeTableCommand:
    """ESC t n: any page number the printer documents (``CharacterCodeTable`` names the usual ones)."""

    table: CharacterCodeTable | int

    def __post_init__(self) -> None:
        if self.table not in CODE_TABLES:
            raise ValueError(f"ESC t n must be 0..53 or 254..255, got {self.table}")

    def encode(self) -> bytes:
        return bytes([ESC, 0x74, int(self.table)])


@dataclass(frozen=True, slots=True)
class KanjiModeCommand:
    on: bool

    def encode(self) -> bytes:
        return bytes([FS, 0x26 if self.on else 0x2E])


@dataclass(frozen=True, slots=True)
class CutCommand:
    function: CutFunction
    #: feed amount (motion units) for function B; must be None for function A
    feed: int | None = None

    def __post_init__(self) -> None:
        needs_feed = self.function in (CutFunction.FEED_FULL_CUT, CutFunction.FEED_PARTIAL_CUT)
        if needs_feed != (self.feed is not None):
            raise ValueError(f"GS V {int(self.function)}: feed is {'required' if needs_feed else 'not allowed'}")
        if self.feed is not None and not 0 <= self.feed <= 255:
            raise ValueError(f"GS V: n must be 0..255, got {self.feed}")

    @property
    def partial(self) -> bool:
        return self.function in (CutFunction.PARTIAL_CUT, CutFunction.FEED_PARTIAL_CUT)

    def encode(self) -> bytes:
        tail = b"" if self.feed is None else bytes([self.feed])
        return bytes([GS, 0x56, int(self.function)]) + tail


@dataclass(frozen=True, slots=True)
class QrModelCommand:
    model: QrModel = QrModel.MODEL_2

    def encode(self) -> bytes:
        return _gs_k(bytes([QrFunction.SELECT_MODEL, int(self.model), 0x00]))


@dataclass(frozen=True, slots=True)
class QrModuleSizeCommand:
    dots: int

    def __post_init__(self) -> None:
        if not 1 <= self.dots <= 16:
            raise ValueError(f"QR module size must be 1..16 dots, got {self.dots}")

    def encode(self) -> bytes:
        return _gs_k(bytes([QrFunction.SET_MODULE_SIZE, self.dots]))


@dataclass(frozen=True, slots=True)
class QrErrorCorrectionCommand:
    level: QrErrorCorrection

    def encode(self) -> bytes:
        return _gs_k(bytes([QrFunction.SET_ERROR_CORRECTION, int(self.level)]))


@dataclass(frozen=True, slots=True)
class QrStoreCommand:
    data: bytes

    def __post_init__(self) -> None:
        if not 1 <= len(self.data) <= QR_MAX_DATA:
            raise ValueError(f"QR data must be 1..{QR_MAX_DATA} bytes, got {len(self.data)}")

    def encode(self) -> bytes:
        return _gs_k(bytes([QrFunction.STORE_DATA, 0x30]) + self.data)


@dataclass(frozen=True, slots=True)
class QrPrintCommand:
    def encode(self) -> bytes:
        return _gs_k(bytes([QrFunction.PRINT_SYMBOL, 0x30]))


@dataclass(frozen=True, slots=True)
class PaperSensorRequest:
    """GS r 1 (queued behind print data, unlike DLE EOT)."""

    def encode(self) -> bytes:
        return bytes([GS, 0x72, 0x01])


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """DLE EOT n."""

    n: StatusType

    def encode(self) -> bytes:
        return bytes([DLE, EOT, int(self.n)])


@dataclass(frozen=True, slots=True)
class RecoverCommand:
    """DLE ENQ n."""

    n: RecoverRequest

    def encode(self) -> bytes:
        return bytes([DLE, ENQ, int(self.n)])


@dataclass(frozen=True, slots=True)
class HorizontalTab:
    def encode(self) -> bytes:
        return bytes([HT])


@dataclass(frozen=True, slots=True)
class LineFeed:
    def encode(self) -> bytes:
        return bytes([LF])


@dataclass(frozen=True, slots=True)
class CarriageReturn:
    def encode(self) -> bytes:
        return bytes([CR])


@dataclass(frozen=True, slots=True)
class Text:
    """Printable bytes in the current code page (never contains a control byte)."""

    data: bytes

    def __post_init__(self) -> None:
        if not self.data or min(self.data) < 0x20:
            raise ValueError("text must be non-empty and free of control bytes")

    def encode(self) -> bytes:
        return self.data


def _gs_k(body: bytes) -> bytes:
    """GS ( k pL pH cn <body>: the length pL + 256*pH counts cn and the body."""
    length = len(body) + 1
    return bytes([GS, 0x28, 0x6B, length & 0xFF, length >> 8, QR_CN]) + body


def _check(value: int, allowed: frozenset[int] | range, what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what}: parameter {value} is out of range")


@dataclass(frozen=True, slots=True)
class UnderlineCommand:
    """ESC - n: 0 off, 1 one dot, 2 two dots (the decoder maps 48..50 to 0..2)."""

    dots: int

    def __post_init__(self) -> None:
        _check(self.dots, range(3), "ESC -")

    def encode(self) -> bytes:
        return bytes([ESC, 0x2D, self.dots])


@dataclass(frozen=True, slots=True)
class DoubleStrikeCommand:
    """ESC G n (bit 0)."""

    on: bool

    def encode(self) -> bytes:
        return bytes([ESC, 0x47, 1 if self.on else 0])


@dataclass(frozen=True, slots=True)
class FontCommand:
    """ESC M n: font A..E (0..4) or the special fonts A/B (97, 98); the decoder maps 48..52."""

    font: int

    def __post_init__(self) -> None:
        _check(self.font, FONTS, "ESC M")

    def encode(self) -> bytes:
        return bytes([ESC, 0x4D, self.font])


@dataclass(frozen=True, slots=True)
class RotateCommand:
    """ESC V n: 0 off, 1 on (1-dot spacing), 2 on (1.5-dot spacing); the decoder maps 48..50."""

    mode: int

    def __post_init__(self) -> None:
        _check(self.mode, range(3), "ESC V")

    def encode(self) -> bytes:
        return bytes([ESC, 0x56, self.mode])


@dataclass(frozen=True, slots=True)
class UpsideDownCommand:
    """ESC { n (bit 0)."""

    on: bool

    def encode(self) -> bytes:
        return bytes([ESC, 0x7B, 1 if self.on else 0])


@dataclass(frozen=True, slots=True)
class ReverseCommand:
    """GS B n (bit 0): white-on-black printing."""

    on: bool

    def encode(self) -> bytes:
        return bytes([GS, 0x42, 1 if self.on else 0])


@dataclass(frozen=True, slots=True)
class LineSpacingCommand:
    """ESC 2 (default spacing, ``dots`` None) or ESC 3 n (n motion units)."""

    dots: int | None = None

    def __post_init__(self) -> None:
        if self.dots is not None:
            _check(self.dots, range(256), "ESC 3")

    def encode(self) -> bytes:
        return bytes([ESC, 0x32]) if self.dots is None else bytes([ESC, 0x33, self.dots])


@dataclass(frozen=True, slots=True)
class FeedDotsCommand:
    """ESC J n: print and feed n motion units."""

    dots: int

    def __post_init__(self) -> None:
        _check(self.dots, range(256), "ESC J")

    def encode(self) -> bytes:
        return bytes([ESC, 0x4A, self.dots])


#: ESC M / GS f fonts: A..E and special fonts A, B
FONTS = frozenset((0, 1, 2, 3, 4, 97, 98))


@dataclass(frozen=True, slots=True)
class OtherCommand:
    """A documented command the printer model does not act on (ESC SP, ESC p, GS a, ...), kept whole.

    ``data`` is the complete command as it came off the wire (the decoder checked its length).
    """

    data: bytes
    name: str = ""

    def encode(self) -> bytes:
        return self.data
