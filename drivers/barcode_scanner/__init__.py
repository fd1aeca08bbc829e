"""Serial barcode scanners (Honeywell-style command set; CR/CR LF suffix or idle framing).

The package exports the pure codec only, so a simulator or a test that frames scanner bytes
loads no transport code (pyserial, pyusb). The driver is
``drivers.barcode_scanner.driver.SerialScannerDriver`` (the registry in ``drivers`` names it).
"""

from drivers.barcode_scanner.frames import MenuReply, ScanData, decode_frame, encode_menu

__all__ = ["MenuReply", "ScanData", "decode_frame", "encode_menu"]
