"""The print request: an ordered list of blocks, checked whole, every problem named by its path.

A request is either ``{"blocks": [...]}`` or the shorthand ``{"lines": [...], "qr": str|null,
"cut": bool}`` (lines become text blocks, ``qr`` a centred QR block, ``cut`` a cut block), which
prints the bytes it always has. Block types (JSON, ``type`` first)::

    text     text, bold, underline, size [w, h] (1..8 each), align    left
    barcode  symbology (EAN13|CODE128|CODE39|ITF), data, hri (none|above|below|both),
             height (dots 1..255), module_width (dots 2..6), align    center
    qr       data, module_size (1..16), error_correction (L|M|Q|H), align    center
    image    png (base64), align    center; scaled down to the printer's dot width, dithered
    feed     lines (1..255)
    cut      mode (partial|full)

Pure: JSON in, typed blocks out. Raises :class:`InvalidBlocks` listing every problem, each
prefixed with where it is (``blocks[2].data: EAN13 check digit of ...``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drivers.receipt_printer.barcodes import (
    HEIGHTS,
    HRI_POSITIONS,
    MODULE_WIDTHS,
    BarcodeData,
    barcode_data,
    width_dots,
)
from drivers.receipt_printer.constants import QR_MAX_DATA, CutFunction, Justification, QrErrorCorrection
from drivers.receipt_printer.raster import ImageError, Raster, png_to_raster
from drivers.receipt_printer.receipt import (
    ALIGN,
    CUT_MODES,
    PrinterOptions,
    ReceiptLine,
    encode_text,
    parse_lines,
    wrap,
)

#: blocks in one request
MAX_BLOCKS = 500
#: raster bytes of every image in one request (about 11 s on a 115200 baud line)
MAX_RASTER_BYTES = 128 * 1024
MAX_SIZE = 8
DEFAULT_BARCODE_HEIGHT = 80
DEFAULT_MODULE_WIDTH = 2


class InvalidBlocks(ValueError):
    """A print request that cannot be printed; ``problems`` lists every reason with its path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class TextBlock:
    #: the wrapped lines, already in the printer's code page
    pieces: tuple[bytes, ...]
    bold: bool = False
    underline: bool = False
    width: int = 1
    height: int = 1
    align: Justification = Justification.LEFT


@dataclass(frozen=True, slots=True)
class BarcodeBlock:
    barcode: BarcodeData
    hri: int
    height: int
    module_width: int
    align: Justification = Justification.CENTER


@dataclass(frozen=True, slots=True)
class QrBlock:
    data: bytes
    module_size: int
    error_correction: QrErrorCorrection
    align: Justification = Justification.CENTER


@dataclass(frozen=True, slots=True)
class ImageBlock:
    raster: Raster
    align: Justification = Justification.CENTER


@dataclass(frozen=True, slots=True)
class FeedBlock:
    lines: int


@dataclass(frozen=True, slots=True)
class CutBlock:
    function: CutFunction


Block = TextBlock | BarcodeBlock | QrBlock | ImageBlock | FeedBlock | CutBlock


class _Fields:
    """One block's fields: typed getters that record a problem (with the path) instead of raising."""

    def __init__(self, path: str, raw: Mapping[str, Any], allowed: set[str], problems: list[str]) -> None:
        self.path, self.raw, self.problems = path, raw, problems
        unknown = sorted(set(raw) - allowed - {"type"})
        if unknown:
            problems.append(f"{path}: unknown keys {unknown}; a {raw['type']} block takes {sorted(allowed)}")

    def bad(self, key: str, message: str) -> None:
        self.problems.append(f"{self.path}.{key}: {message}")

    def get(self, key: str, default: Any, ok: Callable[[Any], bool], expected: str) -> Any:
        value = self.raw.get(key, default)
        if value is None and default is None:
            self.bad(key, f"required, {expected}")
            return None
        if not ok(value):
            self.bad(key, f"must be {expected}, got {value!r}")
            return None
        return value

    def integer(self, key: str, default: int | None, allowed: range) -> int | None:
        return self.get(key, default, lambda v: _is_int(v) and v in allowed,
                        f"an integer {allowed.start}..{allowed.stop - 1}")

    def flag(self, key: str) -> bool | None:
        return self.get(key, False, lambda v: isinstance(v, bool), "true or false")

    def choice(self, key: str, default: str | None, choices: Sequence[str]) -> str | None:
        return self.get(key, default, lambda v: v in choices, f"one of {', '.join(choices)}")

    def string(self, key: str) -> str | None:
        return self.get(key, None, lambda v: isinstance(v, str), "a string")

    def align(self, default: str) -> Justification | None:
        name = self.choice("align", default, list(ALIGN))
        return None if name is None else ALIGN[name]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(f: _Fields, options: PrinterOptions) -> TextBlock | None:
    text, bold, underline, align = f.string("text"), f.flag("bold"), f.flag("underline"), f.align("left")
    size = f.get("size", [1, 1], lambda v: isinstance(v, list) and len(v) == 2
                 and all(_is_int(n) and 1 <= n <= MAX_SIZE for n in v), f"[width, height], each 1..{MAX_SIZE}")
    if text is not None and any((ord(c) < 0x20 and c != "\n") or ord(c) == 0x7F for c in text):
        f.bad("text", "must not contain control characters other than a line break")
        text = None
    if text is None or bold is None or underline is None or align is None or size is None:
        return None
    pieces = text_pieces(f"{f.path}.text", text, options.width_chars // size[0], options, f.problems)
    if pieces is None:
        return None
    return TextBlock(pieces, bold, underline, size[0], size[1], align)


def text_pieces(path: str, text: str, columns: int, options: PrinterOptions,
                problems: list[str]) -> tuple[bytes, ...] | None:
    """``text`` split at line breaks, wrapped to ``columns`` and encoded (else a problem at ``path``)."""
    try:
        return tuple(encode_text(piece, options) for line in text.split("\n") for piece in wrap(line, columns))
    except ValueError as exc:
        problems.append(f"{path}: {exc}")
        return None


def _barcode(f: _Fields, options: PrinterOptions) -> BarcodeBlock | None:
    symbology, data = f.choice("symbology", None, ["EAN13", "CODE128", "CODE39", "ITF"]), f.string("data")
    hri = f.choice("hri", "below", list(HRI_POSITIONS))
    height = f.integer("height", DEFAULT_BARCODE_HEIGHT, HEIGHTS)
    module = f.integer("module_width", DEFAULT_MODULE_WIDTH, MODULE_WIDTHS)
    align = f.align("center")
    barcode = None
    if symbology is not None and data is not None:
        try:
            barcode = barcode_data(symbology, data)
        except ValueError as exc:
            f.bad("data", str(exc))
    if barcode is None or hri is None or height is None or module is None or align is None:
        return None
    wide = width_dots(barcode, module)
    if wide > options.print_width_dots:
        f.bad("data", f"this {symbology} is {wide} dots wide at module_width {module}, wider than the "
                      f"printer's {options.print_width_dots} dots (a printer skips it): shorten it or narrow it")
        return None
    return BarcodeBlock(barcode, HRI_POSITIONS[hri], height, module, align)


def qr_data(path: str, data: str, problems: list[str]) -> bytes | None:
    """QR payload bytes (UTF-8), else a problem at ``path``."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in data):
        problems.append(f"{path}: must not contain control characters")
        return None
    raw = data.encode("utf-8")
    if not 1 <= len(raw) <= QR_MAX_DATA:
        problems.append(f"{path}: must be 1..{QR_MAX_DATA} bytes in UTF-8, got {len(raw)}")
        return None
    return raw


def _qr(f: _Fields, options: PrinterOptions) -> QrBlock | None:
    data = f.string("data")
    size = f.integer("module_size", options.qr_module_size, range(1, 17))
    level = f.choice("error_correction", options.qr_error_correction, list(QrErrorCorrection.__members__))
    align = f.align("center")
    raw = None if data is None else qr_data(f"{f.path}.data", data, f.problems)
    if raw is None or size is None or level is None or align is None:
        return None
    return QrBlock(raw, size, QrErrorCorrection[level], align)


def _image(f: _Fields, options: PrinterOptions) -> ImageBlock | None:
    encoded, align = f.string("png"), f.align("center")
    if encoded is None or align is None:
        return None
    try:
        png = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        f.bad("png", "must be base64 (RFC 4648 section 4, no line breaks)")
        return None
    try:
        return ImageBlock(png_to_raster(png, options.print_width_dots), align)
    except ImageError as exc:
        f.bad("png", str(exc))
        return None


def _feed(f: _Fields, options: PrinterOptions) -> FeedBlock | None:
    lines = f.integer("lines", 1, range(1, 256))
    return None if lines is None else FeedBlock(lines)


def _cut(f: _Fields, options: PrinterOptions) -> CutBlock | None:
    mode = f.choice("mode", options.cut_mode, list(CUT_MODES))
    return None if mode is None else CutBlock(CUT_MODES[mode])


_PARSERS: dict[str, tuple[set[str], Callable[[_Fields, PrinterOptions], Block | None]]] = {
    "text": ({"text", "bold", "underline", "size", "align"}, _text),
    "barcode": ({"symbology", "data", "hri", "height", "module_width", "align"}, _barcode),
    "qr": ({"data", "module_size", "error_correction", "align"}, _qr),
    "image": ({"png", "align"}, _image),
    "feed": ({"lines"}, _feed),
    "cut": ({"mode"}, _cut),
}


def parse_blocks(raw: Any, options: PrinterOptions) -> list[Block]:
    """The ``blocks`` of a request. Raises InvalidBlocks listing every problem."""
    if not isinstance(raw, list) or not raw:
        raise InvalidBlocks(["blocks: must be a non-empty list of blocks"])
    if len(raw) > MAX_BLOCKS:
        raise InvalidBlocks([f"blocks: at most {MAX_BLOCKS} blocks per receipt, got {len(raw)}"])
    problems: list[str] = []
    out: list[Block] = []
    for i, item in enumerate(raw):
        path = f"blocks[{i}]"
        kind = item.get("type") if isinstance(item, Mapping) else None
        if not isinstance(kind, str) or kind not in _PARSERS:
            got = item.get("type") if isinstance(item, Mapping) else item
            problems.append(f"{path}.type: must be one of {', '.join(_PARSERS)}, got {got!r}")
            continue
        allowed, parse = _PARSERS[kind]
        block = parse(_Fields(path, item, allowed, problems), options)
        if block is not None:
            out.append(block)
    raster_bytes = sum(len(b.raster.data) for b in out if isinstance(b, ImageBlock))
    if raster_bytes > MAX_RASTER_BYTES:
        problems.append(f"blocks: the images come to {raster_bytes:,} raster bytes, at most {MAX_RASTER_BYTES:,} "
                        "per receipt")
    if problems:
        raise InvalidBlocks(problems)
    return out


def shorthand_blocks(lines: Sequence[ReceiptLine], qr: str | None, cut: bool,
                     options: PrinterOptions) -> list[Block]:
    """``lines`` / ``qr`` / ``cut`` as blocks. Raises InvalidBlocks (text outside the code page,
    a bad QR payload)."""
    problems: list[str] = []
    out: list[Block] = []
    for i, line in enumerate(lines):
        pieces = text_pieces(f"lines[{i}]", line.text, options.width_chars, options, problems)
        if pieces is not None:
            out.append(TextBlock(pieces, bold=line.bold, align=ALIGN[line.align]))
    if qr is not None:
        data = qr_data("qr", qr, problems)
        if data is not None:
            out.append(QrBlock(data, options.qr_module_size, QrErrorCorrection[options.qr_error_correction]))
    if cut:
        out.append(CutBlock(CUT_MODES[options.cut_mode]))
    if problems:
        raise InvalidBlocks(problems)
    return out


def print_request(args: Mapping[str, Any], options: PrinterOptions) -> list[Block]:
    """A print operation's arguments as blocks.

    Raises:
        InvalidBlocks / TypeError / ValueError: a malformed request (the API answers 422).
    """
    if "blocks" in args:
        extra = sorted(set(args) - {"blocks"})
        if extra:
            raise InvalidBlocks([f"{', '.join(extra)}: not with blocks (use text, qr and cut blocks instead)"])
        return parse_blocks(args["blocks"], options)
    unknown = set(args) - {"lines", "qr", "cut"}
    if unknown:
        raise ValueError(f"unknown print arguments {sorted(unknown)}; use blocks, or lines, qr and cut")
    qr, cut = args.get("qr"), args.get("cut", True)
    if qr is not None and not isinstance(qr, str):
        raise TypeError("qr must be a string or null")
    if not isinstance(cut, bool):
        raise TypeError("cut must be a boolean")
    return shorthand_blocks(parse_lines(args.get("lines", [])), qr, cut, options)

