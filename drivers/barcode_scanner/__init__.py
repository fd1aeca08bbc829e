"""Serial barcode scanners (Honeywell-style command set; CR/CR LF suffix or idle framing)."""

from drivers.barcode_scanner.driver import SerialScannerDriver
from drivers.barcode_scanner.frames import MenuReply, ScanData, decode_frame, encode_menu

__all__ = ["MenuReply", "ScanData", "SerialScannerDriver", "decode_frame", "encode_menu"]
