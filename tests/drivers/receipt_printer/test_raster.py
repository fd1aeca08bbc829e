"""PNG -> GS v 0 raster: exact packing of hand-made PNGs, scaling, transparency, dithering, bounds,
and Pillow staying out of the daemon until an image is printed."""

from __future__ import annotations

import subprocess
import sys
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.receipt_printer.raster import (
    MAX_HEIGHT_DOTS,
    PNG_SIGNATURE,
    ImageError,
    png_to_raster,
    scaled_size,
)
from tests.support.agent_proc import REPO
from tests.support.png import bitmap_png, chunk, grey_png, png


def test_bitmap_packs_msb_first_and_one_prints() -> None:
    # 10 dots wide -> 2 bytes a row; the 6 padding bits print nothing (GS v 0: "bit 1 prints a dot",
    # most significant bit leftmost)
    art = ["##........",
           ".........#"]
    r = png_to_raster(bitmap_png(art), 384)
    assert (r.width, r.height, r.width_bytes) == (10, 2, 2)
    assert r.data == bytes([0b1100_0000, 0b0000_0000,
                            0b0000_0000, 0b0100_0000])


def test_every_dot_lands_where_the_art_has_it() -> None:
    art = ["#.#.#.#.#.#.#.#.#",
           ".#...#...#...#...",
           "#################"]
    r = png_to_raster(bitmap_png(art), 384)
    assert [[r.dot(x, y) for x in range(r.width)] for y in range(r.height)] == [
        [c == "#" for c in line] for line in art]


def test_narrower_than_the_paper_keeps_its_size_wider_is_scaled_down() -> None:
    assert scaled_size(200, 50, 384) == (200, 50)
    assert scaled_size(1000, 100, 384) == (384, 38)
    assert scaled_size(5000, 1, 384) == (384, 1)
    black = grey_png([[0] * 1000] * 100)
    r = png_to_raster(black, 384)
    assert (r.width, r.height, r.width_bytes) == (384, 38, 48)
    assert r.data == b"\xff" * (48 * 38)
    r = png_to_raster(black, 576)
    assert (r.width, r.height) == (576, 58)


def test_transparency_is_white_paper() -> None:
    # RGBA: an opaque black pixel, a transparent black one, an opaque white one, a half-transparent black one
    pixels = bytes([0, 0, 0, 255, 0, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 128])
    r = png_to_raster(png(4, 1, pixels, colour_type=6), 384)
    assert [r.dot(x, 0) for x in range(3)] == [True, False, False]


@settings(max_examples=40)
@given(st.integers(0, 255))
def test_dithering_keeps_the_grey_level(level: int) -> None:
    """Floyd-Steinberg diffuses the error, so the share of printed dots follows the grey level
    (up to the error lost off the right and bottom edges)."""
    r = png_to_raster(grey_png([[level] * 32] * 32), 384)
    assert abs(r.black_fraction() - (255 - level) / 255) < 0.03


def test_mid_grey_is_dithered_not_thresholded() -> None:
    # a plain threshold would print 50 % grey all white (or all black)
    r = png_to_raster(grey_png([[128] * 16] * 16), 384)
    assert 0.45 < r.black_fraction() < 0.55


def test_not_a_png_is_refused() -> None:
    with pytest.raises(ImageError, match="not a PNG"):
        png_to_raster(b"GIF89a\x01\x00\x01\x00", 384)
    with pytest.raises(ImageError, match="cannot be decoded"):
        png_to_raster(PNG_SIGNATURE + b"garbage" * 10, 384)
    whole = grey_png([[0] * 64] * 64)
    with pytest.raises(ImageError, match="cannot be decoded"):
        png_to_raster(whole[: len(whole) // 2], 384)


def _header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` but whose data is a few bytes: refusing it must not
    need (or try) the decode."""
    import struct
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


def test_too_many_pixels_is_refused_from_the_header() -> None:
    with pytest.raises(ImageError, match="3000x3000 pixels"):
        png_to_raster(_header_only(3000, 3000), 384)
    with pytest.raises(ImageError, match="per side"):
        png_to_raster(_header_only(9000, 10), 384)


def test_taller_than_gs_v0_allows_is_refused() -> None:
    with pytest.raises(ImageError, match=f"at most {MAX_HEIGHT_DOTS} dots tall"):
        png_to_raster(_header_only(100, MAX_HEIGHT_DOTS + 1), 384)
    # a wide one that scales down to fit is fine
    r = png_to_raster(grey_png([[255] * 800] * 300), 384)
    assert (r.width, r.height) == (384, 144)


def test_pillow_is_imported_only_when_an_image_is_printed() -> None:
    """The daemon's modules and a text/barcode receipt never load Pillow; an image block does."""
    code = """
import sys
import agent.app, drivers.receipt_printer.driver
from drivers.receipt_printer.blocks import parse_blocks
from drivers.receipt_printer.receipt import PrinterOptions
parse_blocks([{"type": "text", "text": "x"}, {"type": "barcode", "symbology": "EAN13", "data": "400638133393"},
              {"type": "qr", "data": "q"}], PrinterOptions())
before = "PIL" in sys.modules
parse_blocks([{"type": "image", "png": sys.argv[1]}], PrinterOptions())
print(before, "PIL" in sys.modules)
"""
    from tests.support.png import b64
    out = subprocess.run([sys.executable, "-c", code, b64(bitmap_png(["#"]))], cwd=REPO, capture_output=True,
                         text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False", "True"]
