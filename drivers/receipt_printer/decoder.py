"""ESC/POS stream decoder: every documented command, split off with its exact parameter length.

``decode_command(buf) -> (command | None, rest)`` is strict: it raises ``CommandError`` (a
FrameError) for an unknown command or a bad parameter, telling in ``skip`` how many bytes the
printer would discard. ``StreamDecoder`` is what a printer does with a byte stream: it never
raises, drops what it cannot use (a known command with a bad value by its documented length; an
unknown one up to the next plausible command or text byte), counts each drop, and never prints
a parameter byte as text. Lengths come from ``lengths.py``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable

from drivers.base.errors import FrameError
from drivers.receipt_printer.basic import (
    CarriageReturn,
    CodeTableCommand,
    CutCommand,
    DoubleStrikeCommand,
    EmphasizeCommand,
    FeedDotsCommand,
    FeedLinesCommand,
    FontCommand,
    HorizontalTab,
    InitializeCommand,
    JustifyCommand,
    KanjiModeCommand,
    LineFeed,
    LineSpacingCommand,
    OtherCommand,
    PaperSensorRequest,
    QrErrorCorrectionCommand,
    QrModelCommand,
    QrModuleSizeCommand,
    QrPrintCommand,
    QrStoreCommand,
    RecoverCommand,
    ReverseCommand,
    RotateCommand,
    StatusRequest,
    Text,
    UnderlineCommand,
    UpsideDownCommand,
)
from drivers.receipt_printer.constants import (
    CR,
    DLE,
    HT,
    LF,
    QR_CN,
    CutFunction,
    Justification,
    QrErrorCorrection,
    QrFunction,
    QrModel,
    RecoverRequest,
    StatusType,
)
from drivers.receipt_printer.graphics import (
    BarcodeCommand,
    BarcodeHeightCommand,
    BarcodeWidthCommand,
    BitImageCommand,
    CharacterSizeCommand,
    GraphicsCommand,
    HriFontCommand,
    HriPositionCommand,
    NvImagePrintCommand,
    PrintModeCommand,
    RasterImageCommand,
    SymbolCommand,
)
from drivers.receipt_printer.lengths import PREFIXES, RULES, SINGLE_BYTE, CommandError, command_name

Command = (InitializeCommand | EmphasizeCommand | JustifyCommand | FeedLinesCommand | CodeTableCommand
           | KanjiModeCommand | CutCommand | QrModelCommand | QrModuleSizeCommand | QrErrorCorrectionCommand
           | QrStoreCommand | QrPrintCommand | PaperSensorRequest | StatusRequest | RecoverCommand | LineFeed
           | CarriageReturn | HorizontalTab | Text | PrintModeCommand | CharacterSizeCommand | BarcodeHeightCommand
           | BarcodeWidthCommand | HriPositionCommand | HriFontCommand | BarcodeCommand | RasterImageCommand
           | UnderlineCommand | DoubleStrikeCommand | FontCommand | RotateCommand | UpsideDownCommand
           | ReverseCommand | LineSpacingCommand | FeedDotsCommand | BitImageCommand | GraphicsCommand
           | SymbolCommand | NvImagePrintCommand | OtherCommand)

_CONTROL = re.compile(rb"[\x00-\x1f]")


def _ascii(n: int, count: int) -> int:
    """Parameters that accept both n and the ASCII digit '0'+n (ESC a, ESC -, GS H, ...)."""
    return n - 0x30 if 0x30 <= n < 0x30 + count else n


def _gs_v(raw: bytes) -> Command:
    m = raw[2]
    if m in (0x00, 0x01, 0x30, 0x31):
        return CutCommand(CutFunction(m & 0x01))
    if m in (CutFunction.FEED_FULL_CUT, CutFunction.FEED_PARTIAL_CUT):
        return CutCommand(CutFunction(m), raw[3])
    return OtherCommand(raw, command_name(raw))


def _gs_k_symbol(raw: bytes) -> Command:
    cn, fn, params = raw[5], raw[6], raw[7:]
    if cn == QR_CN:
        if fn == QrFunction.SELECT_MODEL and len(params) == 2:
            if params[1] != 0:
                raise ValueError("QR model: n2 must be 0")
            return QrModelCommand(QrModel(params[0]))
        if fn == QrFunction.SET_MODULE_SIZE and len(params) == 1:
            return QrModuleSizeCommand(params[0])
        if fn == QrFunction.SET_ERROR_CORRECTION and len(params) == 1:
            return QrErrorCorrectionCommand(QrErrorCorrection(params[0]))
        if fn == QrFunction.STORE_DATA and len(params) >= 2 and params[0] == 0x30:
            return QrStoreCommand(bytes(params[1:]))
        if fn == QrFunction.PRINT_SYMBOL and params == b"\x30":
            return QrPrintCommand()
        if fn in (QrFunction.SELECT_MODEL, QrFunction.SET_MODULE_SIZE, QrFunction.SET_ERROR_CORRECTION,
                  QrFunction.STORE_DATA, QrFunction.PRINT_SYMBOL):
            raise ValueError(f"QR function {fn} with {len(params)} parameter bytes")
    return SymbolCommand(cn, fn, bytes(params))


def _gs_paren(raw: bytes) -> Command:
    if raw[2] == 0x6B:
        return _gs_k_symbol(raw)
    if raw[2] == 0x4C:
        return GraphicsCommand(raw[6], bytes(raw[7:]), raw[5])
    return OtherCommand(raw, command_name(raw))


def _raster(raw: bytes) -> Command:
    return RasterImageCommand(_ascii(raw[3], 4), raw[4] | raw[5] << 8, raw[6] | raw[7] << 8, bytes(raw[8:]))


def _barcode(raw: bytes) -> Command:
    m = raw[2]
    if m < 0x41:  # format A: NUL-terminated, m + 65 is the format B symbology
        return BarcodeCommand(m + 65, bytes(raw[3:-1]))
    return BarcodeCommand(m, bytes(raw[4:]))


def _status(raw: bytes) -> Command:
    if raw[2] in (7, 8):  # DLE EOT 7 a / 8 a: ink / peripheral status on some models
        return OtherCommand(raw, command_name(raw))
    return StatusRequest(StatusType(raw[2]))


def _paper_sensor(raw: bytes) -> Command:
    if raw[2] in (0x01, 0x31):
        return PaperSensorRequest()
    if raw[2] in (0x02, 0x32, 0x04, 0x34):  # drawer kick-out connector / ink status
        return OtherCommand(raw, command_name(raw))
    raise ValueError(f"GS r: n={raw[2]}")


#: two-byte code -> builder of the command from its complete bytes (ValueError: a bad parameter)
BUILDERS: dict[bytes, Callable[[bytes], Command]] = {
    b"\x1b@": lambda r: InitializeCommand(),
    b"\x1b!": lambda r: PrintModeCommand(r[2]),
    b"\x1bE": lambda r: EmphasizeCommand(bool(r[2] & 1)),
    b"\x1b-": lambda r: UnderlineCommand(_ascii(r[2], 3)),
    b"\x1bG": lambda r: DoubleStrikeCommand(bool(r[2] & 1)),
    b"\x1bM": lambda r: FontCommand(_ascii(r[2], 5)),
    b"\x1bV": lambda r: RotateCommand(_ascii(r[2], 3)),
    b"\x1b{": lambda r: UpsideDownCommand(bool(r[2] & 1)),
    b"\x1b2": lambda r: LineSpacingCommand(),
    b"\x1b3": lambda r: LineSpacingCommand(r[2]),
    b"\x1bJ": lambda r: FeedDotsCommand(r[2]),
    b"\x1ba": lambda r: JustifyCommand(Justification(_ascii(r[2], 3))),
    b"\x1bd": lambda r: FeedLinesCommand(r[2]),
    b"\x1bt": lambda r: CodeTableCommand(r[2]),
    b"\x1b*": lambda r: BitImageCommand(r[2], r[3] | r[4] << 8, bytes(r[5:])),
    b"\x1d!": lambda r: CharacterSizeCommand((r[2] >> 4) + 1, (r[2] & 0x0F) + 1),
    b"\x1dB": lambda r: ReverseCommand(bool(r[2] & 1)),
    b"\x1dh": lambda r: BarcodeHeightCommand(r[2]),
    b"\x1dw": lambda r: BarcodeWidthCommand(r[2]),
    b"\x1dH": lambda r: HriPositionCommand(_ascii(r[2], 4)),
    b"\x1df": lambda r: HriFontCommand(_ascii(r[2], 5)),
    b"\x1dk": _barcode,
    b"\x1dv": _raster,
    b"\x1dV": _gs_v,
    b"\x1dr": _paper_sensor,
    b"\x1d(": _gs_paren,
    b"\x1d8": lambda r: GraphicsCommand(r[8], bytes(r[9:]), r[7], extended=True),
    b"\x1c&": lambda r: KanjiModeCommand(True),
    b"\x1c.": lambda r: KanjiModeCommand(False),
    b"\x1cp": lambda r: NvImagePrintCommand(r[2], _ascii(r[3], 4)),
    b"\x10\x04": _status,
    b"\x10\x05": lambda r: RecoverCommand(RecoverRequest(r[2])),
}
_SINGLE: dict[int, Command] = {LF: LineFeed(), CR: CarriageReturn(), HT: HorizontalTab()}


def decode_command(buf: bytes) -> tuple[Command | None, bytes]:
    """Split the next command off ``buf``: ``(command, rest)``, or ``(None, buf)`` for "need more".

    Raises:
        CommandError: an unknown command or a bad parameter; ``skip`` says how much to discard.
    """
    if not buf:
        return None, buf
    head = buf[0]
    if head >= 0x20:
        found = _CONTROL.search(buf)
        end = found.start() if found else len(buf)
        return Text(bytes(buf[:end])), buf[end:]
    if head in _SINGLE:
        return _SINGLE[head], buf[1:]
    if head in SINGLE_BYTE:
        return OtherCommand(bytes(buf[:1]), SINGLE_BYTE[head]), buf[1:]
    if head not in PREFIXES:
        raise CommandError(f"unsupported control byte 0x{head:02X}", 1)
    if len(buf) < 2:
        return None, buf
    code = bytes(buf[:2])
    rule = RULES.get(code)
    if rule is None:
        # an opcode that is itself a control byte may start the next command: keep it; DLE only ever
        # prefixes real-time commands (EOT, ENQ, DC4), so a stray DLE goes alone
        skip = 2 if buf[1] >= 0x20 and head != DLE else 1
        raise CommandError(f"unknown command {command_name(code)}", skip, unknown=True)
    length = rule(buf)
    if length is None or len(buf) < length:
        return None, buf
    raw = bytes(buf[:length])
    build = BUILDERS.get(code)
    if build is None:
        return OtherCommand(raw, command_name(raw)), buf[length:]
    try:
        return build(raw), buf[length:]
    except (ValueError, IndexError) as exc:
        raise CommandError(f"{command_name(raw)}: bad parameter ({exc})", length) from None


def decode_commands(buf: bytes) -> tuple[list[Command], bytes]:
    """Every complete command in ``buf`` and the incomplete tail (CommandError propagates)."""
    out: list[Command] = []
    while buf:
        cmd, rest = decode_command(buf)
        if cmd is None:
            break
        out.append(cmd)
        buf = rest
    return out, buf


#: bytes a resync may stop at: a command prefix, a single-byte command, or text
_RESYNC_STOP = frozenset((*PREFIXES, *_SINGLE, *SINGLE_BYTE, *range(0x20, 0x100)))


class StreamDecoder:
    """A printer's view of the host stream: commands out, errors counted, never raises."""

    def __init__(self, keep_errors: int = 20) -> None:
        self._buf = b""
        #: commands or bytes the printer could not use, counted once per drop
        self.errors = 0
        #: bytes dropped by those errors
        self.dropped = 0
        self.recent_errors: deque[str] = deque(maxlen=keep_errors)

    @property
    def pending(self) -> int:
        """Bytes held for an incomplete command."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Command]:
        buf = self._buf + data
        out: list[Command] = []
        while buf:
            try:
                cmd, rest = decode_command(buf)
            except CommandError as exc:
                skip = exc.skip
                if exc.unknown:
                    while skip < len(buf) and buf[skip] not in _RESYNC_STOP:
                        skip += 1
                self._drop(str(exc), skip)
                buf = buf[skip:]
                continue
            except FrameError as exc:  # pragma: no cover - decode_command raises CommandError only
                self._drop(str(exc), 1)
                buf = buf[1:]
                continue
            if cmd is None:
                break
            out.append(cmd)
            buf = rest
        self._buf = buf
        return out

    def reset(self) -> list[str]:
        """Forget an incomplete command (DLE ENQ 2 / power cycle); returns what was dropped."""
        dropped, self._buf = self._buf, b""
        return [f"{len(dropped)} bytes of an incomplete command"] if dropped else []

    def _drop(self, why: str, count: int) -> None:
        self.errors += 1
        self.dropped += count
        self.recent_errors.append(why)
