"""CrtCardReaderDriver: a motorised UnionPay card module (CRT-591/CRT-310 family) over serial.

Option ``link``: ``"crt591"`` (default, the CRT-591 M001 framing) or ``"crt310"`` (the CRT-310's
own protocol, :mod:`.link310`: card position, moves, entry and reset; no chip read, so the
``read`` operation is unsupported there; docs/hardware.md).

Events emitted (``ctx.emit(kind, data)``), none carrying card data beyond the masked PAN:

* ``card_inserted`` ``{"card_position"}``: a card appeared (none -> at_gate/inside);
* ``card_removed`` ``{}``: the card is gone (taken at the gate);
* ``card_read`` ``{"pan_masked", "pan_token", "expiry", "aid", "card_type", "app_label"}``;
* ``card_read_failed`` ``{"reason"}``: a card was there but could not be read;
* ``card_ejected`` ``{}`` and ``card_retained`` ``{"retain_count"}``.

Operations: ``read``, ``eject``, ``retain``, ``enable`` / ``disable`` (card entry), ``reset``
(INIT leaving any card). The full PAN exists only inside :meth:`_read_chip` and is masked and
tokenised there; it never reaches an attribute, a log line, an event or an exception.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

import structlog

from drivers.base.device import DeviceDriver, DeviceSpec, DriverContext
from drivers.base.errors import DeviceRefused, DriverError, ProtocolError, UnsupportedCommand
from drivers.base.health import (
    Action,
    DeviceStatus,
    SelftestLevel,
    SelftestOutcome,
    SelftestResult,
)
from drivers.base.options import Option, in_range, one_of, positive
from drivers.base.sensitive import mask_pan, pan_token
from drivers.card_reader import emv, health
from drivers.card_reader import messages as msg
from drivers.card_reader.apdu import CommandApdu, ResponseApdu, transceive
from drivers.card_reader.constants import (
    ACK_TIMEOUT_S,
    CARD_IO_TIMEOUT_S,
    DEFAULT_ADDR,
    DEFAULT_BAUDRATE,
    INIT_TIMEOUT_S,
    MOVE_TIMEOUT_S,
    QUICK_TIMEOUT_S,
    CpuSti,
    ErrorCode,
    InitPm,
    MovePm,
    St0,
)
from drivers.card_reader.health import CardPosition, RetainBin
from drivers.card_reader.link import CrtLink
from drivers.card_reader.link310 import Crt310Link

log = structlog.get_logger(__name__)

#: 8N1, no parity (M001 §1.1.1); the baud rate comes from the device section (default 9600)
LINE_SETTINGS: dict[str, Any] = {"bytesize": 8, "parity": "N", "stopbits": 1}

class CrtCardReaderDriver(DeviceDriver):
    device_class = "card_reader"
    options_schema: ClassVar[Mapping[str, Option]] = {
        "address": Option(int, in_range(0, 15), "must be 0..15 (the module's DIP switches)"),
        "ack_timeout_s": Option(float, positive, "must be > 0"),
        "retain_bin_capacity": Option(int, in_range(1, 999), "must be 1..999"),
        "retain_bin_high_pct": Option(int, in_range(1, 100), "must be 1..100"),
        "interactive_timeout_s": Option(float, positive, "must be > 0"),
        "accept_cards": Option(bool),
        "link": Option(str, one_of("crt591", "crt310"), "one of crt591, crt310"),
    }
    option_rules = (
        lambda options, cls: ["address: the CRT-310 link has no address byte"]
        if options.get("link") == "crt310" and "address" in options else [],
    )

    def __init__(self, spec: DeviceSpec, ctx: DriverContext) -> None:
        super().__init__(spec, ctx)
        opts = spec.options
        self.baudrate = spec.baudrate or DEFAULT_BAUDRATE
        # built here, opened by open(): the link keeps the same transport across reopens
        self._transport = self.new_transport({"baudrate": self.baudrate, **LINE_SETTINGS})
        # the wire protocol: CRT-591 (default) or the CRT-310's own (docs/hardware.md)
        link_cls = Crt310Link if opts.get("link") == "crt310" else CrtLink
        self._link = link_cls(self._transport, addr=int(opts.get("address", DEFAULT_ADDR)), clock=ctx.clock,
                             ack_timeout_s=float(opts.get("ack_timeout_s", ACK_TIMEOUT_S)),
                             counters=self._counters)
        self._capacity = int(opts.get("retain_bin_capacity", 50))
        self._high_pct = int(opts.get("retain_bin_high_pct", 80))
        self._interactive_timeout_s = float(opts.get("interactive_timeout_s", 60.0))
        self._accept_cards = bool(opts.get("accept_cards", True))
        self._position: CardPosition | None = None
        self._bin_count: int | None = None
        self._bin_counter_supported = True
        self._bin_state = RetainBin.UNKNOWN
        self._log = log.bind(device=spec.name, device_class=self.device_class)

    # -- lifecycle -----------------------------------------------------------------------
    def open(self) -> None:
        with self.lock:
            self._transport.open()
            self._initialize()
            self._read_bin_counter()

    def close(self) -> None:
        with self.lock:
            self._link.clear()
            self._transport.close()

    # -- link helpers --------------------------------------------------------------------
    def _command(self, command: msg.Command, timeout_s: float, *, reinit: bool = False) -> msg.Reply:
        """One exchange; with ``reinit``, a "not reset" (B0) answer re-initialises and retries
        once (only for commands that move nothing, as the vendor advises)."""
        reply = self._link.exchange(command, timeout_s)
        if reinit and isinstance(reply, msg.NegativeReply) and reply.error == ErrorCode.NOT_RESET:
            self._log.warning("card_module_reinitialised", reason="not_reset")
            self._initialize()
            reply = self._link.exchange(command, timeout_s)
        return reply

    def _initialize(self, pm: InitPm = InitPm.NO_MOVE) -> msg.Reply:
        """INIT, then card entry again (INIT disables it, M001 §3.1.1) when cards are accepted."""
        reply = self._link.exchange(msg.initialize(pm), INIT_TIMEOUT_S)
        if isinstance(reply, msg.NegativeReply):
            self._log.warning("card_module_init_failed", error=reply.error)
        elif self._accept_cards:
            self._link.exchange(msg.card_entry(True), QUICK_TIMEOUT_S)
        return reply

    def _read_bin_counter(self) -> None:
        if not self._bin_counter_supported:
            return
        reply = self._command(msg.bin_counter_read(), QUICK_TIMEOUT_S, reinit=True)
        if isinstance(reply, msg.PositiveReply):
            self._bin_count = msg.decode_bin_counter(reply.data)
            return
        self._bin_count = None
        if reply.error in (ErrorCode.UNDEFINED_COMMAND, ErrorCode.OUT_OF_HARDWARE_SUPPORT):
            self._bin_counter_supported = False  # this model has no counter: st2 alone says "full"
            self._log.info("retain_bin_counter_unsupported", error=reply.error)

    def _require_positive(self, reply: msg.Reply, what: str) -> msg.PositiveReply:
        if isinstance(reply, msg.PositiveReply):
            return reply
        _, fault = health.fault_for_error(reply.error)
        raise DeviceRefused(fault.code, f"{what} refused by the module (e={reply.error})")

    # -- poll ----------------------------------------------------------------------------
    def poll(self) -> DeviceStatus:
        with self.lock:
            reply = self._command(msg.status_request(), QUICK_TIMEOUT_S, reinit=True)
            if isinstance(reply, msg.NegativeReply):
                return health.status_error(reply.error, self._bin_state)
            chip_active = False
            if reply.status.card_position is St0.CARD_AT_IC_RF and self._link.chip_commands:
                cpu = self._command(msg.cpu_status_check(), QUICK_TIMEOUT_S)
                if isinstance(cpu, msg.PositiveReply) and cpu.data:
                    chip_active = msg.decode_cpu_status(cpu.data) != CpuSti.NOT_ACTIVATED
            if self._bin_count is None:
                self._read_bin_counter()
            self._bin_state = health.retain_bin(reply.status, self._bin_count, self._capacity, self._high_pct)
            status = health.status_ok(reply.status, chip_active, self._bin_state, self._bin_count)
            self._track_position(health.card_position(reply.status, chip_active))
            return status

    @property
    def poll_interval_s(self) -> float:
        """Poll faster while a card waits at the gate, so ``card_removed`` follows the customer."""
        if self._position is CardPosition.AT_GATE:
            return min(self.spec.poll_interval_s, 0.5)
        return self.spec.poll_interval_s

    def _track_position(self, position: CardPosition) -> None:
        previous, self._position = self._position, position
        if previous is None or position is CardPosition.UNKNOWN or previous is CardPosition.UNKNOWN:
            return
        if previous is CardPosition.NONE and position is not CardPosition.NONE:
            self._log.info("card_inserted", card_position=position.value)
            self.ctx.emit("card_inserted", {"card_position": position.value})
        elif previous is not CardPosition.NONE and position is CardPosition.NONE:
            self._log.info("card_removed")
            self.ctx.emit("card_removed", {})

    def _card_status(self) -> msg.PositiveReply:
        reply = self._require_positive(self._command(msg.status_request(), QUICK_TIMEOUT_S, reinit=True),
                                       "status")
        self._track_position(health.card_position(reply.status, False))
        return reply

    # -- operations ----------------------------------------------------------------------
    def operation(self, op: str, args: Mapping[str, Any]) -> dict[str, Any]:
        handlers = {"read": self._read, "eject": self._eject, "retain": self._retain,
                    "enable": lambda: self._entry(True), "disable": lambda: self._entry(False),
                    "reset": self._reset}
        handler = handlers.get(op)
        if handler is None:
            raise UnsupportedCommand(f"card_reader has no operation {op!r}")
        if args:
            raise ProtocolError(f"operation {op!r} takes no arguments")
        with self.lock:
            return handler()

    def _entry(self, enable: bool) -> dict[str, Any]:
        self._require_positive(self._command(msg.card_entry(enable), QUICK_TIMEOUT_S, reinit=True), "card entry")
        return {"card_entry": "enabled" if enable else "disabled"}

    def _reset(self) -> dict[str, Any]:
        self._require_positive(self._initialize(), "initialize")
        return {"reset": True}

    def _eject(self) -> dict[str, Any]:
        status = self._card_status().status
        if status.card_position is St0.NO_CARD:
            raise DeviceRefused("no_card", "no card in the module")
        self._power_down()
        self._require_positive(self._command(msg.card_move(MovePm.HOLDING), MOVE_TIMEOUT_S), "eject")
        self._track_position(CardPosition.AT_GATE)
        self.count("ejects")
        self.ctx.emit("card_ejected", {})
        self._log.info("card_ejected")
        return {"card_position": CardPosition.AT_GATE.value}

    def _retain(self) -> dict[str, Any]:
        status = self._card_status().status
        if status.card_position is St0.NO_CARD:
            raise DeviceRefused("no_card", "no card in the module")
        if status.bin_full:
            raise DeviceRefused("retain_bin_full", "retain bin is full")
        self._power_down()
        self._require_positive(self._command(msg.card_move(MovePm.ERROR_BIN), MOVE_TIMEOUT_S), "retain")
        self.count("retracts")
        self._position = CardPosition.NONE  # captured, not taken: no card_removed event
        self._read_bin_counter()
        count = self._bin_count
        self.ctx.emit("card_retained", {"retain_count": count})
        self._log.warning("card_retained", retain_count=count)
        if self._accept_cards:
            self._command(msg.card_entry(True), QUICK_TIMEOUT_S)
        return {"retained": True, "retain_count": count}

    def _power_down(self) -> None:
        if not self._link.chip_commands:
            return  # no chip commands on this link: nothing was powered
        try:
            self._link.exchange(msg.cpu_power_down(), QUICK_TIMEOUT_S)
        except DriverError as exc:
            self._log.warning("chip_power_down_failed", error=str(exc))

    def _read(self) -> dict[str, Any]:
        if not self._link.chip_commands:
            raise UnsupportedCommand("chip read is not implemented on the CRT-310 link (docs/hardware.md)")
        status = self._card_status().status
        if status.card_position is St0.NO_CARD:
            raise DeviceRefused("no_card", "no card in the module")
        if status.card_position is St0.CARD_AT_GATE:
            self._require_positive(self._command(msg.card_move(MovePm.IC_POSITION), MOVE_TIMEOUT_S),
                                   "move to IC position")
        reset = self._command(msg.cpu_cold_reset(), CARD_IO_TIMEOUT_S)
        if isinstance(reset, msg.NegativeReply):
            self._read_failed("chip_failure")
            raise DeviceRefused("chip_failure", f"chip did not answer to reset (e={reset.error})")
        try:
            outcome = self._read_chip(msg.decode_chip_reset(reset.data).protocol)
        finally:
            self._power_down()
            self._link.clear()
        if isinstance(outcome, tuple):
            error_type, code, message = outcome
            self._read_failed(code)
            if error_type is None:
                raise DeviceRefused(code, message)
            raise error_type(message)
        self.count("reads")
        self._log.info("card_read", pan_masked=outcome["pan_masked"], card_type=outcome["card_type"],
                       aid=outcome["aid"])
        self.ctx.emit("card_read", dict(outcome))
        return outcome

    def _read_chip(self, protocol: Any) -> dict[str, Any] | tuple[type[DriverError] | None, str, str]:
        """Run the EMV flow and turn the PAN into mask + token before returning.

        Failures come back as ``(error type or None for a refusal, code, message)`` so they
        are raised by the caller outside this frame and outside an ``except`` block: the raised
        exception then holds no traceback or context reaching card data.
        """
        def send(raw: bytes) -> bytes:
            reply = self._link.exchange(msg.cpu_apdu(raw, protocol), CARD_IO_TIMEOUT_S)
            if isinstance(reply, msg.NegativeReply):
                raise emv.EmvError("chip_failure", f"chip exchange failed (e={reply.error})")
            return reply.data

        def transmit(command: CommandApdu) -> ResponseApdu:
            return transceive(send, command)

        now = self.ctx.clock.now()
        terminal = emv.TerminalData(date=bytes.fromhex(now.strftime("%y%m%d")),
                                    time=bytes.fromhex(now.strftime("%H%M%S")),
                                    unpredictable_number=os.urandom(4))
        try:
            card = emv.read_card(transmit, terminal)
        except emv.EmvError as exc:
            return None, exc.code, str(exc)
        except DriverError as exc:
            return type(exc), "link_error", str(exc)
        result = {"pan_masked": mask_pan(card.pan), "pan_token": pan_token(self.ctx.token_key, card.pan),
                  "expiry": card.expiry, "aid": card.aid.hex().upper(), "card_type": card.card_type,
                  "app_label": card.label}
        del card
        return result

    def _read_failed(self, reason: str) -> None:
        self.count("read_failures")
        self._log.warning("card_read_failed", reason=reason)
        self.ctx.emit("card_read_failed", {"reason": reason})

    # -- self-test -----------------------------------------------------------------------
    def selftest(self, level: SelftestLevel) -> SelftestResult:
        started = self.ctx.clock.monotonic()
        try:
            if level is SelftestLevel.INTERACTIVE:
                return self._selftest_interactive(started)  # locks per exchange: polls go on meanwhile
            with self.lock:
                if level is SelftestLevel.EXTERNAL:
                    self._require_positive(self._initialize(), "initialize")
                status = self.poll()
        except DeviceRefused as exc:
            return SelftestResult(level, SelftestOutcome.FAIL, str(exc), exc.code, Action.RESET,
                                  self.ctx.clock.monotonic() - started)
        except DriverError as exc:
            return SelftestResult(level, SelftestOutcome.FAIL, str(exc), type(exc).__name__,
                                  Action.CHECK_CONNECTION, self.ctx.clock.monotonic() - started)
        outcome = SelftestOutcome.PASS if status.state.usable else SelftestOutcome.FAIL
        reason = "ok" if outcome is SelftestOutcome.PASS else ", ".join(status.fault_codes)
        return SelftestResult(level, outcome, reason, str(status.detail.get("st", status.detail.get("error", ""))),
                              status.action, self.ctx.clock.monotonic() - started, dict(status.detail))

    def _selftest_interactive(self, started: float) -> SelftestResult:
        self.ctx.prompt("请插入银行卡 / Insert a bank card")
        with self.lock:
            self._entry(True)
        clock = self.ctx.clock
        deadline = clock.monotonic() + self._interactive_timeout_s
        while True:
            with self.lock:
                if self._card_status().status.card_position is not St0.NO_CARD:
                    break
            if clock.monotonic() >= deadline:
                return SelftestResult(SelftestLevel.INTERACTIVE, SelftestOutcome.FAIL, "no card inserted",
                                      "no_card", Action.NONE, self.ctx.clock.monotonic() - started)
            clock.sleep(0.2)
        with self.lock:
            result = self._read()
        return SelftestResult(SelftestLevel.INTERACTIVE, SelftestOutcome.PASS, "card read", "",
                              Action.NONE, self.ctx.clock.monotonic() - started,
                              {k: result[k] for k in ("pan_masked", "card_type", "aid", "expiry")})
