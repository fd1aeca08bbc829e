"""Blocks -> ESC/POS commands: the bytes of a receipt, with the printer's modes tracked between blocks.

Per block (Epson ESC/POS Command Reference, https://download4.epson.biz/sec_pubs/pos/reference_en/escpos/,
the pages named after each command)::

    text     [ESC a n] [ESC E n] [ESC - n] [GS ! n]  piece LF ...   only the modes that change
    barcode  <reset> ESC a n  GS H n  GS h n  GS w n  GS k m n d1..dn
    qr       <reset> ESC a n  GS ( k: model 2, module size, error correction, store, print  LF
    image    <reset> ESC a n  GS v 0 0 xL xH yL yH d1..dk
    feed     ESC d n
    cut      <reset> [ESC a 0]  GS V 65|66 0
    (end)    <reset> [ESC a 0]

<reset> turns off the text modes still on (ESC E 0, ESC - 0, GS ! 0 as needed), so a style never
leaks into a barcode's HRI line or the next receipt. Each mode has its own command (ESC E
emphasized, ESC - underline 1 dot, GS ! size), so one changes without touching the others; ESC !
would set them all at once. Barcodes and raster images honour ESC a (GS k / GS v 0:
"justification is effective"). GS k leaves the print position at the start of the line, so no LF
follows it; the QR print does need one (the shorthand has always sent it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from drivers.receipt_printer.blocks import (
    BarcodeBlock,
    Block,
    CutBlock,
    FeedBlock,
    ImageBlock,
    QrBlock,
    TextBlock,
    shorthand_blocks,
)
from drivers.receipt_printer.commands import (
    BarcodeCommand,
    BarcodeHeightCommand,
    BarcodeWidthCommand,
    CharacterSizeCommand,
    Command,
    CutCommand,
    EmphasizeCommand,
    FeedLinesCommand,
    HriPositionCommand,
    JustifyCommand,
    LineFeed,
    QrErrorCorrectionCommand,
    QrModelCommand,
    QrModuleSizeCommand,
    QrPrintCommand,
    QrStoreCommand,
    RasterImageCommand,
    Text,
    UnderlineCommand,
)
from drivers.receipt_printer.constants import Justification, QrModel
from drivers.receipt_printer.receipt import PrinterOptions, ReceiptLine


@dataclass(frozen=True, slots=True)
class _Style:
    bold: bool = False
    underline: bool = False
    width: int = 1
    height: int = 1


_PLAIN = _Style()


@dataclass(frozen=True, slots=True)
class Layout:
    """The commands of a receipt and what it holds (for the driver's result and events)."""

    commands: list[Command]
    #: printed text lines (after wrapping)
    lines: int
    barcodes: int
    qr_codes: int
    images: int
    cuts: int


class _Printer:
    """The modes the printer is in while the commands are written."""

    def __init__(self) -> None:
        self.cmds: list[Command] = []
        self.align = Justification.LEFT
        self.style = _PLAIN

    def justify(self, align: Justification, always: bool = False) -> None:
        if always or align != self.align:
            self.cmds.append(JustifyCommand(align))
            self.align = align

    def restyle(self, want: _Style) -> None:
        have = self.style
        if want.bold != have.bold:
            self.cmds.append(EmphasizeCommand(want.bold))
        if want.underline != have.underline:
            self.cmds.append(UnderlineCommand(1 if want.underline else 0))
        if (want.width, want.height) != (have.width, have.height):
            self.cmds.append(CharacterSizeCommand(want.width, want.height))
        self.style = want

    def text(self, block: TextBlock) -> None:
        self.justify(block.align)
        self.restyle(_Style(block.bold, block.underline, block.width, block.height))
        for piece in block.pieces:
            if piece:
                self.cmds.append(Text(piece))
            self.cmds.append(LineFeed())

    def graphic(self, block: BarcodeBlock | QrBlock | ImageBlock) -> None:
        self.restyle(_PLAIN)
        self.justify(block.align, always=True)
        if isinstance(block, BarcodeBlock):
            self.cmds += [HriPositionCommand(block.hri), BarcodeHeightCommand(block.height),
                          BarcodeWidthCommand(block.module_width),
                          BarcodeCommand(block.barcode.m, block.barcode.data)]
        elif isinstance(block, QrBlock):
            self.cmds += [QrModelCommand(QrModel.MODEL_2), QrModuleSizeCommand(block.module_size),
                          QrErrorCorrectionCommand(block.error_correction), QrStoreCommand(block.data),
                          QrPrintCommand(), LineFeed()]
        else:
            r = block.raster
            self.cmds.append(RasterImageCommand(0, r.width_bytes, r.height, r.data))

    def settle(self) -> None:
        """Back to plain, left-aligned text (before a cut and at the end)."""
        self.restyle(_PLAIN)
        self.justify(Justification.LEFT)


def layout(blocks: Sequence[Block]) -> Layout:
    """The commands printing ``blocks`` in order (without the setup; see receipt.setup_commands)."""
    p = _Printer()
    for block in blocks:
        if isinstance(block, TextBlock):
            p.text(block)
        elif isinstance(block, FeedBlock):
            p.cmds.append(FeedLinesCommand(block.lines))
        elif isinstance(block, CutBlock):
            p.settle()
            # GS V 65/66 with n=0 feeds the last line past the cutter, then cuts
            p.cmds.append(CutCommand(block.function, 0))
        else:
            p.graphic(block)
    p.settle()
    count = {kind: sum(isinstance(b, kind) for b in blocks) for kind in (BarcodeBlock, QrBlock, ImageBlock, CutBlock)}
    return Layout(p.cmds, sum(len(b.pieces) for b in blocks if isinstance(b, TextBlock)), count[BarcodeBlock],
                  count[QrBlock], count[ImageBlock], count[CutBlock])


def receipt_commands(lines: Sequence[ReceiptLine], qr: str | None, cut: bool,
                     options: PrinterOptions) -> tuple[list[Command], int]:
    """The shorthand (lines, a QR code, a cut): its commands and the printed line count.

    Raises:
        InvalidBlocks (a ValueError): text outside the code page, or a bad QR payload.
    """
    out = layout(shorthand_blocks(lines, qr, cut, options))
    return out.commands, out.lines
