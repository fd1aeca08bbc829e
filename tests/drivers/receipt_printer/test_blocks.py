"""Print blocks: every problem named by its path, and the exact bytes of each block kind.

The expected bytes are written out by hand from the Epson ESC/POS Command Reference
(https://download4.epson.biz/sec_pubs/pos/reference_en/escpos/: ESC a "select justification",
ESC E "emphasized", ESC - "underline mode" (n = 1: one dot), GS ! "select
character size" (n = (w-1)*16 + (h-1)), GS H "HRI position", GS h "bar code height", GS w "bar
code width", GS k "print bar code" function B (m = 67 JAN13, 69 CODE39, 70 ITF, 73 CODE128, then
n, then the data), GS ( k QR <Functions 165/167/169/180/181>, GS v 0 "print raster bit image",
ESC d "print and feed n lines", GS V "cut" function B), never produced by our encoder.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.receipt_printer.blocks import InvalidBlocks, parse_blocks, print_request
from drivers.receipt_printer.layout import layout
from drivers.receipt_printer.receipt import PrinterOptions, encode_all
from tests.support.png import b64, bitmap_png, grey_png

OPTS = PrinterOptions()


def wire(blocks: list[dict[str, Any]], options: PrinterOptions = OPTS) -> bytes:
    return encode_all(layout(parse_blocks(blocks, options)).commands)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_text_styles() -> None:
    assert wire([{"type": "text", "text": "Hi", "bold": True, "underline": True, "size": [2, 2], "align": "right"},
                 {"type": "text", "text": "ok"}]) == h(
        "1B 61 02"      # ESC a 2: right
        "1B 45 01"      # ESC E 1: emphasized
        "1B 2D 01"      # ESC - 1: underline, 1 dot
        "1D 21 11"      # GS ! 0x11: double width, double height
        "48 69 0A"      # Hi LF
        "1B 61 00"      # ESC a 0: left
        "1B 45 00 1B 2D 00 1D 21 00"  # each mode off again
        "6F 6B 0A")     # ok LF


def test_bold_and_size_change_one_at_a_time() -> None:
    assert wire([{"type": "text", "text": "A", "bold": True}, {"type": "text", "text": "B", "size": [1, 3]},
                 {"type": "text", "text": "C"}]) == h(
        "1B 45 01 41 0A"    # ESC E 1, A LF
        "1B 45 00"          # ESC E 0
        "1D 21 02 42 0A"    # GS ! 0x02 (height x3), B LF
        "1D 21 00 43 0A")   # GS ! 0, C LF


def test_ean13_barcode() -> None:
    assert wire([{"type": "barcode", "symbology": "EAN13", "data": "400638133393"}]) == h(
        "1B 61 01"          # ESC a 1: centred (the default for a barcode)
        "1D 48 02"          # GS H 2: HRI below
        "1D 68 50"          # GS h 80 dots
        "1D 77 02"          # GS w 2
        "1D 6B 43 0D 34 30 30 36 33 38 31 33 33 33 39 33 31"  # GS k 67 13 "4006381333931"
        "1B 61 00")         # back to left at the end


def test_code128_code39_itf_barcodes() -> None:
    assert wire([{"type": "barcode", "symbology": "CODE128", "data": "AB{1", "hri": "both", "height": 40,
                  "module_width": 3, "align": "right"}]) == h(
        "1B 61 02 1D 48 03 1D 68 28 1D 77 03"
        "1D 6B 49 07 7B 42 41 42 7B 7B 31"   # GS k 73 7 "{BAB{{1"
        "1B 61 00")
    assert wire([{"type": "barcode", "symbology": "CODE39", "data": "K-1", "hri": "above", "align": "left"}]) == h(
        "1B 61 00 1D 48 01 1D 68 50 1D 77 02"
        "1D 6B 45 03 4B 2D 31")              # GS k 69 3 "K-1"
    assert wire([{"type": "barcode", "symbology": "ITF", "data": "0123", "hri": "none"}]) == h(
        "1B 61 01 1D 48 00 1D 68 50 1D 77 02"
        "1D 6B 46 04 30 31 32 33"            # GS k 70 4 "0123"
        "1B 61 00")


def test_qr_block() -> None:
    assert wire([{"type": "qr", "data": "T-1", "module_size": 4, "error_correction": "H", "align": "left"}]) == h(
        "1B 61 00"                          # ESC a 0 (a graphic always sets its alignment)
        "1D 28 6B 04 00 31 41 32 00"        # <Function 165> model 2
        "1D 28 6B 03 00 31 43 04"           # <Function 167> module 4 dots
        "1D 28 6B 03 00 31 45 33"           # <Function 169> level H
        "1D 28 6B 06 00 31 50 30 54 2D 31"  # <Function 180> store "T-1" (pL = 3 + 3)
        "1D 28 6B 03 00 31 51 30"           # <Function 181> print
        "0A")


def test_image_block() -> None:
    png = bitmap_png(["##........",
                      ".........#"])
    assert wire([{"type": "image", "png": b64(png)}]) == h(
        "1B 61 01"
        "1D 76 30 00 02 00 02 00"           # GS v 0, m 0, 2 bytes x 2 dots
        "C0 00 00 40"                       # ##...... ........ / ........ .#......
        "1B 61 00")


def test_feed_and_cut_blocks() -> None:
    assert wire([{"type": "feed", "lines": 3}, {"type": "cut", "mode": "full"}, {"type": "cut"}]) == h(
        "1B 64 03"          # ESC d 3
        "1D 56 41 00"       # GS V 65 0: feed to the cutter, full cut
        "1D 56 42 00")      # GS V 66 0: the default partial cut


def test_styles_are_reset_before_a_graphic_and_a_cut() -> None:
    assert wire([{"type": "text", "text": "T", "bold": True, "size": [2, 1], "align": "center"},
                 {"type": "barcode", "symbology": "ITF", "data": "12", "hri": "none", "height": 50,
                  "module_width": 3},
                 {"type": "text", "text": "U", "underline": True, "align": "right"},
                 {"type": "cut"}]) == h(
        "1B 61 01 1B 45 01 1D 21 10 54 0A"        # centre, bold, double width, T LF
        "1B 45 00 1D 21 00"                       # reset before the barcode
        "1B 61 01 1D 48 00 1D 68 32 1D 77 03 1D 6B 46 02 31 32"
        "1B 61 02 1B 2D 01 55 0A"                 # right, ESC - 1 underline, U LF
        "1B 2D 00 1B 61 00"                       # reset and left before the cut
        "1D 56 42 00")


def test_text_wraps_at_the_width_for_its_size_and_splits_at_line_breaks() -> None:
    out = layout(parse_blocks([{"type": "text", "text": "x" * 20, "size": [2, 1]}, {"type": "text", "text": "a\nb"},
                               {"type": "text", "text": ""}], PrinterOptions(width_chars=32)))
    assert encode_all(out.commands) == (h("1D 21 10") + b"x" * 16 + b"\n" + b"x" * 4 + b"\n" + h("1D 21 00")
                                        + b"a\nb\n\n")
    assert (out.lines, out.barcodes, out.qr_codes, out.images, out.cuts) == (5, 0, 0, 0, 0)


def test_the_shorthand_is_the_same_as_its_blocks() -> None:
    opts = PrinterOptions(qr_module_size=3, qr_error_correction="L")
    short = print_request({"lines": [{"text": "收据", "bold": True, "align": "center"}, "Total 1.00"],
                           "qr": "1234", "cut": True}, opts)
    long = print_request({"blocks": [{"type": "text", "text": "收据", "bold": True, "align": "center"},
                                     {"type": "text", "text": "Total 1.00"}, {"type": "qr", "data": "1234"},
                                     {"type": "cut"}]}, opts)
    assert short == long
    assert encode_all(layout(short).commands) == h(
        "1B 61 01 1B 45 01 CA D5 BE DD 0A 1B 61 00 1B 45 00") + b"Total 1.00\n" + h(
        "1B 61 01 1D 28 6B 04 00 31 41 32 00 1D 28 6B 03 00 31 43 03 1D 28 6B 03 00 31 45 30"
        "1D 28 6B 07 00 31 50 30 31 32 33 34 1D 28 6B 03 00 31 51 30 0A 1B 61 00 1D 56 42 00")


def problems_of(blocks: Any, options: PrinterOptions = OPTS, **request: Any) -> list[str]:
    with pytest.raises(InvalidBlocks) as err:
        print_request({"blocks": blocks, **request}, options)
    return err.value.problems


def test_every_problem_is_listed_with_its_path() -> None:
    problems = problems_of([
        {"type": "text", "text": 5},
        {"type": "barcode", "symbology": "EAN13", "data": "4006381333932"},
        {"type": "barcode", "symbology": "ITF", "data": "123"},
        {"type": "barcode", "symbology": "CODE39", "data": "abc", "height": 0},
        {"type": "barcode", "symbology": "UPC", "data": "1", "hri": "left", "module_width": 9},
        {"type": "image", "png": "!!not base64!!"},
        {"type": "qr"},
        {"type": "feed", "lines": 0},
        {"type": "cut", "mode": "tear"},
        {"type": "nope"},
        "text",
        {"type": ["text"]},
        {"type": "text", "text": "x", "colour": "red", "size": [9, 1], "bold": "yes"},
        {"type": "text", "text": "ok"},
    ])
    assert problems == [
        "blocks[0].text: must be a string, got 5",
        "blocks[1].data: EAN13 check digit of 400638133393 is 1, got 2",
        "blocks[2].data: ITF takes an even number of digits (2..254), got 3 characters: '123'",
        "blocks[3].height: must be an integer 1..255, got 0",
        "blocks[3].data: CODE39 takes 1..255 of 0-9, A-Z, space and $ % + - . / (upper case; '*' is the start/stop "
        "the printer adds); not in its character set: 'abc'",
        "blocks[4].symbology: must be one of EAN13, CODE128, CODE39, ITF, got 'UPC'",
        "blocks[4].hri: must be one of none, above, below, both, got 'left'",
        "blocks[4].module_width: must be an integer 2..6, got 9",
        "blocks[5].png: must be base64 (RFC 4648 section 4, no line breaks)",
        "blocks[6].data: required, a string",
        "blocks[7].lines: must be an integer 1..255, got 0",
        "blocks[8].mode: must be one of partial, full, got 'tear'",
        "blocks[9].type: must be one of text, barcode, qr, image, feed, cut, got 'nope'",
        "blocks[10].type: must be one of text, barcode, qr, image, feed, cut, got 'text'",
        "blocks[11].type: must be one of text, barcode, qr, image, feed, cut, got ['text']",
        "blocks[12]: unknown keys ['colour']; a text block takes ['align', 'bold', 'size', 'text', 'underline']",
        "blocks[12].bold: must be true or false, got 'yes'",
        "blocks[12].size: must be [width, height], each 1..8, got [9, 1]",
    ]


def test_content_problems_name_the_field() -> None:
    cp437 = PrinterOptions(code_page="cp437", width_chars=32)
    assert problems_of([{"type": "text", "text": "中"}, {"type": "text", "text": "a\tb"},
                        {"type": "qr", "data": "x" * 7090},
                        {"type": "barcode", "symbology": "CODE128", "data": "ABCDEFGHIJKLMNOP"},
                        {"type": "image", "png": b64(b"GIF89a")}], cp437) == [
        "blocks[0].text: character '中' is not in code page cp437",
        "blocks[1].text: must not contain control characters other than a line break",
        "blocks[2].data: must be 1..7089 bytes in UTF-8, got 7090",
        "blocks[3].data: this CODE128 is 422 dots wide at module_width 2, wider than the printer's 384 dots "
        "(a printer skips it): shorten it or narrow it",
        "blocks[4].png: not a PNG image (the data does not start with the PNG signature)",
    ]
    # the same CODE128 fits an 80 mm printer (dot_width 576)
    assert parse_blocks([{"type": "barcode", "symbology": "CODE128", "data": "ABCDEFGHIJKLMNOP"}], OPTS)


def test_request_level_problems() -> None:
    assert problems_of([]) == ["blocks: must be a non-empty list of blocks"]
    assert problems_of("text") == ["blocks: must be a non-empty list of blocks"]
    assert problems_of([{"type": "feed"}] * 501) == ["blocks: at most 500 blocks per receipt, got 501"]
    assert problems_of([{"type": "feed"}], cut=True, lines=[]) == [
        "cut, lines: not with blocks (use text, qr and cut blocks instead)"]
    big = b64(grey_png([[0] * 576] * 1000))  # 72 bytes x 1000 rows each
    assert problems_of([{"type": "image", "png": big}, {"type": "image", "png": big}]) == [
        "blocks: the images come to 144,000 raster bytes, at most 131,072 per receipt"]


def test_shorthand_problems_keep_their_paths() -> None:
    with pytest.raises(InvalidBlocks) as err:
        print_request({"lines": ["ok", "中"], "qr": "a\nb"}, PrinterOptions(code_page="cp437"))
    assert err.value.problems == ["lines[1]: character '中' is not in code page cp437",
                                  "qr: must not contain control characters"]
    with pytest.raises(TypeError, match="cut must be a boolean"):
        print_request({"lines": [], "cut": "yes"}, OPTS)
    with pytest.raises(ValueError, match="unknown print arguments"):
        print_request({"lines": [], "logo": "x"}, OPTS)


def test_dot_width_option() -> None:
    assert PrinterOptions().print_width_dots == 576
    assert PrinterOptions(width_chars=32).print_width_dots == 384
    assert PrinterOptions(width_chars=32, dot_width=512).print_width_dots == 512
    assert PrinterOptions.problems({"dot_width": 50}) == [
        "dot_width: must be an integer 96..2048 (58 mm: 384, 80 mm: 576), got 50"]
    wide = b64(grey_png([[0] * 1000] * 10))
    (block,) = parse_blocks([{"type": "image", "png": wide}], PrinterOptions(dot_width=384))
    assert (block.raster.width, block.raster.height) == (384, 4)


json_values = st.recursive(st.none() | st.booleans() | st.integers(-10, 300) | st.floats(allow_nan=False)
                           | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=4)
KEYS = ["text", "bold", "underline", "size", "align", "symbology", "data", "hri", "height", "module_width",
        "module_size", "error_correction", "png", "lines", "mode"]
any_block = st.one_of(json_values, st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "barcode", "qr", "image", "feed", "cut", "nope"])},
    optional={k: json_values for k in KEYS}))


@settings(max_examples=100)
@given(st.lists(any_block, min_size=1, max_size=6))
def test_any_json_is_blocks_or_a_list_of_problems(raw: list[Any]) -> None:
    """Whatever the body holds, the answer is the blocks or InvalidBlocks naming each problem by its
    path, never another exception (whose message would not say which block is wrong)."""
    try:
        parse_blocks(raw, OPTS)
    except InvalidBlocks as exc:
        assert exc.problems and all(p.startswith("blocks") for p in exc.problems)
