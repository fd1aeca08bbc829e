"""EscposDriver: an ESC/POS thermal receipt printer over a serial URL or USB bulk endpoints.

Status (``poll``): DLE EOT 1, 2, 3, 4, one request at a time. Each reply is exactly one byte
with the fixed bits ``b & 0x93 == 0x12``; ASB blocks the printer pushes on its own are
recognised by their fixed bits and set aside. A request answered by nothing is a
DeviceTimeout (never "paper adequate", the python-escpos mistake); a reply window holding a
byte with the fixed bits wrong, or more than one status byte, is a FrameError. Both are
retried ``retries`` times, then raised: the poller decides ``offline``.

Print + cut + verify (Epson ESC/POS Command Reference: DLE EOT https://download4.epson.biz/sec_pubs/pos/reference_en/escpos/dle_eot.html,
GS r https://download4.epson.biz/sec_pubs/pos/reference_en/escpos/gs_lr.html, DLE ENQ https://download4.epson.biz/sec_pubs/pos/reference_en/escpos/dle_enq.html):

1. DLE EOT 1..4; refuse (DeviceRefused) when paper is out, the cover open or an error active;
2. ESC @, the character setup, the receipt, GS V 65/66 0 (feed to the cutter and cut);
3. GS r 1 as a barrier: it is queued behind the data, so its answer means the printer has
   processed the receipt (ESC/POS has no "printed OK"; this is the closest it gets);
4. DLE EOT 1..4 again: an autocutter error means the cut failed (DLE ENQ 2 once, re-check);
   paper out / cover open / an error with no barrier answer means the receipt did not print.

Every transport exchange holds ``self.lock``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import structlog

from drivers.base.device import DeviceDriver, DeviceSpec, DriverContext
from drivers.base.errors import (
    DeviceRefused,
    DeviceTimeout,
    DriverError,
    FrameError,
    ProtocolError,
    TransportError,
)
from drivers.base.health import DeviceStatus, SelftestLevel, SelftestResult
from drivers.base.io import Transport, read_until
from drivers.base.options import Option
from drivers.receipt_printer import selftest as _selftest
from drivers.receipt_printer.blocks import Block, print_request
from drivers.receipt_printer.commands import PaperSensorRequest, RecoverCommand, StatusRequest
from drivers.receipt_printer.constants import (
    BAUDRATE,
    BYTESIZE,
    PARITY,
    STOPBITS,
    ErrorCause,
    RecoverRequest,
    StatusType,
)
from drivers.receipt_printer.health import BLOCKING_FAULTS, FAULT_COVER_OPEN, FAULTS, RECOVERABLE_FAULTS, health_of
from drivers.receipt_printer.layout import layout
from drivers.receipt_printer.receipt import OPTION_CHECKS, PrinterOptions, encode_all, setup_commands
from drivers.receipt_printer.status import (
    AsbStatus,
    RealTimeStatus,
    StatusByte,
    decode_asb,
    decode_paper_sensor,
    decode_reply,
)

log = structlog.get_logger(__name__)

__all__ = ["EscposDriver"]

#: a reply byte is followed by this much silence before the window is judged (inter-byte gap)
_QUIET_S = 0.02
#: after a failed exchange, stale bytes are drained until the line is quiet this long
_DRAIN_QUIET_S = 0.05
#: bound on the drain (a device streaming garbage must not hold the driver forever)
_DRAIN_MAX_READS = 20
#: a read that only collects what is already there
_POLL_S = 0.001

#: confirm_slip(check_code) -> True (the engineer confirms), False (rejects), None (no answer)
ConfirmFn = Callable[[str], bool | None]


class EscposDriver(DeviceDriver):
    """ESC/POS receipt printer (registered as ``receipt_printer`` / ``escpos``)."""

    device_class: ClassVar[str] = "receipt_printer"
    #: extra attempts for a status request that timed out or came back corrupt
    retries: ClassVar[int] = 2
    #: every key is known here; PrinterOptions checks the values (its messages quote the value)
    options_schema: ClassVar[Mapping[str, Option]] = {key: Option() for key in OPTION_CHECKS}
    option_rules = (lambda options, cls: PrinterOptions.value_problems(options),)

    def __init__(self, spec: DeviceSpec, ctx: DriverContext) -> None:
        super().__init__(spec, ctx)
        self.options = PrinterOptions.from_mapping(spec.options)
        self._transport: Transport | None = None
        self._stale = False
        self._faults: frozenset[str] = frozenset()
        self.last_status: RealTimeStatus | None = None
        #: where the interactive self-test gets the engineer's confirmation; replaceable
        self.confirm_slip: ConfirmFn = self._confirm_by_prompt
        self._log = log.bind(device=spec.name, device_class=self.device_class)

    # -- lifecycle -------------------------------------------------------------------------
    def line_settings(self) -> dict[str, Any]:
        """115200 8N1 unless the config names another baud rate (USB and TCP ignore it)."""
        return {"baudrate": self.spec.baudrate or BAUDRATE, "bytesize": BYTESIZE, "parity": PARITY,
                "stopbits": STOPBITS}

    def open(self) -> None:
        with self.lock:
            self.close()
            transport = self.new_transport(self.line_settings())
            transport.open()
            self._transport = transport
            self._stale = False
            self._log.info("printer_port_opened", port=self.spec.port)

    def close(self) -> None:
        with self.lock:
            transport, self._transport = self._transport, None
            if transport is not None:
                transport.close()

    def _port(self) -> Transport:
        if self._transport is None or not self._transport.is_open:
            raise TransportError(f"{self.spec.port} is not open")
        return self._transport

    # -- exchanges -------------------------------------------------------------------------
    def _read_window(self, first_timeout_s: float) -> bytes:
        """The bytes of one reply: the first within ``first_timeout_s``, then until the line has
        been quiet for ``_QUIET_S`` (bounded by the same deadline)."""
        buf = bytearray()

        def step(chunk: bytes) -> bytes | None:
            if chunk:
                buf.extend(chunk)
                return None
            return bytes(buf) if buf else None  # silence after something: the window is closed

        return read_until(self._port(), step, self.deadline(first_timeout_s), size=64,
                          slice_s=_QUIET_S) or bytes(buf)

    def _read_until_quiet(self, quiet_s: float, max_reads: int) -> None:
        """Discard what arrives until a read of ``quiet_s`` brings nothing (at most ``max_reads``)."""
        reads = 0

        def step(chunk: bytes) -> bool | None:
            nonlocal reads
            reads += 1
            return True if not chunk or reads >= max_reads else None

        read_until(self._port(), step, self.deadline(quiet_s * max_reads), size=256, slice_s=quiet_s)

    def _drain(self) -> None:
        """After a failed exchange: discard what arrives until the line has been quiet a while."""
        self._read_until_quiet(_DRAIN_QUIET_S, _DRAIN_MAX_READS)
        self._stale = False

    def _discard_input(self) -> None:
        """Drop bytes already received. Reads instead of ``reset_input()``: pyserial's
        ``reset_input_buffer`` raises ``termios.error`` (not an OSError) on a vanished pty, and a
        USB transport's reset does not reach replies still queued on the IN endpoint."""
        self._read_until_quiet(_POLL_S, 64)

    def _status_byte(self, window: bytes) -> int:
        """The one DLE EOT reply in a window (ASB blocks set aside). Raises FrameError."""
        found: list[int] = []
        buf = window
        while buf:
            reply, buf = decode_reply(buf)
            if reply is None:
                raise FrameError(f"reply cut short: {window.hex(' ')}")
            if isinstance(reply, AsbStatus):
                self._log.debug("printer_asb", asb=reply.data.hex(" "), fields=str(decode_asb(reply)))
            elif isinstance(reply, StatusByte):
                found.append(reply.value)
        if len(found) != 1:
            raise FrameError(f"expected one status byte, got {len(found)}: {window.hex(' ')}")
        return found[0]

    def _query_once(self, n: StatusType) -> int:
        port = self._port()
        if self._stale:
            self._drain()
        self._discard_input()
        port.write(StatusRequest(n).encode())
        window = self._read_window(self.spec.timeout_s)
        if not window:
            raise DeviceTimeout(f"no answer to DLE EOT {int(n)} within {self.spec.timeout_s:.3f}s")
        self._log.debug("printer_rx", n=int(n), rx=window.hex(" "))
        return self._status_byte(window)

    def query(self, n: StatusType) -> int:
        """DLE EOT ``n`` -> the reply byte, with retries.

        Raises:
            DeviceTimeout: no answer after every attempt.
            FrameError: the last answer was corrupt.
            TransportError: the port failed.
        """
        with self.lock:
            for attempt in range(self.retries + 1):
                try:
                    return self._query_once(n)
                except (DeviceTimeout, FrameError) as exc:
                    self._stale = True
                    self.count("communication_errors")
                    self._log.debug("printer_status_retry", n=int(n), attempt=attempt, error=str(exc))
                    if attempt == self.retries:
                        raise
        raise AssertionError("unreachable")

    def read_status(self) -> RealTimeStatus:
        """DLE EOT 1..4 as one typed status (raises like :meth:`query`)."""
        with self.lock:
            raw = [self.query(n) for n in StatusType]
        return RealTimeStatus.from_bytes(*raw)

    def _write(self, data: bytes) -> None:
        self._log.debug("printer_tx", n_bytes=len(data))
        self._port().write(data)

    # -- status ----------------------------------------------------------------------------
    def poll(self) -> DeviceStatus:
        with self.lock:
            return self._track(self.read_status())

    def _track(self, rts: RealTimeStatus) -> DeviceStatus:
        status = health_of(rts)
        codes = frozenset(status.fault_codes)
        for code in sorted(codes - self._faults):
            if code == FAULT_COVER_OPEN:
                self.count("cover_open")
            if code in BLOCKING_FAULTS:
                self.count("printer_faults")
            self._log.warning("printer_fault_raised", fault=code, action=FAULTS[code][0].value, code=rts.code)
        for code in sorted(self._faults - codes):
            self._log.info("printer_fault_cleared", fault=code)
        self._faults = codes
        self.last_status = rts
        return status

    def recover(self, clear_buffers: bool = True) -> DeviceStatus:
        """DLE ENQ 2 (or 1) after a recoverable error (cutter / mechanical), then re-poll."""
        req = RecoverRequest.RECOVER_CLEAR_BUFFERS if clear_buffers else RecoverRequest.RECOVER_RESTART
        with self.lock:
            self._write(RecoverCommand(req).encode())
            status = self.poll()
        self._log.info("printer_recover_sent", n=int(req), faults=status.fault_codes)
        return status

    # -- operations ------------------------------------------------------------------------
    def operation(self, op: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """``print`` {blocks} or {lines, qr, cut} -> {printed, lines, cut, faults};
        ``status`` -> {state, faults, detail}; ``recover`` (DLE ENQ 2, then DLE EOT 1..4) -> {state, faults}."""
        try:
            if op == "print":
                return self.print_blocks(print_request(args, self.options))
            if op == "status":
                if args:
                    raise ValueError("status takes no arguments")
                status = self.poll()
                return {"state": status.state.value, "faults": status.fault_codes, "detail": dict(status.detail)}
            if op == "recover":
                if args:
                    raise ValueError("recover takes no arguments")
                status = self.recover()
                return {"state": status.state.value, "faults": status.fault_codes}
        except FrameError as exc:
            # FrameError is also a ValueError; to the API it is a device failure, not a bad body
            raise ProtocolError(f"corrupt status reply: {exc}") from exc
        return super().operation(op, args)

    def print_blocks(self, blocks: list[Block]) -> dict[str, Any]:
        """Check, print, cut, verify. Raises DeviceRefused before sending anything when a fault
        forbids printing."""
        out = layout(blocks)
        cut = out.cuts > 0
        what = {"device": self.name, "lines": out.lines, "qr": out.qr_codes > 0, "barcodes": out.barcodes,
                "images": out.images, "cut_requested": cut}
        with self.lock:
            before = self.poll()
            blocking = [f for f in before.faults if f.code in BLOCKING_FAULTS]
            if blocking:
                raise DeviceRefused(blocking[0].code, f"{self.name}: cannot print: {blocking[0].text}")
            self._write(encode_all(setup_commands(self.options) + out.commands) + PaperSensorRequest().encode())
            try:
                result = self._verify(out.lines, cut)
            except DriverError as exc:
                # the data went out but the printer stopped answering: nobody knows what printed
                self.ctx.emit("receipt_unverified", {**what, "error": type(exc).__name__})
                raise
        kind = "receipt_printed" if result["printed"] else "receipt_failed"
        self.ctx.emit(kind, {**what, "lines": result["lines"], "cut": result["cut"], "faults": result["faults"]})
        return result

    def _verify(self, n_lines: int, cut: bool) -> dict[str, Any]:
        """Steps 3-5 of the flow: barrier, status, cut check (DLE ENQ 2 once on a failed cut)."""
        barrier = self._barrier()
        after = self.poll()
        cut_ok = cut
        rts = self.last_status
        if cut and rts is not None and rts.error_cause & ErrorCause.AUTOCUTTER_ERROR:
            cut_ok = False
            self.count("failed_paper_cuts")
            self._log.warning("printer_cut_failed", code=rts.code)
            after = self.recover()
        elif cut:
            self.count("paper_cuts")
        stopped = [f.code for f in after.faults if f.code in BLOCKING_FAULTS and f.code not in RECOVERABLE_FAULTS]
        printed = barrier or not stopped
        if printed:
            self.count("receipts_printed")
            self.count("lines_printed", n_lines)
        return {"printed": printed, "lines": n_lines if printed else 0, "cut": cut_ok and printed,
                "faults": after.fault_codes}

    def _barrier(self) -> bool:
        """Wait for the GS r 1 answer: True when the printer processed everything before it."""
        window = self._read_window(self.options.print_timeout_s)
        if not window:
            self._log.warning("printer_barrier_timeout", timeout_s=self.options.print_timeout_s)
            self._stale = True
            return False
        try:
            decode_paper_sensor(window[-1])
        except FrameError:
            self._stale = True
            return False
        return True

    # -- self-test -------------------------------------------------------------------------
    def selftest(self, level: SelftestLevel) -> SelftestResult:
        return _selftest.run(self, level)

    def new_check_code(self) -> str:
        return f"{secrets.randbelow(10000):04d}"

    def _confirm_by_prompt(self, check_code: str) -> bool | None:
        """Ask through ``ctx.prompt``. A prompt that returns the engineer's answer (True/False,
        "yes"/"no" or the check code read off the slip) decides; ``None`` means no answer."""
        answer: Any = self.ctx.prompt(
            f"{self.name}: a test slip was printed. Does it show check code {check_code}, "
            "with clean text, a solid black bar without white streaks, a barcode and a QR code that scan, "
            "and a clean cut? Answer with the check code.")
        if answer is None:
            return None
        if isinstance(answer, bool):
            return answer
        text = str(answer).strip().lower()
        return text in (check_code, "y", "yes")
