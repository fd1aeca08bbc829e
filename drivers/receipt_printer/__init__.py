"""ESC/POS thermal receipt printer: command encoders, status codec, health map and driver."""

from drivers.receipt_printer.commands import Command, decode_command, decode_commands
from drivers.receipt_printer.constants import (
    ErrorCause,
    OfflineCause,
    PrinterStatus,
    RollPaperStatus,
    StatusType,
)
from drivers.receipt_printer.driver import EscposDriver
from drivers.receipt_printer.health import health_of
from drivers.receipt_printer.receipt import PrinterOptions
from drivers.receipt_printer.status import RealTimeStatus, decode_reply

__all__ = [
    "Command",
    "ErrorCause",
    "EscposDriver",
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
