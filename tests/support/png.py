"""PNG files written by hand (stdlib zlib), so image tests do not trust the decoder to make their input.

Layout (W3C PNG Specification, Third Edition, https://www.w3.org/TR/png-3/): the 8-byte signature
(section 5.2); chunks of length (4 bytes, big-endian), type, data, CRC-32 of type + data (5.3);
IHDR = width, height, bit depth, colour type, compression 0, filter 0, interlace 0 (11.2.1);
IDAT = the zlib stream of the scanlines, each led by its filter type byte, 0 = None (7.3, 9.2);
IEND (11.2.3). Colour types used here: 0 greyscale, 6 RGBA (8 bits a sample).
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Sequence

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, scanlines: bytes, colour_type: int = 0) -> bytes:
    """A PNG of ``height`` rows of raw samples (``scanlines`` without the filter bytes)."""
    per_pixel = {0: 1, 6: 4}[colour_type]
    row = width * per_pixel
    assert len(scanlines) == row * height, "scanlines do not match the size"
    raw = b"".join(b"\x00" + scanlines[y * row:(y + 1) * row] for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def grey_png(rows: Sequence[Sequence[int]]) -> bytes:
    """Greyscale PNG from rows of 0..255 values (0 black, 255 white)."""
    return png(len(rows[0]), len(rows), bytes(v for r in rows for v in r))


def bitmap_png(art: Sequence[str]) -> bytes:
    """Black-and-white PNG from ASCII art: ``#`` black, anything else white."""
    return grey_png([[0 if c == "#" else 255 for c in line] for line in art])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
