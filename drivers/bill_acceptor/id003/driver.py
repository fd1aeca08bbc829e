"""Id003Driver: JCM ID003 over a serial port (9600 8E1), host-polled.

Request/response only: the host sends one frame and the acceptor answers one frame, except the
host's ACK of VEND_VALID, which is not answered. Every exchange holds ``self.lock``.

What ``poll()`` does with each status (the session sequence of protocols.md 3a):

* POWER_UP (with a note inside: ``note_reconcile`` first) -> RESET;
* INITIALIZE -> the settings (SET_DENOM, SET_SECURITY, SET_OPT_FUNC, SET_INHIBIT), once per reset;
* IDLING / DISABLE -> the note in flight is settled; the inhibit setting is brought in line with
  what the host wants (``enable`` / ``disable``);
* ESCROW -> STACK-1 when the code is known, accepted and acceptance is enabled, else RETURN;
* VEND_VALID -> ``note_stacked`` is journalled (``emit`` returns), THEN the ACK is sent; when
  ``emit`` raises, no ACK: the acceptor reports VEND_VALID again and the same note is emitted
  again with the same ``note_id``;
* REJECTING -> ``note_rejected``; RETURNING -> ``note_returned``.

Link recovery: a reply not complete within ``spec.timeout_s`` is retried (status and setting
requests only; STACK-1 / RETURN are re-decided on the next poll from the reported status);
garbage before a reply and frames cut short are skipped by resynchronising on the next SYNC;
replies that do not fit the request (a late answer to an earlier one) are discarded.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar, TypeVar

import structlog

from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import DeviceRefused, DeviceTimeout, DriverError, FrameError, ProtocolError, TransportError
from drivers.base.health import (
    Action,
    DeviceState,
    DeviceStatus,
    Fault,
    SelftestLevel,
    SelftestResult,
    Severity,
)
from drivers.base.transport import Transport, open_transport
from drivers.bill_acceptor.api import (
    FAST_POLL_INTERVAL_S,
    FAULT_CREDIT_PENDING,
    FAULT_EVENT_PENDING,
    FAULT_PAUSED,
    BillAcceptor,
    format_code,
)
from drivers.bill_acceptor.id003 import selftest as _selftest
from drivers.bill_acceptor.id003.constants import (
    BAUDRATE,
    BYTESIZE,
    DEFAULT_RMB_DENOMINATIONS,
    PARITY,
    STOPBITS,
    Command,
    RejectReason,
    Status,
)
from drivers.bill_acceptor.id003.frames import Frame, new_decoder
from drivers.bill_acceptor.id003.health import NOTE_STATUSES, health_of
from drivers.bill_acceptor.id003.messages import (
    AckCommand,
    AckReply,
    Reply,
    ResetCommand,
    ReturnCommand,
    SettingCommand,
    SettingReply,
    Stack1Command,
    StatusReply,
    StatusRequest,
    VersionReply,
    VersionRequest,
    decode_reply,
)

log = structlog.get_logger(__name__)

__all__ = ["Id003Driver"]

R = TypeVar("R", StatusReply, AckReply, SettingReply, VersionReply)

#: silence after a partial frame that means the rest is not coming (ID003 inter-byte ~50 ms)
_INTER_BYTE_S = 0.1
#: faults that do not forbid enabling acceptance
_HARMLESS_FAULTS = frozenset({FAULT_PAUSED})
_COUNT_ON_ENTRY = {
    Status.ACCEPTOR_JAM: "jams",
    Status.STACKER_JAM: "jams",
    Status.STACKER_OPEN: "cassette_removals",
    Status.STACKER_FULL: "cassette_full",
    Status.CHEATED: "fraud_attempts",
    Status.FAILURE: "failures",
}


def _is_pty(port: str) -> bool:
    """Whether ``port`` is (a symlink to) a Unix98 pseudo-terminal."""
    return os.path.realpath(port).startswith("/dev/pts/")


class Id003Driver(BillAcceptor):
    """JCM ID003 bill acceptor (registered as ``bill_acceptor`` / ``id003``)."""

    default_denominations: ClassVar[dict[int, int]] = DEFAULT_RMB_DENOMINATIONS
    #: extra attempts for idempotent requests (status, settings, version)
    retries: ClassVar[int] = 2
    #: how long the external self-test waits for the acceptor to come back from RESET
    reset_timeout_s: ClassVar[float] = 15.0

    def __init__(self, spec: DeviceSpec, ctx: DriverContext) -> None:
        super().__init__(spec, ctx)
        self._transport: Transport | None = None
        self._decoder = new_decoder()
        self._last: StatusReply | None = None
        #: settings sent since the last power-up / reset
        self._configured = False
        self.version: str | None = None
        self._log = log.bind(device=spec.name, device_class=self.device_class)

    # -- lifecycle -------------------------------------------------------------------------
    def line_settings(self) -> dict[str, Any]:
        """The line the acceptor needs: 9600 8E1 (a pty ignores parity; real UARTs do not)."""
        return {"baudrate": self.spec.baudrate or BAUDRATE, "bytesize": BYTESIZE, "parity": PARITY,
                "stopbits": STOPBITS}

    def open(self) -> None:
        with self.lock:
            self.close()
            settings = self.line_settings()
            transport = open_transport(self.spec.port, usb_backend=self.ctx.usb_backend, **settings)
            try:
                transport.open()
            except Exception as exc:  # termios.error escapes SerialTransport.open: it is no OSError
                error = exc if isinstance(exc, TransportError) else TransportError(
                    f"cannot open {self.spec.port}: {exc!r}")
                if not _is_pty(self.spec.port):
                    raise error from exc
                # A pty has no parity bit to set; some kernels accept PARENB once and then refuse
                # it (EINVAL) on every later open of the same pty, which would make the
                # simulator unreopenable. Real UARTs never take this path.
                self._log.warning("pty_parity_refused", port=self.spec.port, error=str(error))
                transport = open_transport(self.spec.port, usb_backend=self.ctx.usb_backend,
                                           **{**settings, "parity": "N"})
                transport.open()
            self._transport = transport
            self._decoder.clear()

    def close(self) -> None:
        with self.lock:
            transport, self._transport = self._transport, None
            if transport is not None:
                transport.close()

    # -- the poll ----------------------------------------------------------------------------
    def poll(self) -> DeviceStatus:
        with self.lock:
            return self._refresh()

    @property
    def note_in_flight(self) -> bool:
        last = self._last
        return self.notes.in_flight or (last is not None and last.status in NOTE_STATUSES)

    def _refresh(self) -> DeviceStatus:
        return self._handle(self._status_request())

    def _handle(self, reply: StatusReply, *, resync: bool = True) -> DeviceStatus:
        previous, self._last = self._last, reply
        status = reply.status
        entered = previous is None or previous.status is not status
        if entered and status in _COUNT_ON_ENTRY:
            self.count(_COUNT_ON_ENTRY[status])
        health = health_of(reply)
        if entered:
            level = self._log.warning if health.faults else self._log.info
            level("acceptor_status", status=status.name, previous=previous.status.name if previous else None,
                  faults=health.fault_codes)
        try:
            follow_up = self._act_on(reply, entered, resync)
        except DriverError:
            raise
        except Exception as exc:  # emit() failed: the event is not journalled, nothing was acknowledged
            code = FAULT_CREDIT_PENDING if status is Status.VEND_VALID else FAULT_EVENT_PENDING
            self._log.error("note_event_not_journalled", status=status.name, error=repr(exc))
            self._last = previous  # so a transition event (reject, power-up) is retried next poll
            fault = Fault(code, Action.NONE, Severity.ERROR, f"note event not journalled yet: {exc}")
            return DeviceStatus(health.state, (*health.faults, fault), health.detail)
        return follow_up or health

    def _act_on(self, reply: StatusReply, entered: bool, resync: bool) -> DeviceStatus | None:
        status = reply.status
        if status in (Status.POWER_UP, Status.POWER_UP_WITH_BILL_IN_ACCEPTOR, Status.POWER_UP_WITH_BILL_IN_STACKER):
            if entered:
                if status is Status.POWER_UP:
                    self.notes.settle()
                else:
                    where = "acceptor" if status is Status.POWER_UP_WITH_BILL_IN_ACCEPTOR else "stacker"
                    self.notes.power_up_with_bill(where)
            self._configured = False
            self._operation(ResetCommand())
        elif status is Status.INITIALIZE:
            self.notes.settle()
            if not self._configured:
                self._configure()
        elif status in (Status.IDLING, Status.DISABLE):
            self.notes.settle()
            if not self._configured:
                # attached to an acceptor that is already up (agent restart, settings lost to a
                # failed exchange): inhibit first, then the full settings, ending with our inhibit
                if status is Status.IDLING:
                    self._setting(SettingCommand.inhibit(True))
                self._configure()
                return self._handle(self._status_request(), resync=False)
            if resync and (status is Status.IDLING) != self.wants_accepting:
                self._apply_inhibit()
                return self._handle(self._status_request(), resync=False)
        elif status is Status.ESCROW:
            decision = self.notes.escrow(reply.data[0], accepting=self.wants_accepting)
            if decision.stack:
                self._operation(Stack1Command())
            else:
                self._operation(ReturnCommand())
                self.notes.returned()
        elif status is Status.VEND_VALID:
            self.notes.credit()  # journalled when it returns; raises (no ACK) when not
            self._send(AckCommand())
        elif status is Status.STACKED:
            self.notes.settle()
        elif status is Status.RETURNING:
            self.notes.returned()
        elif status is Status.REJECTING and entered:
            reason = reply.reject_reason
            name = reason.name.lower() if isinstance(reason, RejectReason) else "unknown"
            self.notes.rejected(name, reply.data[0])
        return None

    def _configure(self) -> None:
        """The settings sent after RESET (protocols.md 3a step 2)."""
        for setting in (SettingCommand.denominations(self.table.enabled_codes),
                        SettingCommand(Command.SET_SECURITY, b"\x00\x00"),
                        SettingCommand(Command.SET_OPT_FUNC, b"\x00\x00"),
                        SettingCommand.inhibit(not self.wants_accepting)):
            self._setting(setting)
        self._configured = True
        self._log.info("acceptor_configured", enabled_codes=[format_code(c) for c in sorted(self.table.enabled_codes)],
                       accepting=self.wants_accepting)

    def _apply_inhibit(self) -> None:
        self._setting(SettingCommand.inhibit(not self.wants_accepting))

    # -- enable / disable ---------------------------------------------------------------------
    def _set_acceptance(self, enabled: bool) -> DeviceStatus:
        previous, self.wants_accepting = self.wants_accepting, enabled
        try:
            status = self._refresh()
        except DriverError:
            if enabled:
                self.wants_accepting = previous
            raise
        blocking = [f for f in status.faults if f.code not in _HARMLESS_FAULTS]
        if enabled and (blocking or status.state not in (DeviceState.ONLINE, DeviceState.DEVICE_BUSY,
                                                          DeviceState.STARTING)):
            self.wants_accepting = previous
            fault = blocking[0] if blocking else None
            code = fault.code if fault else status.state.value
            if self._last is not None and self._last.status is Status.IDLING:
                self._apply_inhibit()
            raise DeviceRefused(code, f"cannot accept notes: {fault.text if fault else status.state.value}")
        if previous != enabled:
            self._log.info("acceptance_changed", accepting=enabled)
        return status

    # -- self-test ---------------------------------------------------------------------------
    def selftest(self, level: SelftestLevel) -> SelftestResult:
        return _selftest.run(self, level)

    def version_request(self) -> str:
        reply = self._request(VersionRequest(), VersionReply, retries=self.retries)
        self.version = reply.text
        return reply.text

    def reset(self) -> None:
        """RESET: the acceptor re-initialises; the next polls run the init sequence."""
        self._configured = False
        self._operation(ResetCommand())

    @property
    def last_status(self) -> StatusReply | None:
        return self._last

    # -- exchanges ---------------------------------------------------------------------------
    def _status_request(self) -> StatusReply:
        reply = self._request(StatusRequest(), StatusReply, retries=self.retries)
        return reply

    def _operation(self, msg: ResetCommand | Stack1Command | ReturnCommand) -> None:
        """An operation command, answered by ACK. Not retried: the next poll re-decides."""
        self._request(msg, AckReply, retries=0)

    def _setting(self, msg: SettingCommand) -> None:
        reply = self._request(msg, SettingReply, retries=self.retries)
        if reply.command is not msg.command or reply.data != msg.data:
            raise ProtocolError(f"{msg.command.name} echo mismatch: sent {msg.data.hex()}, got "
                                f"{reply.command.name} {reply.data.hex()}")

    def _send(self, msg: AckCommand) -> None:
        self._write(msg.encode())

    def _write(self, data: bytes) -> None:
        transport = self._require()
        self._log.debug("id003_tx", hex=data.hex(" "))
        transport.write(data)

    def _require(self) -> Transport:
        if self._transport is None or not self._transport.is_open:
            raise TransportError(f"{self.spec.port} is not open")
        return self._transport

    def _request(self, msg: Any, expect: type[R], *, retries: int) -> R:
        """Send ``msg`` and return the first reply of type ``expect``.

        Raises:
            DeviceTimeout: no reply at all on any attempt.
            FrameError: bytes came back but never a valid frame (corrupt or cut short).
            ProtocolError: the acceptor answered INVALID_COMMAND.
            TransportError: the port failed.
        """
        transport = self._require()
        corrupt = 0
        for attempt in range(retries + 1):
            self._drain(transport)
            errors_before = self._decoder.errors + self._decoder.dropped
            self._write(msg.encode())
            try:
                reply = self._read_reply(expect, msg)
            except DeviceTimeout:
                garbled = self._decoder.errors + self._decoder.dropped > errors_before or bool(self._decoder.pending)
                corrupt += int(garbled)
                self.count("communication_errors")
                self._log.debug("id003_no_reply", command=msg.command.name, attempt=attempt, garbled=garbled)
                continue
            if isinstance(reply, StatusReply) and reply.status is Status.COMMUNICATION_ERROR:
                self.count("communication_errors")
                corrupt += 1
                continue
            return reply
        if corrupt:
            raise FrameError(f"no valid reply to {msg.command.name} in {retries + 1} attempts "
                             f"({corrupt} corrupt or cut short)")
        raise DeviceTimeout(f"no reply to {msg.command.name} within {self.spec.timeout_s:.3f}s "
                            f"({retries + 1} attempts)")

    def _drain(self, transport: Transport) -> None:
        """Drop what is waiting (late answers to timed-out requests) before a new request.

        Reads instead of ``reset_input``: a flush on a vanished pty raises termios.error, which
        the transport does not map to TransportError; a read does.
        """
        self._decoder.clear()
        for _ in range(64):
            stale = transport.read(4096, 0.0)
            if not stale:
                return
            self._log.debug("id003_stale_input", hex=stale.hex(" "))

    def _read_reply(self, expect: type[R], msg: Any) -> R:
        transport = self._require()
        deadline = time.monotonic() + self.spec.timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeout(f"no reply to {msg.command.name}")
            chunk = transport.read(256, min(remaining, _INTER_BYTE_S))
            frames = self._decoder.feed(chunk) if chunk else self._salvage()
            for frame in frames:
                reply = self._decode(frame)
                if reply is None:
                    continue
                if isinstance(reply, expect):
                    return reply
                if isinstance(reply, StatusReply) and reply.status is Status.INVALID_COMMAND:
                    raise ProtocolError(f"the acceptor refused {msg.command.name} as an invalid command")
                if isinstance(reply, StatusReply) and reply.status is Status.COMMUNICATION_ERROR:
                    return reply  # type: ignore[return-value]  # the caller retries
                self._log.debug("id003_stale_reply", expected=expect.__name__, got=repr(reply))

    def _salvage(self) -> list[Frame]:
        """Silence with a partial frame buffered: it was garbage or cut short; resync past it."""
        pending = self._decoder.pending
        if not pending:
            return []
        self._decoder.clear()
        self._decoder.errors += 1
        return self._decoder.feed(pending[1:])

    def _decode(self, frame: Frame) -> Reply | None:
        self._log.debug("id003_rx", hex=frame.encode().hex(" "))
        try:
            return decode_reply(frame)
        except FrameError as exc:
            self._log.debug("id003_bad_reply", error=str(exc))
            return None

    # -- misc ---------------------------------------------------------------------------------
    @property
    def poll_interval_s(self) -> float:
        last = self._last
        if last is not None and last.status in (Status.POWER_UP, Status.INITIALIZE):
            return min(FAST_POLL_INTERVAL_S, self.spec.poll_interval_s)
        return super().poll_interval_s
