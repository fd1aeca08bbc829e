"""A receipt written by a third-party client (python-escpos 3.1, ``Dummy`` printer) and what must print.

The expected receipt is derived from what the client was asked to print (text and style, each
bar code symbology and its data, QR data, image sizes from the image's own dimensions), not from
our decoder's output.
"""

from __future__ import annotations

import contextlib
import io

import qrcode
from escpos.escpos import Escpos
from escpos.printer import Dummy
from PIL import Image

from simulators.receipt_printer import PrintedBarcode, PrintedImage, PrintedLine, PrintedSymbol, Receipt

#: (python-escpos name, our symbology name, data, function type)
BARCODES = [
    ("UPC-A", "UPC_A", "01234567890", "B"),
    ("UPC-E", "UPC_E", "01234567", "B"),
    ("EAN13", "EAN13", "4006381333931", "B"),
    ("EAN8", "EAN8", "1234567", "B"),
    ("CODE39", "CODE39", "*KIOSK-1*", "B"),
    ("ITF", "ITF", "1234567890", "B"),
    ("NW7", "CODABAR", "A1234B", "B"),
    ("CODE93", "CODE93", "ABC-93", "B"),
    ("CODE128", "CODE128", "{BABC-128", "B"),
    ("EAN13", "EAN13", "400638133393", "A"),  # format A: NUL-terminated, check digit by the printer
    ("CODE39", "CODE39", "*A*", "A"),
]
QR_NATIVE = "https://bank.example.cn/r?id=0001"
QR_IMAGE = "TXN 0002"
LOGO = (100, 30)  # width x height of the image sent three ways


def _qr_image_size(data: str, box: int) -> tuple[int, int]:
    """The raster python-escpos sends for qr(native=False): modules + 2 border, times box, width in bytes."""
    code = qrcode.QRCode(version=None, box_size=box, border=1, error_correction=qrcode.constants.ERROR_CORRECT_L)
    code.add_data(data)
    code.make(fit=True)
    dots = (code.modules_count + 2) * box
    return (dots + 7) // 8 * 8, dots


def python_escpos_receipt() -> tuple[bytes, list[Receipt]]:
    """The bytes python-escpos writes for one receipt (plus an empty partial-cut one) and what prints."""
    p = Dummy()
    write_receipt(p)
    return p.output, expected_receipts()


def write_receipt(p: Escpos) -> None:
    """Print the sample receipt through any python-escpos printer (Dummy, Serial, Network ...)."""
    with contextlib.redirect_stdout(io.StringIO()):  # it prints advice about profiles and renderers
        p.hw("INIT")
        p.set(align="center", bold=True, double_height=True, double_width=True)
        p.textln("CITY UTILITY OFFICE")
        p.set(align="left", bold=False, normal_textsize=True, underline=1)
        p.textln("Ünïcødé 42")  # the magic encoder switches code pages (ESC t) mid-line
        p.set(custom_size=True, width=3, height=2, underline=0, invert=True, smooth=True, flip=False,
              density=5, font="b")
        p.textln("BIG")
        p.set(normal_textsize=True, invert=False, align="right", underline=2)
        p.text("Total: ")
        p.set(bold=True)
        p.textln("12.00")
        p.set(bold=False, underline=0)
        for name, _, data, ftype in BARCODES:
            p.barcode(data, name, function_type=ftype, pos="ABOVE" if ftype == "A" else "BELOW", font="B",
                      height=64, width=3, check=False)
        p.qr(QR_NATIVE, native=True, size=4)
        p.qr(QR_IMAGE, native=False, size=3)
        logo = Image.new("1", LOGO, 1)
        p.image(logo, impl="bitImageRaster")
        p.image(logo, impl="graphics")
        p.image(logo, impl="bitImageColumn")
        p.cashdraw(2)
        p.ln(1)
        p.cut()
        p.cut(mode="PART")


def expected_receipts() -> list[Receipt]:
    line = PrintedLine
    qr_w, qr_h = _qr_image_size(QR_IMAGE, 3)
    items = [
        line("CITY UTILITY OFFICE", bold=True, align="center", width=2, height=2),
        line("Ünïcødé 42", underline=1),
        line("BIG", width=3, height=2, reverse=True),
        # the line takes the style of its first character: "Total: " was not bold
        line("Total: 12.00", align="right", underline=2),
        *[PrintedBarcode(ours, data, "above" if ftype == "A" else "below", 64, 3, "center")
          for _, ours, data, ftype in BARCODES],
        PrintedSymbol("qr", QR_NATIVE, "center"),
        # qr(native=False) sends "\n", the image, "\n", "\n"
        line("", align="center"),
        PrintedImage(qr_w, qr_h, "raster", "center"),
        line("", align="center"),
        line("", align="center"),
        PrintedImage((LOGO[0] + 7) // 8 * 8, LOGO[1], "raster", "center"),
        PrintedImage(LOGO[0], LOGO[1], "graphics", "center"),
        PrintedImage(LOGO[0], 48, "column", "center"),  # two 24-dot stripes
        line("", align="center"),  # ln(1)
    ]
    return [Receipt(items, "full"), Receipt([], "partial")]
