"""Any receipt made of blocks is a clean ESC/POS stream: the printer's decoder drops nothing, the
commands it reads back re-encode to the very same bytes, and the simulated paper shows every text
line with the style its block asked for (property-based)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.receipt_printer.barcodes import ean13_check_digit
from drivers.receipt_printer.blocks import QrBlock, TextBlock, parse_blocks
from drivers.receipt_printer.commands import StreamDecoder, Text
from drivers.receipt_printer.layout import layout
from drivers.receipt_printer.receipt import PrinterOptions, encode_all, setup_commands
from simulators.receipt_paper import Paper
from tests.support.png import b64, bitmap_png

OPTS = PrinterOptions()
ALIGNS = st.sampled_from(["left", "center", "right"])

text_blocks = st.fixed_dictionaries(
    {"type": st.just("text"), "text": st.text(st.characters(codec="gb18030", exclude_categories=("Cc", "Cs")),
                                              max_size=60)},
    optional={"bold": st.booleans(), "underline": st.booleans(), "align": ALIGNS,
              "size": st.lists(st.integers(1, 8), min_size=2, max_size=2)})
barcodes = st.one_of(
    st.text("0123456789", min_size=12, max_size=12).map(lambda d: {"symbology": "EAN13", "data": d}),
    st.text("0123456789", min_size=12, max_size=12).map(
        lambda d: {"symbology": "EAN13", "data": d + str(ean13_check_digit(d))}),
    st.text("0123456789", min_size=1, max_size=8).map(lambda d: {"symbology": "ITF", "data": d * 2}),
    st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%+-./", min_size=1, max_size=8).map(
        lambda d: {"symbology": "CODE39", "data": d}),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=20).map(
        lambda d: {"symbology": "CODE128", "data": d}),
).flatmap(lambda b: st.fixed_dictionaries(
    {"type": st.just("barcode"), **{k: st.just(v) for k, v in b.items()}},
    optional={"hri": st.sampled_from(["none", "above", "below", "both"]), "height": st.integers(1, 255),
              "align": ALIGNS}))
qr_blocks = st.fixed_dictionaries(
    {"type": st.just("qr"), "data": st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1,
                                            max_size=40)},
    optional={"module_size": st.integers(1, 16), "error_correction": st.sampled_from("LMQH"), "align": ALIGNS})
images = st.lists(st.text("#.", min_size=1, max_size=40), min_size=1, max_size=6).map(
    lambda rows: {"type": "image", "png": b64(bitmap_png([r.ljust(len(rows[0]), ".")[:len(rows[0])]
                                                          for r in rows]))})
feeds = st.integers(1, 255).map(lambda n: {"type": "feed", "lines": n})
cuts = st.sampled_from([{"type": "cut"}, {"type": "cut", "mode": "full"}])
blocks = st.lists(st.one_of(text_blocks, text_blocks, barcodes, qr_blocks, images, feeds, cuts), min_size=1,
                  max_size=12)


@settings(max_examples=80)
@given(blocks)
def test_every_receipt_decodes_cleanly_and_round_trips(raw: list[dict[str, Any]]) -> None:
    parsed = parse_blocks(raw, OPTS)
    wire = encode_all(setup_commands(OPTS) + layout(parsed).commands)
    decoder = StreamDecoder()
    # fed in uneven pieces, as a serial line delivers it
    cmds = [c for i in range(0, len(wire), 7) for c in decoder.feed(wire[i:i + 7])]
    assert (decoder.errors, decoder.pending) == (0, 0), decoder.recent_errors
    assert encode_all(cmds) == wire
    # the text comes out in order, nothing else printed as text
    printed = b"".join(c.data for c in cmds if isinstance(c, Text))
    assert printed == b"".join(p for b in parsed if isinstance(b, TextBlock) for p in b.pieces)
    # on paper: each text line in its block's style; a QR code's line feed prints a plain empty line
    paper = Paper()
    for cmd in cmds:
        paper.execute(cmd)
    expected = []
    for b in parsed:
        if isinstance(b, TextBlock):
            expected += [(p.decode("gb18030"), b.bold, int(b.underline), b.width, b.height, b.align.name.lower())
                         for p in b.pieces]
        elif isinstance(b, QrBlock):
            expected.append(("", False, 0, 1, 1, b.align.name.lower()))
    lines = [ln for r in [*paper.receipts, paper.current] for ln in r.lines]
    assert [(ln.text, ln.bold, ln.underline, ln.width, ln.height, ln.align) for ln in lines] == expected
