"""Byte-exact vectors for every command a receipt printer of this class accepts, both ways.

Layouts: Epson ESC/POS Command Reference for TM printers (each command's [Format] and [Range]);
DLE DC4 fn=2/fn=8 as in the Epson TM-T88III technical reference Ver. 10.01 p. 385 and the Tally
Dascom DT-210/230 Programming Guide V1.1; python-escpos 3.1 ``constants.py`` for the bytes it
emits (TXT_STYLE, BARCODE_TYPE_A/B, S_RASTER_N, CD_KICK_2, PANEL_BUTTON_ON, GS ( L / GS ( k
headers from ``_image_send_graphics_data`` / ``_send_2d_code_data``).
"""

from __future__ import annotations

import pytest

from drivers.receipt_printer.commands import (
    BarcodeCommand,
    BitImageCommand,
    CharacterSizeCommand,
    CodeTableCommand,
    Command,
    CommandError,
    CutCommand,
    DoubleStrikeCommand,
    EmphasizeCommand,
    FeedDotsCommand,
    FeedLinesCommand,
    FontCommand,
    GraphicsCommand,
    HorizontalTab,
    InitializeCommand,
    JustifyCommand,
    KanjiModeCommand,
    LineSpacingCommand,
    NvImagePrintCommand,
    OtherCommand,
    PaperSensorRequest,
    PrintModeCommand,
    QrStoreCommand,
    RasterImageCommand,
    RecoverCommand,
    ReverseCommand,
    RotateCommand,
    StatusRequest,
    SymbolCommand,
    UnderlineCommand,
    UpsideDownCommand,
    decode_command,
)
from drivers.receipt_printer.constants import CutFunction, Justification, RecoverRequest, StatusType


def other(hexstr: str, name: str) -> OtherCommand:
    return OtherCommand(bytes.fromhex(hexstr), name)


#: (hex, command, canonical): canonical vectors are also what encode() writes
VECTORS: list[tuple[str, Command, bool]] = [
    # ESC
    ("1b 40", InitializeCommand(), True),
    ("1b 21 38", PrintModeCommand(0x38), True),
    ("1b 2d 01", UnderlineCommand(1), True),
    ("1b 2d 32", UnderlineCommand(2), False),
    ("1b 45 01", EmphasizeCommand(True), True),
    ("1b 47 01", DoubleStrikeCommand(True), True),
    ("1b 4d 01", FontCommand(1), True),
    ("1b 4d 31", FontCommand(1), False),
    ("1b 56 01", RotateCommand(1), True),
    ("1b 61 31", JustifyCommand(Justification.CENTER), False),
    ("1b 64 03", FeedLinesCommand(3), True),
    ("1b 4a 40", FeedDotsCommand(64), True),
    ("1b 74 0d", CodeTableCommand(13), True),  # PC857: its parameter is CR, never a line end
    ("1b 52 0f", other("1b 52 0f", "ESC R"), True),
    ("1b 7b 01", UpsideDownCommand(True), True),
    ("1b 32", LineSpacingCommand(), True),
    ("1b 33 10", LineSpacingCommand(16), True),
    ("1b 2a 21 02 00 01 02 03 04 05 06", BitImageCommand(33, 2, bytes(range(1, 7))), True),
    ("1b 2a 00 03 00 0a 0b 0c", BitImageCommand(0, 3, b"\x0a\x0b\x0c"), True),
    ("1b 20 02", other("1b 20 02", "ESC SP"), True),
    ("1b 70 00 19 fa", other("1b 70 00 19 fa", "ESC p"), True),
    ("1b 63 35 01", other("1b 63 35 01", "ESC c"), True),
    ("1b 63 33 0f", other("1b 63 33 0f", "ESC c"), True),
    ("1b 3d 01", other("1b 3d 01", "ESC ="), True),
    ("1b 24 10 00", other("1b 24 10 00", "ESC $"), True),
    ("1b 5c f0 ff", other("1b 5c f0 ff", "ESC \\"), True),
    ("1b 57 00 00 00 00 00 02 00 01", other("1b 57 00 00 00 00 00 02 00 01", "ESC W"), True),
    ("1b 44 08 10 18 00", other("1b 44 08 10 18 00", "ESC D"), True),
    ("1b 26 03 41 41 02" + " 00" * 6, other("1b 26 03 41 41 02" + "00" * 6, "ESC &"), True),
    ("1b 28 41 04 00 30 33 05 02", other("1b 28 41 04 00 30 33 05 02", "ESC ( A"), True),
    ("1b 69", other("1b 69", "ESC i"), True),
    # GS
    ("1d 21 11", CharacterSizeCommand(2, 2), True),
    ("1d 42 01", ReverseCommand(True), True),
    ("1d 6b 02 34 39 30 31 32 33 34 35 36 37 38 39 00", BarcodeCommand(67, b"490123456789"), False),
    ("1d 6b 49 05 7b 42 31 32 33", BarcodeCommand(73, b"{B123"), True),
    ("1d 4c 20 00", other("1d 4c 20 00", "GS L"), True),
    ("1d 57 00 02", other("1d 57 00 02", "GS W"), True),
    ("1d 56 42 03", CutCommand(CutFunction.FEED_PARTIAL_CUT, 3), True),
    ("1d 56 31", CutCommand(CutFunction.PARTIAL_CUT), False),
    ("1d 56 68 05", other("1d 56 68 05", "GS V"), True),  # function D: feed, cut, reverse feed
    ("1d 76 30 00 01 00 02 00 81 ff", RasterImageCommand(0, 1, 2, b"\x81\xff"), True),
    ("1d 28 6b 07 00 31 50 30 31 32 33 34", QrStoreCommand(b"1234"), True),
    ("1d 28 6b 03 00 30 41 02", SymbolCommand(48, 65, b"\x02"), True),  # PDF417 columns
    ("1d 28 6b 08 00 30 50 30 50 44 46 34 31", SymbolCommand(48, 80, b"0PDF41"), True),  # PDF417 store
    ("1d 28 6b 03 00 30 51 30", SymbolCommand(48, 81, b"0"), True),  # PDF417 print
    # GS ( L fn 112: a=48, bx=by=1, c=49 (black), x=8 y=2 dots, 1 byte per row
    ("1d 28 4c 0c 00 30 70 30 01 01 31 08 00 02 00 f0 0f",
     GraphicsCommand(112, bytes.fromhex("30 01 01 31 08 00 02 00 f0 0f")), True),
    ("1d 28 4c 02 00 30 32", GraphicsCommand(50), True),
    ("1d 28 4c 06 00 30 45 4b 31 01 01", GraphicsCommand(69, b"K1\x01\x01"), True),  # print NV logo "K1"
    ("1d 38 4c 0c 00 00 00 30 70 30 01 01 31 08 00 02 00 f0 0f",
     GraphicsCommand(112, bytes.fromhex("30 01 01 31 08 00 02 00 f0 0f"), extended=True), True),
    ("1d 28 41 02 00 00 02", other("1d 28 41 02 00 00 02", "GS ( A"), True),
    ("1d 72 01", PaperSensorRequest(), True),
    ("1d 72 02", other("1d 72 02", "GS r"), True),
    ("1d 61 0f", other("1d 61 0f", "GS a"), True),
    ("1d 49 01", other("1d 49 01", "GS I"), True),
    ("1d 2a 01 01" + " 55" * 8, other("1d 2a 01 01" + "55" * 8, "GS *"), True),
    ("1d 2f 00", other("1d 2f 00", "GS /"), True),
    ("1d 43 30 00 00", other("1d 43 30 00 00", "GS C"), True),
    ("1d 7a 30 05 05", other("1d 7a 30 05 05", "GS z"), True),
    ("1d 7c 04", other("1d 7c 04", "GS |"), True),
    # FS
    ("1c 70 01 00", NvImagePrintCommand(1, 0), True),
    ("1c 70 02 33", NvImagePrintCommand(2, 3), False),
    ("1c 26", KanjiModeCommand(True), True),
    ("1c 2e", KanjiModeCommand(False), True),
    ("1c 43 01", other("1c 43 01", "FS C"), True),
    ("1c 21 0c", other("1c 21 0c", "FS !"), True),
    ("1c 71 01 01 00 01 00" + " aa" * 8, other("1c 71 01 01 00 01 00" + "aa" * 8, "FS q"), True),
    ("1c 67 32 30 00 00 00 00 04 00", other("1c 67 32 30 00 00 00 00 04 00", "FS g"), True),
    # DLE and single bytes
    ("10 04 04", StatusRequest(StatusType.ROLL_PAPER), True),
    ("10 04 07 01", other("10 04 07 01", "DLE EOT"), True),
    ("10 05 02", RecoverCommand(RecoverRequest.RECOVER_CLEAR_BUFFERS), True),
    ("10 14 01 00 05", other("10 14 01 00 05", "DLE DC4"), True),
    ("10 14 02 01 08", other("10 14 02 01 08", "DLE DC4"), True),
    ("10 14 08 01 03 14 01 06 02 08", other("10 14 08 01 03 14 01 06 02 08", "DLE DC4"), True),
    ("09", HorizontalTab(), True),
    ("0c", other("0c", "FF (print in page mode)"), True),
]
IDS = [v[0][:20] for v in VECTORS]


@pytest.mark.parametrize(("hexstr", "cmd", "canonical"), VECTORS, ids=IDS)
def test_decodes_with_its_exact_length(hexstr: str, cmd: Command, canonical: bool) -> None:
    data = bytes.fromhex(hexstr)
    assert decode_command(data + b"\x1b@") == (cmd, b"\x1b@")
    if canonical:
        assert cmd.encode() == data
    else:
        assert len(cmd.encode()) == len(data) and decode_command(cmd.encode()) == (cmd, b"")


@pytest.mark.parametrize(("hexstr", "cmd", "canonical"), VECTORS, ids=IDS)
def test_every_proper_prefix_waits_for_more(hexstr: str, cmd: Command, canonical: bool) -> None:
    data = bytes.fromhex(hexstr)
    for cut in range(1, len(data)):
        assert decode_command(data[:cut]) == (None, data[:cut])


@pytest.mark.parametrize(("hexstr", "skip", "unknown"), [
    ("1b 61 07", 3, False),  # bad justification: the whole command goes
    ("1d 21 88", 3, False),  # size multiplier 9
    ("1d 6b 43 00", 4, False),  # empty format B bar code
    ("1d 28 6b 01 00 31", 6, False),  # GS ( k too short for cn and fn
    ("1d 28 6b 04 00 31 41 35 00", 9, False),  # QR model 53
    ("1b 2a 05 02 00", 5, False),  # ESC * mode 5: length unknown, the header goes
    ("10 04 05", 3, False),
    ("1d 76 30 00 ff ff ff ff", 8, False),  # 4 GB raster: the header goes, no waiting
    ("1b 5e", 2, True),  # unknown ESC ^
    ("1b 1d", 1, True),  # ESC then GS: the GS may start the next command
    ("10 41", 1, True),  # a stray DLE: "A" is text
    ("1d 28 58", 3, True),  # unknown GS ( X
    ("1b 63 39 00", 3, False),  # unknown ESC c sub-command
    ("07", 1, False),  # BEL is no ESC/POS command
])
def test_errors_say_how_much_the_printer_drops(hexstr: str, skip: int, unknown: bool) -> None:
    with pytest.raises(CommandError) as exc:
        decode_command(bytes.fromhex(hexstr))
    assert (exc.value.skip, exc.value.unknown) == (skip, unknown)
