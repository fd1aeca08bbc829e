"""CcnetDriver: CashCode CCNET bill validator over a serial port (9600 8N1), host-polled.

Every exchange is one command and one answer frame; the host answers every data reply (POLL,
GET STATUS, IDENTIFICATION, GET BILL TABLE) with ACK, and the validator repeats a POLL answer
that was not acknowledged. That ACK is the journalling point:

* BILL STACKED (0x81 + bill type) -> ``note_stacked`` is journalled (``emit`` returns), THEN the
  ACK is sent; when ``emit`` raises, no ACK: the validator reports BILL STACKED again and the
  same note is emitted again with the same ``note_id`` (never a second credit);
* POWER UP (with a bill: ``note_reconcile`` first, then ACK) -> RESET;
* UNIT DISABLED / IDLING -> settle the note in flight; after a reset: SET SECURITY, GET BILL
  TABLE (once), ENABLE BILL TYPES; later only ENABLE BILL TYPES when the host's wish changes
  (all zero disables: the validator reports UNIT DISABLED);
* ESCROW POSITION (bill type) -> ACK, then STACK when the type is known, accepted and acceptance
  is enabled, else RETURN;
* BILL RETURNED / RETURNING -> ``note_returned``; REJECTING (reason) -> ``note_rejected``.

Link recovery (:class:`~drivers.bill_acceptor.polled_link.PolledLink`): a NAK from the validator
(it saw a corrupt frame) or no valid answer within ``spec.timeout_s`` is retried for
idempotent requests (POLL, GET STATUS, IDENTIFICATION, GET BILL TABLE, ENABLE, SET SECURITY);
STACK / RETURN are not retried: the next POLL re-decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

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
from drivers.bill_acceptor.ccnet.constants import (
    BAUDRATE,
    BYTESIZE,
    DEFAULT_RMB_DENOMINATIONS,
    PARITY,
    STOPBITS,
    Command,
    RejectReason,
    State,
)
from drivers.bill_acceptor.ccnet.frames import Frame, new_decoder
from drivers.bill_acceptor.ccnet.health import IDLE_STATES, NOTE_STATES, health_of
from drivers.bill_acceptor.ccnet.messages import (
    AckReply,
    BillTableReply,
    HostCommand,
    IdentificationReply,
    IllegalCommandReply,
    NakReply,
    PollReply,
    decode_reply,
)
from drivers.bill_acceptor.polled import PolledAcceptor
from drivers.bill_acceptor.polled_link import RETRY, PolledLink

log = structlog.get_logger(__name__)

__all__ = ["CcnetDriver"]

_COUNT_ON_ENTRY = {
    State.VALIDATOR_JAMMED: "jams",
    State.DROP_CASSETTE_JAMMED: "jams",
    State.DROP_CASSETTE_OUT_OF_POSITION: "cassette_removals",
    State.DROP_CASSETTE_FULL: "cassette_full",
    State.CHEATED: "fraud_attempts",
    State.FAILURE: "failures",
}
_POWER_UP = frozenset({State.POWER_UP, State.POWER_UP_WITH_BILL_IN_VALIDATOR, State.POWER_UP_WITH_BILL_IN_STACKER})
_ACK = HostCommand(Command.ACK)


class CcnetDriver(PolledAcceptor):
    """CashCode CCNET bill validator (registered as ``bill_acceptor`` / ``ccnet``)."""

    default_denominations: ClassVar[dict[int, int]] = DEFAULT_RMB_DENOMINATIONS
    protocol: ClassVar[str] = "ccnet"
    line: ClassVar[Mapping[str, Any]] = {"baudrate": BAUDRATE, "bytesize": BYTESIZE, "parity": PARITY,
                                         "stopbits": STOPBITS}
    retries: ClassVar[int] = 2
    reset_timeout_s: ClassVar[float] = 15.0

    def __init__(self, spec: DeviceSpec, ctx: DriverContext) -> None:
        super().__init__(spec, ctx)
        self._log = log.bind(device=spec.name, device_class=self.device_class)
        self.link: PolledLink[Frame] = self._new_link(new_decoder())
        self._last: PollReply | None = None
        self._configured = False
        self.bill_table: BillTableReply | None = None
        self.version: str | None = None

    # -- the poll ----------------------------------------------------------------------------
    @property
    def note_in_flight(self) -> bool:
        last = self._last
        return self.notes.in_flight or (last is not None and last.state in NOTE_STATES)

    @property
    def status_name(self) -> str | None:
        return self._last.state.name if self._last else None

    @property
    def is_idle(self) -> bool:
        return self._last is not None and self._last.state in IDLE_STATES and self._configured

    def _refresh(self) -> DeviceStatus:
        return self._handle(self._request(HostCommand(Command.POLL), PollReply, retries=self.retries))

    def _handle(self, reply: PollReply, *, resync: bool = True) -> DeviceStatus:
        previous, self._last = self._last, reply
        state = reply.state
        health = health_of(reply)
        entered = self._entered(previous.state.name if previous else None, state.name, health,
                                _COUNT_ON_ENTRY.get(state))
        try:
            self._journal(reply, entered)
        except DriverError:
            raise
        except Exception as exc:  # emit() failed: nothing journalled, the POLL answer is not acknowledged
            self._last = previous
            return self._not_journalled(health, exc, credit=state is State.BILL_STACKED, status=state.name)
        self.link.write(_ACK.encode())
        return self._follow_up(reply, resync) or health

    def _journal(self, reply: PollReply, entered: bool) -> None:
        """The note events this answer implies; must be durable before the ACK."""
        state = reply.state
        if state in _POWER_UP and entered:
            if state is State.POWER_UP:
                self.notes.settle()
            else:
                self.notes.power_up_with_bill("stacker" if state is State.POWER_UP_WITH_BILL_IN_STACKER
                                              else "acceptor")
        elif state in IDLE_STATES or state is State.INITIALIZE:
            self.notes.settle()
        elif state is State.BILL_STACKED:
            assert reply.bill_type is not None
            self.notes.credit(reply.bill_type)
        elif state in (State.BILL_RETURNED, State.RETURNING):
            self.notes.returned()
        elif state is State.REJECTING and entered:
            reason = reply.reject_reason
            self.notes.rejected(reason.name.lower() if isinstance(reason, RejectReason) else "unknown", reply.data[0])

    def _follow_up(self, reply: PollReply, resync: bool) -> DeviceStatus | None:
        """Commands after the ACK: RESET, settings, STACK / RETURN."""
        state = reply.state
        if state in _POWER_UP:
            self.reset()
        elif state in IDLE_STATES:
            if not self._configured:
                self._configure()
                return self._handle(self._request(HostCommand(Command.POLL), PollReply, retries=self.retries),
                                    resync=False)
            if resync and (state is State.IDLING) != self.wants_accepting:
                self._apply_enable()
                return self._handle(self._request(HostCommand(Command.POLL), PollReply, retries=self.retries),
                                    resync=False)
        elif state is State.ESCROW_POSITION:
            assert reply.bill_type is not None
            decision = self.notes.escrow(reply.bill_type, accepting=self.wants_accepting)
            self._operation(HostCommand(Command.STACK if decision.stack else Command.RETURN))
            if not decision.stack:
                self.notes.returned()
        return None

    def _configure(self) -> None:
        self._operation(HostCommand.set_security(), retries=self.retries)
        if self.bill_table is None:
            self.bill_table = self._request(HostCommand(Command.GET_BILL_TABLE), BillTableReply, retries=self.retries)
            self._check_bill_table(self.bill_table)
        self._apply_enable()
        self._configured = True
        self._log.info("acceptor_configured", enabled_codes=[format_code(c) for c in sorted(self.table.enabled_codes)],
                       accepting=self.wants_accepting)

    def _check_bill_table(self, table: BillTableReply) -> None:
        """Warn (do not refuse) when the device's bill table disagrees with the configured values."""
        used = table.used()
        for code, yuan in self.table.values.items():
            entry = used.get(code)
            if entry is not None and abs(entry.value - yuan) > 1e-9:
                self._log.warning("bill_table_mismatch", bill_type=code, configured_yuan=yuan,
                                  device_value=entry.value, country=entry.country)

    def _apply_enable(self) -> None:
        codes = self.table.enabled_codes if self.wants_accepting else frozenset()
        self._operation(HostCommand.enable_bill_types(codes), retries=self.retries)

    # -- enable / disable ----------------------------------------------------------------------
    def _refused(self) -> None:
        if self._last is not None and self._last.state is State.IDLING:
            self._apply_enable()

    # -- self-test -------------------------------------------------------------------------------
    def selftest(self, level: SelftestLevel) -> SelftestResult:
        return _selftest.run(self, level)

    def version_request(self) -> str:
        reply = self._request(HostCommand(Command.IDENTIFICATION), IdentificationReply, retries=self.retries)
        self.version = f"{reply.part_number} SN {reply.serial_number}".strip()
        return self.version

    def reset(self) -> None:
        self._configured = False
        self._operation(HostCommand(Command.RESET))

    # -- exchanges ---------------------------------------------------------------------------------
    def _operation(self, cmd: HostCommand, *, retries: int = 0) -> None:
        """A command answered by ACK. STACK / RETURN / RESET are not retried: the next POLL re-decides."""
        self._request(cmd, AckReply, retries=retries)

    def _request(self, cmd: HostCommand, expect: type[Any], *, retries: int) -> Any:
        data_reply = expect is not AckReply

        def pick(frame: Frame) -> Any:
            self._log.debug("ccnet_rx", hex=frame.encode().hex(" "))
            try:
                reply = decode_reply(frame, cmd.command)
            except FrameError as exc:
                self._log.debug("ccnet_bad_reply", error=str(exc))
                return None
            if isinstance(reply, NakReply):
                return RETRY
            if isinstance(reply, IllegalCommandReply):
                raise ProtocolError(f"the validator refused {cmd.command.name} as an illegal command")
            return reply if isinstance(reply, expect) else None

        reply = self.link.exchange(cmd.encode(), cmd.command.name, pick, retries=retries)
        if data_reply and cmd.command is not Command.POLL:
            self.link.write(_ACK.encode())  # POLL answers are acknowledged once journalled (_handle)
        return reply

    @property
    def starting(self) -> bool:
        return self._last is not None and self._last.state in (State.POWER_UP, State.INITIALIZE)
