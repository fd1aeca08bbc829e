"""ESC/POS character style, barcode and raster-image commands as frozen dataclasses.

Each ``encode()`` is byte-exact to the Epson ESC/POS Command Reference (Epson ESC/POS
Application Programming Guide, "ESC/POS Command Reference for TM printers"); the layouts::

    ESC ! n               1B 21 n               Select print mode(s): bit0 font B, bit3 emphasized,
                                                bit4 double height, bit5 double width, bit7 underline
    GS ! n                1D 21 n               Select character size: n = (w-1)<<4 | (h-1), w,h 1..8
    GS h n                1D 68 n               Set bar code height (dots), n = 1..255
    GS w n                1D 77 n               Set bar code width (module), n = 2..6 (1, 68..76 on some)
    GS H n                1D 48 n               Select print position of HRI characters (0..3, 48..51)
    GS f n                1D 66 n               Select font for HRI characters (0..4, 48..52, 97, 98)
    GS k m d1..dk NUL     1D 6B m .. 00         Print bar code, format A (m = 0..6)
    GS k m n d1..dn       1D 6B m n ..          Print bar code, format B (m = 65..79)
    GS v 0 m xL xH yL yH  1D 76 30 m ..         Print raster bit image, k = (xL+256xH)*(yL+256yH)

python-escpos (``src/escpos/constants.py``: ``TXT_STYLE``, ``BARCODE_TYPE_B``, ``BARCODE_HEIGHT``,
``BARCODE_WIDTH``, ``BARCODE_TXT_*``, ``BARCODE_FONT_*``, ``S_RASTER_N``) uses the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from drivers.receipt_printer.constants import ESC, FS, GS


class BarcodeSystem(IntEnum):
    """GS k format B symbology m (format A m is this value minus 65 for 65..71)."""

    UPC_A = 65
    UPC_E = 66
    EAN13 = 67
    EAN8 = 68
    CODE39 = 69
    ITF = 70
    CODABAR = 71
    CODE93 = 72
    CODE128 = 73
    GS1_128 = 74
    GS1_DATABAR_OMNI = 75
    GS1_DATABAR_TRUNCATED = 76
    GS1_DATABAR_LIMITED = 77
    GS1_DATABAR_EXPANDED = 78
    CODE128_AUTO = 79


#: format A m values (0..6) -> format B m (65..71)
FORMAT_A_OFFSET = 65
#: valid GS k format A / format B m values
BARCODE_FORMAT_A = range(0, 7)
BARCODE_FORMAT_B = range(65, 80)
#: GS w n: 2..6 on every TM printer; 1 and 68..76 on some models
BARCODE_MODULES = frozenset((1, 2, 3, 4, 5, 6, *range(68, 77)))
#: GS f n: fonts A..E, their ASCII forms, and the special fonts A/B
HRI_FONTS = frozenset((0, 1, 2, 3, 4, 97, 98))


class PrintMode(IntEnum):
    """ESC ! n bits."""

    FONT_B = 0x01
    EMPHASIZED = 0x08
    DOUBLE_HEIGHT = 0x10
    DOUBLE_WIDTH = 0x20
    UNDERLINE = 0x80


class HriPosition(IntEnum):
    """GS H n: where the human-readable interpretation of a bar code is printed."""

    NONE = 0
    ABOVE = 1
    BELOW = 2
    BOTH = 3


def _byte(value: int, what: str, lo: int = 0, hi: int = 255) -> None:
    if not lo <= value <= hi:
        raise ValueError(f"{what} must be {lo}..{hi}, got {value}")


@dataclass(frozen=True, slots=True)
class PrintModeCommand:
    """ESC ! n."""

    mode: int

    def __post_init__(self) -> None:
        _byte(self.mode, "ESC ! n")

    @property
    def bold(self) -> bool:
        return bool(self.mode & PrintMode.EMPHASIZED)

    @property
    def underline(self) -> bool:
        return bool(self.mode & PrintMode.UNDERLINE)

    def encode(self) -> bytes:
        return bytes([ESC, 0x21, self.mode])


@dataclass(frozen=True, slots=True)
class CharacterSizeCommand:
    """GS ! n: width and height multipliers 1..8."""

    width: int = 1
    height: int = 1

    def __post_init__(self) -> None:
        _byte(self.width, "GS ! width", 1, 8)
        _byte(self.height, "GS ! height", 1, 8)

    def encode(self) -> bytes:
        return bytes([GS, 0x21, (self.width - 1) << 4 | (self.height - 1)])


@dataclass(frozen=True, slots=True)
class BarcodeHeightCommand:
    """GS h n."""

    dots: int

    def __post_init__(self) -> None:
        _byte(self.dots, "GS h n", 1)

    def encode(self) -> bytes:
        return bytes([GS, 0x68, self.dots])


@dataclass(frozen=True, slots=True)
class BarcodeWidthCommand:
    """GS w n."""

    module: int

    def __post_init__(self) -> None:
        if self.module not in BARCODE_MODULES:
            raise ValueError(f"GS w n must be 1..6 or 68..76, got {self.module}")

    def encode(self) -> bytes:
        return bytes([GS, 0x77, self.module])


@dataclass(frozen=True, slots=True)
class HriPositionCommand:
    """GS H n: 0 none, 1 above, 2 below, 3 both (the decoder maps 48..51 to 0..3)."""

    position: int

    def __post_init__(self) -> None:
        _byte(self.position, "GS H n", 0, 3)

    def encode(self) -> bytes:
        return bytes([GS, 0x48, self.position])


@dataclass(frozen=True, slots=True)
class HriFontCommand:
    """GS f n (the decoder maps 48..52 to 0..4)."""

    font: int

    def __post_init__(self) -> None:
        if self.font not in HRI_FONTS:
            raise ValueError(f"GS f n must be 0..4, 97 or 98, got {self.font}")

    def encode(self) -> bytes:
        return bytes([GS, 0x66, self.font])


@dataclass(frozen=True, slots=True)
class BarcodeCommand:
    """GS k, always encoded in format B: m (65..79), n = len(data), data."""

    system: int
    data: bytes

    def __post_init__(self) -> None:
        if self.system not in BARCODE_FORMAT_B:
            raise ValueError(f"GS k m must be 65..79 (format B), got {self.system}")
        if not 1 <= len(self.data) <= 255:
            raise ValueError(f"GS k data must be 1..255 bytes, got {len(self.data)}")

    @property
    def symbology(self) -> str:
        return BarcodeSystem(self.system).name

    def encode(self) -> bytes:
        return bytes([GS, 0x6B, self.system, len(self.data)]) + self.data


@dataclass(frozen=True, slots=True)
class RasterImageCommand:
    """GS v 0 m xL xH yL yH d1..dk: ``width_bytes`` * 8 dots wide, ``height`` dots high.

    mode: 0 normal, 1 double width, 2 double height, 3 quadruple (the decoder maps 48..51).
    """

    mode: int
    width_bytes: int
    height: int
    data: bytes

    def __post_init__(self) -> None:
        _byte(self.mode, "GS v 0 m", 0, 3)
        _byte(self.width_bytes, "GS v 0 width (bytes)", 1, 0xFFFF)
        _byte(self.height, "GS v 0 height (dots)", 1, 0xFFFF)
        if len(self.data) != self.width_bytes * self.height:
            raise ValueError(f"GS v 0: {self.width_bytes}x{self.height} needs "
                             f"{self.width_bytes * self.height} data bytes, got {len(self.data)}")

    @property
    def width_dots(self) -> int:
        return self.width_bytes * 8

    def encode(self) -> bytes:
        x, y = self.width_bytes, self.height
        return bytes([GS, 0x76, 0x30, self.mode, x & 0xFF, x >> 8, y & 0xFF, y >> 8]) + self.data


@dataclass(frozen=True, slots=True)
class BitImageCommand:
    """ESC * m nL nH d1..dk: one column-format stripe, ``width`` dots wide.

    m = 0, 1: 8 dots high (k = width); m = 32, 33: 24 dots high (k = 3 * width).
    """

    mode: int
    width: int
    data: bytes

    def __post_init__(self) -> None:
        if self.mode not in BIT_IMAGE_MODES:
            raise ValueError(f"ESC * m must be 0, 1, 32 or 33, got {self.mode}")
        _byte(self.width, "ESC * width (dots)", 1, 0xFFFF)
        if len(self.data) != self.width * self.bytes_per_column:
            raise ValueError(f"ESC *: {self.width} columns need {self.width * self.bytes_per_column} bytes")

    @property
    def bytes_per_column(self) -> int:
        return 3 if self.mode >= 32 else 1

    @property
    def height(self) -> int:
        return 8 * self.bytes_per_column

    def encode(self) -> bytes:
        return bytes([ESC, 0x2A, self.mode, self.width & 0xFF, self.width >> 8]) + self.data


#: ESC * m: 8-dot single / double density, 24-dot single / double density
BIT_IMAGE_MODES = frozenset((0, 1, 32, 33))


@dataclass(frozen=True, slots=True)
class GraphicsCommand:
    """GS ( L pL pH m fn [params] (or GS 8 L p1..p4 m fn [params] when ``extended``): graphics / NV logos.

    fn 112 stores a raster graphic (a bx by c xL xH yL yH d1..dk, k = ceil(x/8) * y), fn 50 prints
    it; fn 69 prints an NV graphic (kc1 kc2 x y); the other functions define, erase and list them.
    """

    fn: int
    params: bytes = b""
    m: int = 0x30
    extended: bool = False

    def encode(self) -> bytes:
        length = len(self.params) + 2
        if self.extended:
            head = bytes([GS, 0x38, 0x4C]) + length.to_bytes(4, "little")
        else:
            if length > 0xFFFF:
                raise ValueError("GS ( L: more than 65535 bytes, use extended (GS 8 L)")
            head = bytes([GS, 0x28, 0x4C, length & 0xFF, length >> 8])
        return head + bytes([self.m, self.fn]) + self.params

    def raster_size(self) -> tuple[int, int] | None:
        """(width, height) in dots of a fn 112 raster graphic, None otherwise or when malformed."""
        p = self.params
        if self.fn != 112 or len(p) < 8:
            return None
        x, y = p[4] | p[5] << 8, p[6] | p[7] << 8
        return (x, y) if len(p) >= 8 + (x + 7) // 8 * y else None


@dataclass(frozen=True, slots=True)
class SymbolCommand:
    """GS ( k pL pH cn fn [params] for a 2D symbol function with no class of its own.

    cn: 48 PDF417, 49 QR Code, 50 MaxiCode, 51 GS1 DataBar, 52 composite, 53 Aztec, 54 DataMatrix.
    fn 80 (cn 48..54: 65 + 15) stores data ("m" = 48 first), fn 81 prints the stored symbol.
    """

    cn: int
    fn: int
    params: bytes = b""

    def encode(self) -> bytes:
        length = len(self.params) + 2
        if length > 0xFFFF:
            raise ValueError("GS ( k: more than 65535 bytes")
        return bytes([GS, 0x28, 0x6B, length & 0xFF, length >> 8, self.cn, self.fn]) + self.params


@dataclass(frozen=True, slots=True)
class NvImagePrintCommand:
    """FS p n m: print NV bit image n (1..255) in mode m (0..3, 48..51)."""

    number: int
    mode: int = 0

    def __post_init__(self) -> None:
        _byte(self.number, "FS p n", 1)
        _byte(self.mode, "FS p m", 0, 3)

    def encode(self) -> bytes:
        return bytes([FS, 0x70, self.number, self.mode])
