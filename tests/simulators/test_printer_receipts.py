"""The simulated printer records a receipt whole: styled lines, bar codes, 2D symbols, images, the cut."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.receipt_printer.commands import (
    BarcodeCommand,
    BarcodeHeightCommand,
    BitImageCommand,
    CharacterSizeCommand,
    CodeTableCommand,
    CutCommand,
    EmphasizeCommand,
    GraphicsCommand,
    HriPositionCommand,
    InitializeCommand,
    JustifyCommand,
    KanjiModeCommand,
    LineFeed,
    NvImagePrintCommand,
    PrintModeCommand,
    RasterImageCommand,
    SymbolCommand,
    Text,
    UnderlineCommand,
)
from drivers.receipt_printer.constants import CutFunction, Justification
from simulators.receipt_paper import Printed
from simulators.receipt_printer import (
    PrintedBarcode,
    PrintedImage,
    PrintedLine,
    PrintedSymbol,
    Receipt,
    ReceiptPrinterPeer,
)


class Wire:
    def __init__(self, peer: ReceiptPrinterPeer) -> None:
        self.rx = b""
        peer.send = self._send

    def _send(self, data: bytes) -> None:
        self.rx += data


@pytest.fixture
def peer() -> ReceiptPrinterPeer:
    return ReceiptPrinterPeer(kanji_default=True)


def _send(peer: ReceiptPrinterPeer, *cmds: object) -> None:
    peer.feed(b"".join(c.encode() for c in cmds))  # type: ignore[attr-defined]


def test_a_receipt_with_every_kind_of_item(peer: ReceiptPrinterPeer) -> None:
    logo = GraphicsCommand(112, bytes([0x30, 1, 1, 0x31, 12, 0, 3, 0]) + bytes(6))  # 12 x 3 dots, 2 bytes a row
    _send(peer,
          InitializeCommand(), JustifyCommand(Justification.CENTER), CharacterSizeCommand(2, 3),
          Text("银行".encode("gb18030")), LineFeed(),
          CharacterSizeCommand(1, 1), JustifyCommand(Justification.LEFT), KanjiModeCommand(False),
          CodeTableCommand(16), Text("Caf\u00e9 ".encode("cp1252")), EmphasizeCommand(True),
          Text(b"5.00"), LineFeed(),  # the line keeps the style of its first character
          PrintModeCommand(0x88), Text(b"bold+ul"), LineFeed(), PrintModeCommand(0), UnderlineCommand(2),
          Text(b"no newline before the bar code"),
          BarcodeHeightCommand(80), HriPositionCommand(3), BarcodeCommand(70, b"1234567890"),
          SymbolCommand(48, 80, b"0PDF-DATA"), SymbolCommand(48, 81, b"0"),
          SymbolCommand(54, 80, b"0DM"), SymbolCommand(54, 81, b"0"),
          RasterImageCommand(1, 2, 5, bytes(10)), logo, GraphicsCommand(50),
          GraphicsCommand(69, b"K1\x01\x01"), NvImagePrintCommand(3, 0),
          BitImageCommand(0, 4, bytes(4)), LineFeed(), BitImageCommand(0, 4, bytes(4)), LineFeed(),
          Text(b"end"), CutCommand(CutFunction.FEED_PARTIAL_CUT, 0))
    assert peer.decode_errors == 0
    assert peer.receipts == [Receipt([
        PrintedLine("银行", align="center", width=2, height=3),
        PrintedLine("Café 5.00"),
        PrintedLine("bold+ul", bold=True, underline=1),
        PrintedLine("no newline before the bar code", underline=2),
        PrintedBarcode("ITF", "1234567890", "both", 80, 3),
        PrintedSymbol("pdf417", "PDF-DATA"),
        PrintedSymbol("datamatrix", "DM"),
        PrintedImage(16, 5, "raster"),
        PrintedImage(12, 3, "graphics"),
        PrintedImage(0, 0, "nv", key="K1"),
        PrintedImage(0, 0, "nv", key="3"),
        PrintedImage(4, 16, "column"),
        PrintedLine("end", underline=2),
    ], "partial")]


def test_status_shows_recent_receipts_and_decode_errors(peer: ReceiptPrinterPeer) -> None:
    for i in range(7):
        peer.feed(b"receipt %d\n\x1bi" % i)
    peer.feed(b"\x1b!")  # incomplete: held for more, not an error
    snap = peer.snapshot()
    assert snap["receipts"] == 7 and snap["decode_errors"] == 0
    assert [r["items"][0]["text"] for r in snap["recent_receipts"]] == [f"receipt {i}" for i in range(2, 7)]
    assert snap["recent_receipts"][0] == {"cut": "partial", "items": [
        {"type": "text", "text": "receipt 2", "bold": False, "align": "left", "width": 1, "height": 1,
         "underline": 0, "reverse": False}]}
    peer.feed(b"\x08" + b"\x1d!\x99" + b"x\n")  # ESC ! takes the BS; GS ! 0x99 is out of range
    snap = peer.snapshot()
    assert snap["decode_errors"] == 1 and snap["decode_dropped_bytes"] == 3
    assert snap["last_decode_errors"][-1].startswith("GS !: bad parameter")
    assert snap["on_the_roll"]["items"][0]["text"] == "x"


def test_held_while_paper_out_then_printed_whole(peer: ReceiptPrinterPeer) -> None:
    wire = Wire(peer)
    peer.set_fault("paper_out", True)
    _send(peer, BarcodeCommand(67, b"4006381333931"), Text(b"after"), LineFeed())
    peer.feed(b"\x1dr\x02")  # drawer status waits behind the held data, like GS r 1
    assert peer.current.items == [] and wire.rx == b""
    peer.set_fault("paper_out", False)
    assert peer.current.items == [PrintedBarcode("EAN13", "4006381333931"), PrintedLine("after")]
    assert wire.rx == b"\x00"


def test_a_jammed_cutter_fails_the_obsolete_partial_cut_too(peer: ReceiptPrinterPeer) -> None:
    with peer.lock:
        peer.cutter_jammed = True  # jams on the next cut
    peer.feed(b"a\n\x1bm" + b"b\n\x1bi")
    assert peer.failed_cuts == 1 and peer.receipts == [] and peer.current.text == ["a"] and peer.held
    peer.act("clear_jam", [])
    peer.feed(b"\x10\x05\x01")  # DLE ENQ 1: recover and go on
    assert [(r.text, r.cut) for r in peer.receipts] == [(["a", "b"], "partial")]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=8))
def test_any_bytes_never_break_the_printer(chunks: list[bytes]) -> None:
    peer = ReceiptPrinterPeer(kanji_default=False)
    for chunk in chunks:
        peer.feed(chunk)
    json.dumps(peer.snapshot(), ensure_ascii=False)  # kiosk-sim status can always show it
    for receipt in [*peer.receipts, peer.current]:
        assert all(isinstance(item, Printed) for item in receipt.items)
    for receipt in peer.receipts:
        for line in receipt.lines:
            assert not any(ord(ch) < 0x20 and ch != "\t" for ch in line.text)
