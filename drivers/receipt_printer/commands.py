"""ESC/POS commands as frozen dataclasses: byte-exact ``encode()`` and a stream decoder.

The host sends an unframed byte stream; ``decode_command(buf) -> (command | None, rest)``
splits it into commands (the simulator uses it to play the printer, tests use it to read a
receipt back). Layouts (Epson ESC/POS reference, protocols.md section 2)::

    ESC @                 1B 40                 Initialize printer
    ESC E n               1B 45 n               Emphasized (bold) on/off (bit 0 of n)
    ESC a n               1B 61 n               Justification 0/1/2 (or 30h..32h)
    ESC d n               1B 64 n               Print and feed n lines
    ESC t n               1B 74 n               Character code table
    FS & / FS .           1C 26 / 1C 2E         Kanji (GB18030) mode on / off
    GS V m [n]            1D 56 m [n]           Cut (m=0,1,48,49: no n; m=65,66: n follows)
    GS ( k pL pH cn fn .. 1D 28 6B pL pH ...    2D symbol; QR when cn=49 (length = pL+256*pH)
    GS r 1                1D 72 01              Transmit paper sensor status (queued, not real-time)
    DLE EOT n             10 04 n               Real-time status, n=1..4
    DLE ENQ n             10 05 n               Real-time recover, n=1..2
    LF / CR               0A / 0D
    text                  bytes >= 20h up to the next control byte

Recovery: an unknown command, a bad parameter or another control byte raises FrameError;
text is returned in whatever pieces have arrived (a piece may end inside a multi-byte
character, so callers join text bytes up to LF before decoding them).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

from drivers.base.errors import FrameError
from drivers.receipt_printer.constants import (
    CR,
    DLE,
    ENQ,
    EOT,
    ESC,
    FS,
    GS,
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
from drivers.receipt_printer.graphics import (
    BARCODE_FORMAT_A,
    BARCODE_FORMAT_B,
    BARCODE_MODULES,
    FORMAT_A_OFFSET,
    HRI_FONTS,
    BarcodeCommand,
    BarcodeHeightCommand,
    BarcodeWidthCommand,
    CharacterSizeCommand,
    HriFontCommand,
    HriPositionCommand,
    PrintModeCommand,
    RasterImageCommand,
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
    table: CharacterCodeTable

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


Command = (InitializeCommand | EmphasizeCommand | JustifyCommand | FeedLinesCommand | CodeTableCommand
           | KanjiModeCommand | CutCommand | QrModelCommand | QrModuleSizeCommand | QrErrorCorrectionCommand
           | QrStoreCommand | QrPrintCommand | PaperSensorRequest | StatusRequest | RecoverCommand | LineFeed
           | CarriageReturn | Text | PrintModeCommand | CharacterSizeCommand | BarcodeHeightCommand
           | BarcodeWidthCommand | HriPositionCommand | HriFontCommand | BarcodeCommand | RasterImageCommand)


def _gs_k(body: bytes) -> bytes:
    """GS ( k pL pH cn <body>: the length pL + 256*pH counts cn and the body."""
    length = len(body) + 1
    return bytes([GS, 0x28, 0x6B, length & 0xFF, length >> 8, QR_CN]) + body


E = TypeVar("E", bound=IntEnum)


def _enum(cls: type[E], value: int, what: str) -> E:
    try:
        return cls(value)
    except ValueError:
        raise FrameError(f"{what}: bad parameter 0x{value:02X}") from None


def _decode_esc(buf: bytes) -> tuple[Command | None, bytes]:
    if len(buf) < 2:
        return None, buf
    op = buf[1]
    if op == 0x40:
        return InitializeCommand(), buf[2:]
    if op not in (0x21, 0x45, 0x61, 0x64, 0x74):
        raise FrameError(f"unknown command ESC 0x{op:02X}")
    if len(buf) < 3:
        return None, buf
    n, rest = buf[2], buf[3:]
    if op == 0x21:
        return PrintModeCommand(n), rest
    if op == 0x45:
        return EmphasizeCommand(bool(n & 0x01)), rest
    if op == 0x61:
        # ESC a accepts 0..2 and the ASCII digits 48..50 for the same settings
        return JustifyCommand(_enum(Justification, n - 48 if 48 <= n <= 50 else n, "ESC a")), rest
    if op == 0x64:
        return FeedLinesCommand(n), rest
    return CodeTableCommand(_enum(CharacterCodeTable, n, "ESC t")), rest


def _decode_gs_k(buf: bytes) -> tuple[Command | None, bytes]:
    if len(buf) < 5:
        return None, buf
    length = buf[3] | (buf[4] << 8)
    if not 2 <= length <= QR_MAX_DATA + 3:
        raise FrameError(f"GS ( k: length {length} out of range")
    if len(buf) >= 6 and buf[5] != QR_CN:
        raise FrameError(f"GS ( k: unsupported symbol cn=0x{buf[5]:02X}")
    end = 5 + length
    if len(buf) < end:
        return None, buf
    fn, params, rest = buf[6], buf[7:end], buf[end:]
    if fn == QrFunction.SELECT_MODEL and len(params) == 2 and params[1] == 0:
        return QrModelCommand(_enum(QrModel, params[0], "QR model")), rest
    if fn == QrFunction.SET_MODULE_SIZE and len(params) == 1 and 1 <= params[0] <= 16:
        return QrModuleSizeCommand(params[0]), rest
    if fn == QrFunction.SET_ERROR_CORRECTION and len(params) == 1:
        return QrErrorCorrectionCommand(_enum(QrErrorCorrection, params[0], "QR level")), rest
    if fn == QrFunction.STORE_DATA and len(params) >= 2 and params[0] == 0x30:
        return QrStoreCommand(bytes(params[1:])), rest
    if fn == QrFunction.PRINT_SYMBOL and len(params) == 1 and params[0] == 0x30:
        return QrPrintCommand(), rest
    raise FrameError(f"GS ( k: unsupported QR function 0x{fn:02X} with {len(params)} parameter bytes")


def _decode_gs(buf: bytes) -> tuple[Command | None, bytes]:
    if len(buf) < 2:
        return None, buf
    op = buf[1]
    if op == 0x56:
        if len(buf) < 3:
            return None, buf
        m = buf[2]
        if m in (0x00, 0x01, 0x30, 0x31):
            return CutCommand(CutFunction(m & 0x01)), buf[3:]
        if m in (CutFunction.FEED_FULL_CUT, CutFunction.FEED_PARTIAL_CUT):
            if len(buf) < 4:
                return None, buf
            return CutCommand(CutFunction(m), buf[3]), buf[4:]
        raise FrameError(f"GS V: bad mode 0x{m:02X}")
    if op == 0x72:
        if len(buf) < 3:
            return None, buf
        if buf[2] not in (0x01, 0x31):
            raise FrameError(f"GS r: unsupported n=0x{buf[2]:02X}")
        return PaperSensorRequest(), buf[3:]
    if op == 0x28:
        if len(buf) < 3:
            return None, buf
        if buf[2] != 0x6B:
            raise FrameError(f"unknown command GS ( 0x{buf[2]:02X}")
        return _decode_gs_k(buf)
    if op == 0x6B:
        return _decode_gs_barcode(buf)
    if op == 0x76:
        return _decode_gs_raster(buf)
    if op in (0x21, 0x48, 0x66, 0x68, 0x77):
        if len(buf) < 3:
            return None, buf
        return _gs_setting(op, buf[2]), buf[3:]
    raise FrameError(f"unknown command GS 0x{op:02X}")


def _gs_setting(op: int, n: int) -> Command:
    if op == 0x21:
        if n & 0x88:
            raise FrameError(f"GS !: bad size 0x{n:02X}")
        return CharacterSizeCommand((n >> 4) + 1, (n & 0x0F) + 1)
    if op == 0x48:
        if n not in (0, 1, 2, 3, 48, 49, 50, 51):
            raise FrameError(f"GS H: bad position 0x{n:02X}")
        return HriPositionCommand(n & 0x03)
    if op == 0x66:
        font = n - 48 if 48 <= n <= 52 else n
        if font not in HRI_FONTS:
            raise FrameError(f"GS f: bad font 0x{n:02X}")
        return HriFontCommand(font)
    if op == 0x68:
        if n == 0:
            raise FrameError("GS h: height 0")
        return BarcodeHeightCommand(n)
    if n not in BARCODE_MODULES:
        raise FrameError(f"GS w: bad module 0x{n:02X}")
    return BarcodeWidthCommand(n)


def _decode_gs_barcode(buf: bytes) -> tuple[Command | None, bytes]:
    if len(buf) < 3:
        return None, buf
    m = buf[2]
    if m in BARCODE_FORMAT_A:
        end = buf.find(0x00, 3)
        if end < 0:
            return None, buf
        if end == 3:
            raise FrameError("GS k: empty format A data")
        return BarcodeCommand(m + FORMAT_A_OFFSET, bytes(buf[3:end])), buf[end + 1:]
    if m in BARCODE_FORMAT_B:
        if len(buf) < 4 or len(buf) < 4 + buf[3]:
            return None, buf
        if buf[3] == 0:
            raise FrameError("GS k: empty format B data")
        return BarcodeCommand(m, bytes(buf[4:4 + buf[3]])), buf[4 + buf[3]:]
    raise FrameError(f"GS k: bad system 0x{m:02X}")


def _decode_gs_raster(buf: bytes) -> tuple[Command | None, bytes]:
    if len(buf) < 8:
        if len(buf) >= 3 and buf[2] != 0x30:
            raise FrameError(f"unknown command GS v 0x{buf[2]:02X}")
        return None, buf
    if buf[2] != 0x30:
        raise FrameError(f"unknown command GS v 0x{buf[2]:02X}")
    mode, x, y = buf[3], buf[4] | buf[5] << 8, buf[6] | buf[7] << 8
    end = 8 + x * y
    if len(buf) < end:
        return None, buf
    if mode not in (0, 1, 2, 3, 48, 49, 50, 51) or not x or not y:
        raise FrameError(f"GS v 0: bad mode 0x{mode:02X} or size {x}x{y}")
    return RasterImageCommand(mode & 0x03, x, y, bytes(buf[8:end])), buf[end:]


def _decode_dle(buf: bytes) -> tuple[Command | None, bytes]:
    if len(buf) < 3:
        if len(buf) == 2 and buf[1] not in (EOT, ENQ):
            raise FrameError(f"unknown real-time command DLE 0x{buf[1]:02X}")
        return None, buf
    if buf[1] == EOT:
        return StatusRequest(_enum(StatusType, buf[2], "DLE EOT")), buf[3:]
    if buf[1] == ENQ:
        return RecoverCommand(_enum(RecoverRequest, buf[2], "DLE ENQ")), buf[3:]
    raise FrameError(f"unknown real-time command DLE 0x{buf[1]:02X}")


def decode_command(buf: bytes) -> tuple[Command | None, bytes]:
    """Split the next command off ``buf``: ``(command, rest)``, or ``(None, buf)`` for "need more".

    Raises:
        FrameError: an unknown command, a bad parameter or an unsupported control byte.
    """
    if not buf:
        return None, buf
    head = buf[0]
    if head >= 0x20:
        end = next((i for i, b in enumerate(buf) if b < 0x20), len(buf))
        return Text(bytes(buf[:end])), buf[end:]
    if head == LF:
        return LineFeed(), buf[1:]
    if head == CR:
        return CarriageReturn(), buf[1:]
    if head == ESC:
        return _decode_esc(buf)
    if head == GS:
        return _decode_gs(buf)
    if head == FS:
        if len(buf) < 2:
            return None, buf
        if buf[1] in (0x26, 0x2E):
            return KanjiModeCommand(buf[1] == 0x26), buf[2:]
        raise FrameError(f"unknown command FS 0x{buf[1]:02X}")
    if head == DLE:
        return _decode_dle(buf)
    raise FrameError(f"unsupported control byte 0x{head:02X}")


def decode_commands(buf: bytes) -> tuple[list[Command], bytes]:
    """Every complete command in ``buf`` and the incomplete tail (FrameError propagates)."""
    out: list[Command] = []
    while buf:
        cmd, rest = decode_command(buf)
        if cmd is None:
            break
        out.append(cmd)
        buf = rest
    return out, buf


__all__ = [
    "BarcodeCommand", "BarcodeHeightCommand", "BarcodeWidthCommand", "CarriageReturn", "CharacterSizeCommand",
    "CodeTableCommand", "Command", "CutCommand", "EmphasizeCommand", "FeedLinesCommand", "HriFontCommand",
    "HriPositionCommand", "InitializeCommand", "JustifyCommand", "KanjiModeCommand", "LineFeed",
    "PaperSensorRequest", "PrintModeCommand", "QrErrorCorrectionCommand", "QrModelCommand", "QrModuleSizeCommand",
    "QrPrintCommand", "QrStoreCommand", "RasterImageCommand", "RecoverCommand", "StatusRequest", "Text",
    "decode_command", "decode_commands",
]
