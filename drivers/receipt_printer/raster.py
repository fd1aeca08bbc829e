"""PNG -> a monochrome raster for ``GS v 0``: decode, flatten, scale to the paper, dither, pack.

Layout of the packed raster (Epson ESC/POS Command Reference, "GS v 0: Print raster bit image",
https://download4.epson.biz/sec_pubs/pos/reference_en/escpos/gs_lv_0.html)::

    GS v 0 m xL xH yL yH d1..dk     1D 76 30 m xL xH yL yH ...
    x = xL + 256*xH bytes per row, y = yL + 256*yH rows, k = x*y
    each byte is 8 dots, most significant bit leftmost; bit 1 prints a dot

Pillow decodes the PNG and dithers it (``convert("1")`` is Floyd-Steinberg error diffusion).
It is imported here, inside :func:`png_to_raster`, and nowhere else: the daemon never loads it
unless an image block is printed, so its idle memory stays what it was.

Bounds (checked from the PNG header before anything is decoded, so a small file that inflates
to a huge bitmap is refused without allocating it): at most ``MAX_SOURCE_PIXELS`` source
pixels and ``MAX_SOURCE_SIDE`` per side; after scaling, at most ``MAX_HEIGHT_DOTS`` rows
(the largest ``yL + 256*yH`` the reference allows, 0 <= yH <= 8).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image as PilImage

#: the 8-byte PNG signature (PNG specification, 3rd edition, section 5.2)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: source pixels a PNG may have (a grey copy of it is held while it is scaled and dithered)
MAX_SOURCE_PIXELS = 2_000_000
#: longest side of a source PNG
MAX_SOURCE_SIDE = 8192
#: GS v 0: 1 <= yL + yH*256 <= 2303 (0 <= yH <= 8)
MAX_HEIGHT_DOTS = 2303
#: Pillow's "1" mode packs white as 1; ESC/POS prints a 1: every byte is inverted
_INVERT = bytes(255 - b for b in range(256))


class ImageError(ValueError):
    """The PNG cannot be printed: not a PNG, corrupt, or too large."""


@dataclass(frozen=True, slots=True)
class Raster:
    """A packed 1-bit image: ``height`` rows of ``width_bytes`` bytes, bit 1 = a printed dot."""

    width: int
    height: int
    data: bytes

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1 or len(self.data) != self.width_bytes * self.height:
            raise ValueError(f"raster {self.width}x{self.height} needs {self.width_bytes * self.height} bytes, "
                             f"got {len(self.data)}")

    @property
    def width_bytes(self) -> int:
        return (self.width + 7) // 8

    def dot(self, x: int, y: int) -> bool:
        """Whether the dot at column ``x``, row ``y`` is printed."""
        byte = self.data[y * self.width_bytes + x // 8]
        return bool(byte & (0x80 >> (x % 8)))

    def black_fraction(self) -> float:
        dots = sum(self.dot(x, y) for y in range(self.height) for x in range(self.width))
        return dots / (self.width * self.height)


def scaled_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """The printed size: unchanged when it fits, else ``max_width`` wide with the aspect kept."""
    if width <= max_width:
        return width, height
    return max_width, max(1, round(height * max_width / width))


def png_to_raster(png: bytes, max_width: int) -> Raster:
    """Decode ``png``, flatten transparency onto white paper, scale it down to ``max_width``
    dots when wider, dither it (Floyd-Steinberg) and pack it for ``GS v 0``.

    Raises:
        ImageError: not a PNG, corrupt, or beyond the bounds in the module docstring.
    """
    if not png.startswith(PNG_SIGNATURE):
        raise ImageError("not a PNG image (the data does not start with the PNG signature)")
    from PIL import Image  # lazily: see the module docstring

    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as img:
            width, height = img.size
            if width > MAX_SOURCE_SIDE or height > MAX_SOURCE_SIDE or width * height > MAX_SOURCE_PIXELS:
                raise ImageError(f"the PNG is {width}x{height} pixels; at most {MAX_SOURCE_PIXELS:,} pixels "
                                 f"and {MAX_SOURCE_SIDE} per side")
            out_w, out_h = scaled_size(width, height, max_width)
            if out_h > MAX_HEIGHT_DOTS:
                raise ImageError(f"the PNG is {width}x{height} pixels, {out_w}x{out_h} dots on the paper; "
                                 f"at most {MAX_HEIGHT_DOTS} dots tall")
            grey = _on_white(img)
    except ImageError:
        raise
    except Image.UnidentifiedImageError:
        raise ImageError("the data starts like a PNG but is not a readable PNG image") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"the PNG cannot be decoded: {exc}") from None
    if (out_w, out_h) != grey.size:
        grey = grey.resize((out_w, out_h), Image.Resampling.LANCZOS)
    mono = grey.convert("1", dither=Image.Dither.FLOYDSTEINBERG)
    # pad each row to whole bytes with white paper, so the padding prints nothing
    padded = Image.new("1", (((out_w + 7) // 8) * 8, out_h), 1)
    padded.paste(mono, (0, 0))
    return Raster(out_w, out_h, padded.tobytes().translate(_INVERT))


def _on_white(img: PilImage) -> PilImage:
    """The image in 8-bit grey; transparent pixels become white paper."""
    from PIL import Image

    has_alpha = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
    if not has_alpha:
        wide = img.mode.startswith("I")  # 16-bit grey PNGs decode as I;16 (0..65535)
        return img.point(lambda v: v / 257).convert("L") if wide else img.convert("L")
    rgba = img.convert("RGBA")
    paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(paper, rgba).convert("L")
