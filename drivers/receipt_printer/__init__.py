"""ESC/POS thermal receipt printer: command encoders, status codec and health map.

The package exports the pure codecs only, so a simulator importing them loads no transport
code (pyserial, pyusb). The driver is ``drivers.receipt_printer.driver.EscposDriver``.
"""

from drivers.receipt_printer.commands import Command, decode_command, decode_commands
from drivers.receipt_printer.constants import (
    ErrorCause,
    OfflineCause,
    PrinterStatus,
    RollPaperStatus,
    StatusType,
)
from drivers.receipt_printer.health import health_of
from drivers.receipt_printer.receipt import PrinterOptions
from drivers.receipt_printer.status import RealTimeStatus, decode_reply

__all__ = [
    "Command",
    "ErrorCause",
    "OfflineCause",
    "PrinterOptions",
    "PrinterStatus",
    "RealTimeStatus",
    "RollPaperStatus",
    "StatusType",
    "decode_command",
    "decode_commands",
    "decode_reply",
    "health_of",
]
