"""What a simulated ESC/POS printer puts on paper: styled text lines, bar codes, 2D symbols, images.

``Paper.execute(cmd)`` runs one printing command against the print state (emphasis, size,
underline, justification, bar code settings, the line buffer) and appends what comes out to the
current ``Receipt``; a cut closes it. Printer state that is not about paper (faults, status,
held data) stays in ``ReceiptPrinterPeer``.

Shared settings follow the Epson reference: ESC ! bit 3 and ESC E are one emphasis setting, ESC !
bit 7 and ESC - one underline, ESC ! bits 4/5 and GS ! one character size; the last command wins.
A line takes the style in effect when its first character arrived, and the justification in
effect when it is printed (ESC a acts at the beginning of a line).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from drivers.receipt_printer.commands import (
    BarcodeCommand,
    BarcodeHeightCommand,
    BarcodeWidthCommand,
    BitImageCommand,
    CharacterSizeCommand,
    CodeTableCommand,
    Command,
    CutCommand,
    EmphasizeCommand,
    FeedDotsCommand,
    FeedLinesCommand,
    GraphicsCommand,
    HorizontalTab,
    HriPositionCommand,
    InitializeCommand,
    JustifyCommand,
    KanjiModeCommand,
    LineFeed,
    NvImagePrintCommand,
    OtherCommand,
    PrintMode,
    PrintModeCommand,
    QrPrintCommand,
    QrStoreCommand,
    RasterImageCommand,
    ReverseCommand,
    SymbolCommand,
    Text,
    UnderlineCommand,
)
from drivers.receipt_printer.constants import CODE_TABLE_CODECS
from drivers.receipt_printer.graphics import BarcodeSystem

_ALIGN = ("left", "center", "right")
_HRI = ("none", "above", "below", "both")
#: GS ( k cn -> symbol kind (Epson GS ( k: cn 48..54)
SYMBOLS = {48: "pdf417", 49: "qr", 50: "maxicode", 51: "gs1_databar", 52: "composite", 53: "aztec",
           54: "datamatrix"}
#: GS ( k fn 80 stores symbol data (m = 48 first), fn 81 prints it, for every cn above
_STORE, _PRINT = 80, 81


@dataclass
class PrintedLine:
    text: str
    bold: bool = False
    align: str = "left"
    #: character width / height multipliers (ESC ! double width / height, GS !)
    width: int = 1
    height: int = 1
    #: 0 none, 1 or 2 dots thick
    underline: int = 0
    reverse: bool = False


@dataclass
class PrintedBarcode:
    symbology: str
    data: str
    #: where the human-readable interpretation is printed: none / above / below / both
    hri: str = "none"
    height: int = 162
    module: int = 3
    align: str = "left"


@dataclass
class PrintedSymbol:
    """A 2D code: qr, pdf417, datamatrix ..."""

    kind: str
    data: str
    align: str = "left"


@dataclass
class PrintedImage:
    """A bit image in dots: raster (GS v 0), graphics (GS ( L), column (ESC *) or an NV logo."""

    width: int
    height: int
    source: str = "raster"
    align: str = "left"
    #: the key or number of an NV logo (its size is in the printer's NV memory)
    key: str = ""


Printed = PrintedLine | PrintedBarcode | PrintedSymbol | PrintedImage


@dataclass
class Receipt:
    """What came out between two cuts, in order."""

    items: list[Printed] = field(default_factory=list)
    #: "partial" / "full" once cut; None while still on the roll
    cut: str | None = None

    @property
    def lines(self) -> list[PrintedLine]:
        return [i for i in self.items if isinstance(i, PrintedLine)]

    @property
    def text(self) -> list[str]:
        return [line.text for line in self.lines]

    @property
    def qr(self) -> list[str]:
        return [i.data for i in self.items if isinstance(i, PrintedSymbol) and i.kind == "qr"]

    @property
    def barcodes(self) -> list[PrintedBarcode]:
        return [i for i in self.items if isinstance(i, PrintedBarcode)]

    @property
    def symbols(self) -> list[PrintedSymbol]:
        return [i for i in self.items if isinstance(i, PrintedSymbol)]

    @property
    def images(self) -> list[PrintedImage]:
        return [i for i in self.items if isinstance(i, PrintedImage)]

    def to_dict(self) -> dict[str, Any]:
        return {"cut": self.cut, "items": [{"type": _KIND[type(i)], **asdict(i)} for i in self.items]}


_KIND: dict[type, str] = {PrintedLine: "text", PrintedBarcode: "barcode", PrintedSymbol: "symbol",
                          PrintedImage: "image"}


class Paper:
    """The print state and the receipts it produced."""

    def __init__(self, kanji_default: bool = True) -> None:
        self._kanji_default = kanji_default
        self.current = Receipt()
        self.receipts: list[Receipt] = []
        self.initialize()

    def initialize(self) -> None:
        """ESC @: every setting back to its power-on value, the line buffer cleared."""
        self.kanji = self._kanji_default
        self.code_table = 0
        self.bold = False
        self.underline = 0
        self.width = self.height = 1
        self.reverse = False
        self.align = 0
        self.barcode_height, self.barcode_module, self.hri = 162, 3, 0
        self._symbol_data: dict[int, bytes] = {}
        self._graphic: tuple[int, int] | None = None
        self.clear_line()

    @property
    def codec(self) -> str:
        return "gb18030" if self.kanji else CODE_TABLE_CODECS.get(self.code_table, "cp437")

    def clear_line(self) -> None:
        #: the line buffer: (codec, bytes) runs, decoded at print time (a run may end mid-character)
        self._line: list[tuple[str, bytes]] = []
        self._line_style: PrintedLine | None = None
        self._column: PrintedImage | None = None

    def execute(self, cmd: Command) -> None:
        if is_cut(cmd):
            self.cut(cmd)  # type: ignore[arg-type]
            return
        handler = _HANDLERS.get(type(cmd))
        if handler is not None:
            handler(self, cmd)

    # -- text -------------------------------------------------------------------------------
    def _text(self, cmd: Text | HorizontalTab) -> None:
        if self._line_style is None:
            self._line_style = PrintedLine("", self.bold, "left", self.width, self.height, self.underline,
                                           self.reverse)
        data = cmd.data if isinstance(cmd, Text) else b"\t"
        if self._line and self._line[-1][0] == self.codec:
            self._line[-1] = (self.codec, self._line[-1][1] + data)
        else:
            self._line.append((self.codec, data))

    def print_line(self, *, force: bool = True) -> None:
        """LF (force): print the buffer, an empty line if there is nothing; else only pending text."""
        if self._column is not None and not self._line:
            self._column = None  # the LF that ends a column-image stripe prints the stripe, no text line
            return
        if not self._line and not force:
            return
        style = self._line_style or PrintedLine("", self.bold, "left", self.width, self.height, self.underline,
                                                self.reverse)
        style.text = "".join(data.decode(codec, errors="replace") for codec, data in self._line)
        style.align = _ALIGN[self.align]
        self.current.items.append(style)
        self.clear_line()

    def cut(self, cmd: CutCommand | OtherCommand) -> None:
        self.print_line(force=False)
        self.current.cut = "partial" if is_cut(cmd) == "partial" else "full"
        self.receipts.append(self.current)
        self.current = Receipt()

    def _print_mode(self, cmd: PrintModeCommand) -> None:
        self.bold = cmd.bold
        self.underline = 1 if cmd.underline else 0
        self.width = 2 if cmd.mode & PrintMode.DOUBLE_WIDTH else 1
        self.height = 2 if cmd.mode & PrintMode.DOUBLE_HEIGHT else 1

    # -- bar codes, symbols, images -----------------------------------------------------------
    def _emit(self, item: Printed) -> None:
        self.print_line(force=False)
        self.current.items.append(item)

    def _barcode(self, cmd: BarcodeCommand) -> None:
        self._emit(PrintedBarcode(BarcodeSystem(cmd.system).name, cmd.data.decode("latin-1"), _HRI[self.hri],
                                  self.barcode_height, self.barcode_module, _ALIGN[self.align]))

    def _symbol(self, cn: int, fn: int, params: bytes) -> None:
        if fn == _STORE and params[:1] == b"\x30":
            self._symbol_data[cn] = params[1:]
        elif fn == _PRINT and cn in self._symbol_data:
            data = self._symbol_data[cn].decode("utf-8", errors="replace")
            self._emit(PrintedSymbol(SYMBOLS.get(cn, f"cn{cn}"), data, _ALIGN[self.align]))

    def _graphics(self, cmd: GraphicsCommand) -> None:
        if cmd.fn == 112:
            self._graphic = cmd.raster_size()
        elif cmd.fn == 50 and self._graphic is not None:
            self._emit(PrintedImage(*self._graphic, "graphics", _ALIGN[self.align]))
            self._graphic = None
        elif cmd.fn == 69 and len(cmd.params) >= 2:
            self._emit(PrintedImage(0, 0, "nv", _ALIGN[self.align], cmd.params[:2].decode("latin-1")))

    def _column_image(self, cmd: BitImageCommand) -> None:
        """ESC * stripes, each ended by LF, stack into one image while nothing else is printed."""
        last = self.current.items[-1] if self.current.items else None
        if (self._column is None and not self._line and isinstance(last, PrintedImage)
                and last.source == "column" and last.width == cmd.width):
            last.height += cmd.height
            self._column = last
            return
        self.print_line(force=False)
        self._column = PrintedImage(cmd.width, cmd.height, "column", _ALIGN[self.align])
        self.current.items.append(self._column)


def is_cut(cmd: Command) -> str | None:
    """"full" / "partial" for GS V and the obsolete ESC i / ESC m partial cuts, None otherwise."""
    if isinstance(cmd, CutCommand):
        return "partial" if cmd.partial else "full"
    if isinstance(cmd, OtherCommand) and cmd.data in (b"\x1bi", b"\x1bm"):
        return "partial"
    return None


def _set(attr: str, value: Any) -> Any:
    return lambda paper, cmd: setattr(paper, attr, value(cmd))


_HANDLERS: dict[type, Any] = {
    Text: Paper._text,
    HorizontalTab: Paper._text,
    LineFeed: lambda p, c: p.print_line(),
    FeedLinesCommand: lambda p, c: p.print_line(force=False),
    FeedDotsCommand: lambda p, c: p.print_line(force=False),
    InitializeCommand: lambda p, c: p.initialize(),
    EmphasizeCommand: _set("bold", lambda c: c.on),
    PrintModeCommand: Paper._print_mode,
    UnderlineCommand: _set("underline", lambda c: c.dots),
    CharacterSizeCommand: lambda p, c: (setattr(p, "width", c.width), setattr(p, "height", c.height)),
    ReverseCommand: _set("reverse", lambda c: c.on),
    JustifyCommand: _set("align", lambda c: int(c.justification)),
    KanjiModeCommand: _set("kanji", lambda c: c.on),
    CodeTableCommand: _set("code_table", lambda c: int(c.table)),
    BarcodeHeightCommand: _set("barcode_height", lambda c: c.dots),
    BarcodeWidthCommand: _set("barcode_module", lambda c: c.module),
    HriPositionCommand: _set("hri", lambda c: c.position),
    BarcodeCommand: Paper._barcode,
    QrStoreCommand: lambda p, c: p._symbol(49, _STORE, b"\x30" + c.data),
    QrPrintCommand: lambda p, c: p._symbol(49, _PRINT, b"\x30"),
    SymbolCommand: lambda p, c: p._symbol(c.cn, c.fn, c.params),
    RasterImageCommand: lambda p, c: p._emit(PrintedImage(c.width_dots, c.height, "raster", _ALIGN[p.align])),
    GraphicsCommand: Paper._graphics,
    BitImageCommand: Paper._column_image,
    NvImagePrintCommand: lambda p, c: p._emit(PrintedImage(0, 0, "nv", _ALIGN[p.align], str(c.number))),
}
