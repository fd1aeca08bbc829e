"""ReceiptPrinterPeer: an ESC/POS thermal printer that records what it printed.

It decodes the host stream with the driver's command codec, keeps the paper / cover / cutter /
head state, answers DLE EOT 1..4 byte-exactly (protocols.md section 2, simulator table) and
GS r 1 in order behind the print data, and records each receipt (decoded text lines with
bold/alignment, QR data, the cut) so tests can assert what came out.

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

from dataclasses import dataclass, field
from typing import Any, ClassVar

from drivers.base.errors import FrameError
from drivers.receipt_printer.commands import (
    CarriageReturn,
    CodeTableCommand,
    Command,
    CutCommand,
    EmphasizeCommand,
    FeedLinesCommand,
    InitializeCommand,
    JustifyCommand,
    KanjiModeCommand,
    LineFeed,
    PaperSensorRequest,
    QrErrorCorrectionCommand,
    QrModelCommand,
    QrModuleSizeCommand,
    QrPrintCommand,
    QrStoreCommand,
    RecoverCommand,
    StatusRequest,
    Text,
    decode_command,
)
from drivers.receipt_printer.constants import (
    STATUS_FIXED_VALUE,
    ErrorCause,
    Justification,
    OfflineCause,
    PrinterStatus,
    RecoverRequest,
    RollPaperStatus,
    StatusType,
)
from simulators.base.peer import DevicePeer


@dataclass
class PrintedLine:
    text: str
    bold: bool = False
    align: str = "left"


@dataclass
class Receipt:
    """What came out between two cuts."""

    lines: list[PrintedLine] = field(default_factory=list)
    qr: list[str] = field(default_factory=list)
    #: "partial" / "full" once cut; None while still on the roll
    cut: str | None = None

    @property
    def text(self) -> list[str]:
        return [line.text for line in self.lines]


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
        self._kanji_default = kanji_default
        self.kanji = kanji_default
        self.bold = False
        self.align = Justification.LEFT
        self._line = b""
        self._qr_data: bytes | None = None
        self._buf = b""
        #: commands received while the printer could not print
        self.held: list[Command] = []
        self.current = Receipt()
        self.receipts: list[Receipt] = []
        self.failed_cuts = 0
        self.decode_errors = 0
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
    def printed_lines(self) -> list[str]:
        """Every line printed so far, across receipts."""
        return [t for r in self.receipts for t in r.text] + self.current.text

    def status_byte(self, n: StatusType) -> int:
        """The DLE EOT n reply for the current state (protocols.md simulator table)."""
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
        self._buf += data
        replies: list[bytes] = []
        while self._buf:
            try:
                cmd, rest = decode_command(self._buf)
            except FrameError:
                # a real printer ignores what it does not understand; skip a byte and go on
                self.decode_errors += 1
                self._buf = self._buf[1:]
                continue
            if cmd is None:
                break
            self._buf = rest
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
                self._line = b""
        return self._resume()

    def _resume(self) -> list[bytes]:
        replies: list[bytes] = []
        while self.held and self.can_print:
            replies += self._execute(self.held.pop(0))
        return replies

    def _execute(self, cmd: Command) -> list[bytes]:
        if isinstance(cmd, Text):
            self._line += cmd.data
        elif isinstance(cmd, LineFeed):
            self._print_line()
        elif isinstance(cmd, FeedLinesCommand):
            if self._line:
                self._print_line()
        elif isinstance(cmd, InitializeCommand):
            self.bold, self.align, self.kanji, self._line = False, Justification.LEFT, self._kanji_default, b""
        elif isinstance(cmd, EmphasizeCommand):
            self.bold = cmd.on
        elif isinstance(cmd, JustifyCommand):
            self.align = cmd.justification
        elif isinstance(cmd, KanjiModeCommand):
            self.kanji = cmd.on
        elif isinstance(cmd, QrStoreCommand):
            self._qr_data = cmd.data
        elif isinstance(cmd, QrPrintCommand):
            if self._qr_data is not None:
                self.current.qr.append(self._qr_data.decode("utf-8", errors="replace"))
        elif isinstance(cmd, CutCommand):
            self._cut(cmd)
        elif isinstance(cmd, PaperSensorRequest):
            return [bytes([self.paper_sensor_byte()])]
        elif isinstance(cmd, CodeTableCommand | CarriageReturn | QrModelCommand | QrModuleSizeCommand
                        | QrErrorCorrectionCommand):
            pass
        return []

    def _print_line(self) -> None:
        codec = "gb18030" if self.kanji else "cp437"
        text = self._line.decode(codec, errors="replace")
        self.current.lines.append(PrintedLine(text, self.bold, self.align.name.lower()))
        self._line = b""

    def _cut(self, cmd: CutCommand) -> None:
        if self._line:
            self._print_line()
        if self.cutter_jammed:
            self.cutter_error = True
            self.failed_cuts += 1
            return
        self.current.cut = "partial" if cmd.partial else "full"
        self.receipts.append(self.current)
        self.current = Receipt()

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
            }
