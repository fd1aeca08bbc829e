"""ReceiptPrinterPeer: an ESC/POS thermal printer that records what it printed.

It decodes the host stream with the driver's ``StreamDecoder`` (every documented ESC/POS command
by its exact length; what it cannot use is dropped and counted in ``decode_errors``, never
printed), keeps the paper / cover / cutter / head state, answers DLE EOT 1..4 byte-exactly
(Epson ESC/POS Command Reference, DLE EOT: https://download4.epson.biz/sec_pubs/pos/reference_en/escpos/dle_eot.html)
and GS r 1 / GS r 2 in order behind the print data,
and records each receipt whole (``receipt_paper.py``: styled text lines, bar codes, QR / PDF417
data, images in dots, the cut). ``snapshot()`` (``kiosk-sim status``) shows the recent receipts
and the decode-error count.

Like a real printer, data that arrives while it cannot print (paper out, cover open, an
error) is held in the receive buffer and printed once the cause is gone; DLE ENQ 1 recovers
from a recoverable error (autocutter, mechanical) once its cause is removed and resumes,
DLE ENQ 2 recovers and discards the held data. Real-time commands (DLE EOT, DLE ENQ) are
answered at once, even while data is held.

Device faults: paper_near_end, paper_out, cover_open, cutter_error (a jammed cutter: the
error is latched, and the next cut fails too), mechanical_error, head_overheat (recovers by
itself when cleared), unrecoverable_error. Actions: load_paper, open_cover, close_cover,
clear_jam (the jam is gone but the error stays latched until DLE ENQ).
"""

from __future__ import annotations

from typing import Any, ClassVar

from drivers.receipt_printer.commands import (
    Command,
    OtherCommand,
    PaperSensorRequest,
    RecoverCommand,
    StatusRequest,
    StreamDecoder,
)
from drivers.receipt_printer.constants import (
    STATUS_FIXED_VALUE,
    ErrorCause,
    OfflineCause,
    PrinterStatus,
    RecoverRequest,
    RollPaperStatus,
    StatusType,
)
from simulators.base.peer import DevicePeer
from simulators.receipt_paper import (
    Paper,
    PrintedBarcode,
    PrintedImage,
    PrintedLine,
    PrintedSymbol,
    Receipt,
    is_cut,
)

__all__ = ["PrintedBarcode", "PrintedImage", "PrintedLine", "PrintedSymbol", "Receipt", "ReceiptPrinterPeer"]

#: receipts shown by ``kiosk-sim status``
RECENT_RECEIPTS = 5
#: GS r 2 (drawer kick-out connector status) answer: pin 3 low, bits 4, 7 fixed at 0 (Epson GS r)
DRAWER_STATUS = 0x00


class ReceiptPrinterPeer(DevicePeer):
    device_class: ClassVar[str] = "receipt_printer"
    driver: ClassVar[str] = "escpos"
    line: ClassVar[dict[str, Any]] = {"baudrate": 115200}
    device_faults: ClassVar[tuple[str, ...]] = (
        "paper_near_end", "paper_out", "cover_open", "cutter_error", "mechanical_error", "head_overheat",
        "unrecoverable_error",
    )
    actions: ClassVar[tuple[str, ...]] = ("load_paper", "open_cover", "close_cover", "clear_jam")

    def __init__(self, seed: int = 0, kanji_default: bool = True) -> None:
        super().__init__(seed)
        self.paper = "ok"
        self.cover_open = False
        self.cutter_jammed = False
        self.cutter_error = False
        self.mechanical_error = False
        self.head_overheat = False
        self.unrecoverable_error = False
        self.paper_out = Paper(kanji_default)
        self.decoder = StreamDecoder()
        #: commands received while the printer could not print
        self.held: list[Command] = []
        self.failed_cuts = 0
        self.recoveries = 0
        self.status_requests: dict[int, int] = {n: 0 for n in StatusType}

    # -- state -------------------------------------------------------------------------------
    @property
    def error(self) -> bool:
        return self.cutter_error or self.mechanical_error or self.head_overheat or self.unrecoverable_error

    @property
    def can_print(self) -> bool:
        return self.paper != "out" and not self.cover_open and not self.error

    @property
    def current(self) -> Receipt:
        """The receipt still on the roll (not cut yet)."""
        return self.paper_out.current

    @property
    def receipts(self) -> list[Receipt]:
        return self.paper_out.receipts

    @property
    def decode_errors(self) -> int:
        """Commands and bytes the printer could not use (unknown, bad parameters), counted once each."""
        return self.decoder.errors

    @property
    def printed_lines(self) -> list[str]:
        """Every line printed so far, across receipts."""
        return [t for r in self.receipts for t in r.text] + self.current.text

    def status_byte(self, n: StatusType) -> int:
        """The DLE EOT n reply for the current state (bits as in tests/vectors/receipt_printer/status.toml)."""
        value = STATUS_FIXED_VALUE
        if n == StatusType.PRINTER:
            if not self.can_print:
                value |= PrinterStatus.OFFLINE
        elif n == StatusType.OFFLINE_CAUSE:
            value |= OfflineCause.COVER_OPEN if self.cover_open else 0
            value |= OfflineCause.PAPER_END_STOP if self.paper == "out" else 0
            value |= OfflineCause.ERROR_OCCURRED if self.error else 0
        elif n == StatusType.ERROR_CAUSE:
            value |= ErrorCause.MECHANICAL_ERROR if self.mechanical_error else 0
            value |= ErrorCause.AUTOCUTTER_ERROR if self.cutter_error else 0
            value |= ErrorCause.UNRECOVERABLE_ERROR if self.unrecoverable_error else 0
            value |= ErrorCause.AUTO_RECOVERABLE_ERROR if self.head_overheat else 0
        else:
            # the near-end sensor also sees no paper once the roll has run out (0x7E)
            value |= RollPaperStatus.ROLL_PAPER_NEAR_END if self.paper in ("near_end", "out") else 0
            value |= RollPaperStatus.ROLL_PAPER_END if self.paper == "out" else 0
        return int(value)

    def paper_sensor_byte(self) -> int:
        """The GS r 1 reply: bits 0,1 near end; bits 2,3 paper end."""
        return (0x03 if self.paper in ("near_end", "out") else 0) | (0x0C if self.paper == "out" else 0)

    # -- host bytes --------------------------------------------------------------------------
    def on_bytes(self, data: bytes) -> list[bytes]:
        self.requests += 1
        replies: list[bytes] = []
        for cmd in self.decoder.feed(data):
            if isinstance(cmd, StatusRequest):
                self.status_requests[cmd.n] += 1
                replies.append(bytes([self.status_byte(cmd.n)]))
            elif isinstance(cmd, RecoverCommand):
                replies += self._recover(cmd.n)
            elif self.can_print and not self.held:
                replies += self._execute(cmd)
            else:
                self.held.append(cmd)
        return replies

    def _recover(self, n: RecoverRequest) -> list[bytes]:
        if (self.cutter_error and not self.cutter_jammed) or self.mechanical_error:
            self.recoveries += 1
            self.cutter_error = self.cutter_jammed
            self.mechanical_error = False
            if n == RecoverRequest.RECOVER_CLEAR_BUFFERS:
                self.held.clear()
                self.paper_out.clear_line()
        return self._resume()

    def _resume(self) -> list[bytes]:
        replies: list[bytes] = []
        while self.held and self.can_print:
            replies += self._execute(self.held.pop(0))
        return replies

    def _execute(self, cmd: Command) -> list[bytes]:
        if is_cut(cmd):
            if self.cutter_jammed:
                self.paper_out.print_line(force=False)
                self.cutter_error = True
                self.failed_cuts += 1
                return []
        elif isinstance(cmd, PaperSensorRequest):
            return [bytes([self.paper_sensor_byte()])]
        elif isinstance(cmd, OtherCommand) and cmd.data[:2] == b"\x1dr" and cmd.data[2] in (0x02, 0x32):
            return [bytes([DRAWER_STATUS])]
        self.paper_out.execute(cmd)
        return []

    # -- faults and actions -----------------------------------------------------------------
    def set_device_fault(self, fault: str, on: bool) -> None:
        with self.lock:
            if fault == "paper_near_end":
                if on and self.paper == "ok":
                    self.paper = "near_end"
                elif not on and self.paper == "near_end":
                    self.paper = "ok"
            elif fault == "paper_out":
                self.paper = "out" if on else "ok"
            elif fault == "cover_open":
                self.cover_open = on
            elif fault == "cutter_error":
                self.cutter_jammed = self.cutter_error = on
            elif fault == "mechanical_error":
                self.mechanical_error = on
            elif fault == "head_overheat":
                self.head_overheat = on
            elif fault == "unrecoverable_error":
                self.unrecoverable_error = on
            else:
                raise ValueError(f"receipt_printer has no fault {fault!r}")
            replies = self._resume()
        for reply in replies:
            self.reply(reply)

    def act(self, action: str, args: list[str]) -> dict[str, Any]:
        with self.lock:
            if action == "load_paper":
                self.paper = "ok"
            elif action == "open_cover":
                self.cover_open = True
            elif action == "close_cover":
                self.cover_open = False
            elif action == "clear_jam":
                self.cutter_jammed = False
            else:
                raise ValueError(f"receipt_printer has no action {action!r}")
            replies = self._resume()
            snap = self.snapshot()
        for reply in replies:
            self.reply(reply)
        return snap

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                **super().snapshot(),
                "paper": self.paper,
                "cover": "open" if self.cover_open else "closed",
                "cutter": "jammed" if self.cutter_jammed else "error" if self.cutter_error else "ok",
                "head": "overheat" if self.head_overheat else "ok",
                "receipts": len(self.receipts),
                "lines_printed": len(self.printed_lines),
                "failed_cuts": self.failed_cuts,
                "held_commands": len(self.held),
                "decode_errors": self.decoder.errors,
                "decode_dropped_bytes": self.decoder.dropped,
                "last_decode_errors": list(self.decoder.recent_errors)[-5:],
                "recent_receipts": [r.to_dict() for r in self.receipts[-RECENT_RECEIPTS:]],
                "on_the_roll": self.current.to_dict(),
            }
