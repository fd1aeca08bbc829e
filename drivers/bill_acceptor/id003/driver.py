"""Id003Driver: JCM ID003 over a serial port (9600 8E1), host-polled.

Request/response only: the host sends one frame and the acceptor answers one frame, except the
host's ACK of VEND_VALID, which is not answered. Every exchange holds ``self.lock``.

What ``poll()`` does with each status (the ID003 session: power-up, RESET, the settings, enable, escrow, VEND_VALID):

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

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import structlog

from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import DriverError, FrameError, ProtocolError
from drivers.base.health import (
    DeviceStatus,
    SelftestLevel,
    SelftestResult,
)
from drivers.bill_acceptor import selftest as _selftest
from drivers.bill_acceptor.api import (
    format_code,
)
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
from drivers.bill_acceptor.polled import PolledAcceptor
from drivers.bill_acceptor.polled_link import RETRY, PolledLink

log = structlog.get_logger(__name__)

__all__ = ["Id003Driver"]

R = TypeVar("R", StatusReply, AckReply, SettingReply, VersionReply)

_POWER_UPS = (Status.POWER_UP, Status.POWER_UP_WITH_BILL_IN_ACCEPTOR, Status.POWER_UP_WITH_BILL_IN_STACKER)
_COUNT_ON_ENTRY = {
    Status.ACCEPTOR_JAM: "jams",
    Status.STACKER_JAM: "jams",
    Status.STACKER_OPEN: "cassette_removals",
    Status.STACKER_FULL: "cassette_full",
    Status.CHEATED: "fraud_attempts",
    Status.FAILURE: "failures",
}


class Id003Driver(PolledAcceptor):
    """JCM ID003 bill acceptor (registered as ``bill_acceptor`` / ``id003``)."""

    default_denominations: ClassVar[dict[int, int]] = DEFAULT_RMB_DENOMINATIONS
    protocol: ClassVar[str] = "id003"
    #: 9600 8E1 (a pty ignores parity; real UARTs do not)
    line: ClassVar[Mapping[str, Any]] = {"baudrate": BAUDRATE, "bytesize": BYTESIZE, "parity": PARITY,
                                         "stopbits": STOPBITS}
    #: extra attempts for idempotent requests (status, settings, version)
    retries: ClassVar[int] = 2
    #: how long the external self-test waits for the acceptor to come back from RESET
    reset_timeout_s: ClassVar[float] = 15.0

    def __init__(self, spec: DeviceSpec, ctx: DriverContext) -> None:
        super().__init__(spec, ctx)
        self._log = log.bind(device=spec.name, device_class=self.device_class)
        self.link: PolledLink[Frame] = self._new_link(new_decoder())
        self._last: StatusReply | None = None
        #: settings sent since the last power-up / reset
        self._configured = False
        self.version: str | None = None

    # -- the poll ----------------------------------------------------------------------------
    @property
    def note_in_flight(self) -> bool:
        last = self._last
        return self.notes.in_flight or (last is not None and last.status in NOTE_STATUSES)

    def _refresh(self) -> DeviceStatus:
        return self._handle(self._status_request())

    def _handle(self, reply: StatusReply, *, resync: bool = True) -> DeviceStatus:
        previous, self._last = self._last, reply
        status = reply.status
        health = health_of(reply)
        entered = self._entered(previous.status.name if previous else None, status.name, health,
                                _COUNT_ON_ENTRY.get(status))
        try:
            follow_up = self._act_on(reply, entered, resync)
        except DriverError:
            raise
        except Exception as exc:  # emit() failed: the event is not journalled, nothing was acknowledged
            self._last = previous  # so a transition event (reject, power-up) is retried next poll
            return self._not_journalled(health, exc, credit=status is Status.VEND_VALID, status=status.name)
        return follow_up or health

    def _act_on(self, reply: StatusReply, entered: bool, resync: bool) -> DeviceStatus | None:
        status = reply.status
        if status in _POWER_UPS:
            self._on_power_up(status, entered)
        elif status is Status.INITIALIZE:
            self.notes.settle()
            if not self._configured:
                self._configure()
        elif status in (Status.IDLING, Status.DISABLE):
            return self._on_idle(status, resync)
        elif status is Status.ESCROW:
            self._on_escrow(reply)
        elif status is Status.VEND_VALID:
            self.notes.credit()  # journalled when it returns; raises (no ACK) when not
            self._send(AckCommand())
        elif status is Status.STACKED:
            self.notes.settle()
        elif status is Status.RETURNING:
            self.notes.returned()
        elif status is Status.REJECTING and entered:
            reason = reply.reject_reason
            self.notes.rejected(reason.name.lower() if isinstance(reason, RejectReason) else "unknown", reply.data[0])
        return None

    def _on_power_up(self, status: Status, entered: bool) -> None:
        if entered:
            if status is Status.POWER_UP:
                self.notes.settle()
            else:
                self.notes.power_up_with_bill("acceptor" if status is Status.POWER_UP_WITH_BILL_IN_ACCEPTOR
                                              else "stacker")
        self._configured = False
        self._operation(ResetCommand())

    def _on_idle(self, status: Status, resync: bool) -> DeviceStatus | None:
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
        return None

    def _on_escrow(self, reply: StatusReply) -> None:
        decision = self.notes.escrow(reply.data[0], accepting=self.wants_accepting)
        if decision.stack:
            self._operation(Stack1Command())
        else:
            self._operation(ReturnCommand())
            self.notes.returned()

    def _configure(self) -> None:
        """The settings sent after RESET, while the acceptor reports INITIALIZE."""
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
    def _refused(self) -> None:
        if self._last is not None and self._last.status is Status.IDLING:
            self._apply_inhibit()

    # -- self-test ---------------------------------------------------------------------------
    def selftest(self, level: SelftestLevel) -> SelftestResult:
        return _selftest.run(self, level)

    @property
    def status_name(self) -> str | None:
        return self._last.status.name if self._last else None

    @property
    def is_idle(self) -> bool:
        return self._last is not None and self._last.status in (Status.IDLING, Status.DISABLE)

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
        self.link.write(msg.encode())

    def _request(self, msg: Any, expect: type[R], *, retries: int) -> R:
        """Send ``msg`` and return the first reply of type ``expect`` (see :class:`PolledLink`).

        Raises:
            DeviceTimeout: no reply at all on any attempt.
            FrameError: bytes came back but never a valid frame (corrupt or cut short).
            ProtocolError: the acceptor answered INVALID_COMMAND.
            TransportError: the port failed.
        """

        def pick(frame: Frame) -> Any:
            reply = self._decode(frame)
            if reply is None:
                return None
            if isinstance(reply, expect):
                return reply
            if isinstance(reply, StatusReply) and reply.status is Status.INVALID_COMMAND:
                raise ProtocolError(f"the acceptor refused {msg.command.name} as an invalid command")
            if isinstance(reply, StatusReply) and reply.status is Status.COMMUNICATION_ERROR:
                return RETRY
            self._log.debug("id003_stale_reply", expected=expect.__name__, got=repr(reply))
            return None

        result: R = self.link.exchange(msg.encode(), msg.command.name, pick, retries=retries)
        return result

    def _decode(self, frame: Frame) -> Reply | None:
        self._log.debug("id003_rx", hex=frame.encode().hex(" "))
        try:
            return decode_reply(frame)
        except FrameError as exc:
            self._log.debug("id003_bad_reply", error=str(exc))
            return None

    # -- misc ---------------------------------------------------------------------------------
    @property
    def starting(self) -> bool:
        return self._last is not None and self._last.status in (Status.POWER_UP, Status.INITIALIZE)
