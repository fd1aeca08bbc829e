"""ESC/POS commands: the dataclasses, their byte-exact ``encode()`` and the stream decoder.

The host sends an unframed byte stream; ``decode_command(buf) -> (command | None, rest)``
splits it into commands (tests use it to read a receipt back), ``StreamDecoder`` is what the
simulated printer runs (it never raises and counts what it drops). The pieces live in
``basic.py`` (text, style, paper, status, QR), ``graphics.py`` (character size, bar codes,
raster / column / GS ( L images, 2D symbols, NV logos), ``lengths.py`` (every documented
command's parameter length) and ``decoder.py``; this module gathers them under one name.
"""

from __future__ import annotations

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
from drivers.receipt_printer.decoder import Command, StreamDecoder, decode_command, decode_commands
from drivers.receipt_printer.graphics import (
    BarcodeCommand,
    BarcodeHeightCommand,
    BarcodeSystem,
    BarcodeWidthCommand,
    BitImageCommand,
    CharacterSizeCommand,
    GraphicsCommand,
    HriFontCommand,
    HriPosition,
    HriPositionCommand,
    NvImagePrintCommand,
    PrintMode,
    PrintModeCommand,
    RasterImageCommand,
    SymbolCommand,
)
from drivers.receipt_printer.lengths import CommandError

__all__ = [
    "BarcodeCommand", "BarcodeHeightCommand", "BarcodeSystem", "BarcodeWidthCommand", "BitImageCommand",
    "CarriageReturn", "CharacterSizeCommand", "CodeTableCommand", "Command", "CommandError", "CutCommand",
    "DoubleStrikeCommand", "EmphasizeCommand", "FeedDotsCommand", "FeedLinesCommand", "FontCommand",
    "GraphicsCommand", "HorizontalTab", "HriFontCommand", "HriPosition", "HriPositionCommand",
    "InitializeCommand", "JustifyCommand", "KanjiModeCommand", "LineFeed", "LineSpacingCommand",
    "NvImagePrintCommand", "OtherCommand", "PaperSensorRequest", "PrintMode", "PrintModeCommand",
    "QrErrorCorrectionCommand", "QrModelCommand", "QrModuleSizeCommand", "QrPrintCommand", "QrStoreCommand",
    "RasterImageCommand", "RecoverCommand", "ReverseCommand", "RotateCommand", "StatusRequest", "StreamDecoder",
    "SymbolCommand", "Text", "UnderlineCommand", "UpsideDownCommand", "decode_command", "decode_commands",
]
