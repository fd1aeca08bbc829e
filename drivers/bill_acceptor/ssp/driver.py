"""SspDriver: ITL SSP / eSSP note validator (NV9, NV10, NV200...) over 9600 8N2, host-polled.

Sequence flag as acknowledgement: the host toggles the SEQ bit for every new command; a packet
sent again with the same SEQ makes the validator resend its last answer without executing it.
The driver toggles the flag after a POLL only once the events in its answer are journalled:

* CREDIT NOTE (channel) -> ``note_stacked`` journalled, THEN the flag toggles; when ``emit``
  raises, the next POLL goes with the same SEQ (and, encrypted, the same eCOUNT): the validator
  repeats the same events and the same note is emitted again with the same ``note_id``;
* READ NOTE with a channel (escrow) -> the escrow decision: accept by polling on, return with
  REJECT BANKNOTE (after the acknowledgement);
* SLAVE RESET -> SYNC, (eSSP key exchange), HOST PROTOCOL VERSION 6, SETUP REQUEST,
  SET INHIBITS, ENABLE/DISABLE; NOTE CLEARED TO CASHBOX / FROM FRONT -> ``note_reconcile``;
* REJECTING after our REJECT BANKNOTE -> ``note_returned``; REJECTED otherwise ->
  ``note_rejected``; a poll with no note event settles the note in flight.

Options besides the class's: ``encrypted`` (bool, default false: eSSP with a Diffie-Hellman key
exchange after SYNC; every later command goes in an STEX packet) and ``fixed_key`` (the unit's
64-bit eSSP fixed key as a hex string, default ``"0123456701234567"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import structlog

from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import DriverError, FrameError, ProtocolError
from drivers.base.health import DeviceStatus, SelftestLevel, SelftestResult
from drivers.base.options import Option
from drivers.bill_acceptor import selftest as _selftest
from drivers.bill_acceptor.polled import PolledAcceptor
from drivers.bill_acceptor.polled_link import RETRY, PolledLink
from drivers.bill_acceptor.ssp.crypto import DEFAULT_FIXED_KEY, STEX, EsspKey, KeyExchange, random_prime
from drivers.bill_acceptor.ssp.frames import Packet, new_decoder
from drivers.bill_acceptor.ssp.health import NOTE_EVENTS, PollView, health_of
from drivers.bill_acceptor.ssp.messages import (
    PROTOCOL_VERSION,
    Command,
    EventCode,
    Response,
    SetupReply,
    decode_events,
    inhibit_mask,
)

log = structlog.get_logger(__name__)

__all__ = ["SspDriver"]

_PLAIN = frozenset({Command.SYNC, Command.SET_GENERATOR, Command.SET_MODULUS, Command.REQUEST_KEY_EXCHANGE})
_COUNT_ON_ENTRY = {EventCode.UNSAFE_JAM: "jams", EventCode.SAFE_JAM: "jams", EventCode.STACKER_FULL: "cassette_full",
                   EventCode.CASHBOX_REMOVED: "cassette_removals", EventCode.FRAUD_ATTEMPT: "fraud_attempts",
                   EventCode.CALIBRATION_FAIL: "failures"}


def _is_fixed_key(raw: str) -> bool:
    return len(raw) == 16 and all(c in "0123456789abcdefABCDEF" for c in raw)


def _fixed_key(options: Mapping[str, Any]) -> int:
    raw = options.get("fixed_key", f"{DEFAULT_FIXED_KEY:016x}")
    if not isinstance(raw, str) or not _is_fixed_key(raw):
        raise ValueError("fixed_key: must be 16 hex digits")
    return int(raw, 16)


class KeyLost(ProtocolError):
    """An encrypted command answered KEY_NOT_SET: the unit reset and forgot the session key."""


class SspDriver(PolledAcceptor):
    """ITL SSP / eSSP note validator (registered as ``bill_acceptor`` / ``ssp``)."""

    default_denominations: ClassVar[dict[int, int]] = {1: 1, 2: 5, 3: 10, 4: 20, 5: 50, 6: 100}
    protocol: ClassVar[str] = "ssp"
    #: 9600 8N2
    line: ClassVar[Mapping[str, Any]] = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 2}
    retries: ClassVar[int] = 2
    reset_timeout_s: ClassVar[float] = 15.0

    options_schema: ClassVar[Mapping[str, Option]] = {
        **PolledAcceptor.options_schema,
        "encrypted": Option(bool, type_problem="must be true or false"),
        "fixed_key": Option(str, _is_fixed_key, "must be 16 hex digits", type_problem="must be 16 hex digits"),
    }

    def __init__(self, spec: DeviceSpec, ctx: DriverContext) -> None:
        super().__init__(spec, ctx)
        self.encrypted = bool(spec.options.get("encrypted", False))
        self.fixed_key = _fixed_key(spec.options)
        self._log = log.bind(device=spec.name, device_class=self.device_class)
        self.link: PolledLink[Packet] = self._new_link(new_decoder())
        self._seq = True
        self._key: EsspKey | None = None
        self._configured = False
        self._cashbox_removed = False
        self._enabled_on_device: bool | None = None
        self._last: PollView | None = None
        self.setup: SetupReply | None = None
        self.version: str | None = None

    def _opened(self) -> None:
        self._configured = False  # a new session starts with SYNC

    # -- exchanges ---------------------------------------------------------------------------------
    def _command(self, cmd: Command, params: bytes = b"", *, retries: int | None = None, ack: bool = True) -> bytes:
        """One command; the answer's data after OK. ``ack=False`` leaves the SEQ flag (and eCOUNT)
        as they are, so the next command repeats this one (see :meth:`_ack`).

        Raises:
            ProtocolError: the validator answered with an error code.
        """
        data = bytes([cmd]) + params
        key = self._key if cmd not in _PLAIN else None
        count = key.count if key is not None else 0
        packet = Packet(key.wrap(data, count) if key is not None else data, seq=self._seq)
        raw = packet.encode()

        def pick(answer: Packet) -> Any:
            if answer.seq != packet.seq or answer.addr != packet.addr:
                return None  # an answer to an earlier packet
            body = answer.data
            if key is not None and body[0] == STEX:
                try:
                    body, got = key.unwrap(body)
                except FrameError as exc:
                    self._log.debug("essp_bad_packet", error=str(exc))
                    return RETRY
                if got != count:
                    self._log.warning("essp_count_mismatch", sent=count, got=got)
                    return RETRY
            return body or None

        body: bytes = self.link.exchange(raw, cmd.name, pick, retries=self.retries if retries is None else retries)
        if ack:
            self._ack(encrypted=key is not None)
        if body[0] != Response.OK:
            try:
                name = Response(body[0]).name
            except ValueError:
                name = f"0x{body[0]:02X}"
            if body[0] == Response.KEY_NOT_SET:
                self._configured = False
                if key is not None:
                    raise KeyLost(f"the validator lost the eSSP key ({cmd.name}): it was reset")
            raise ProtocolError(f"the validator answered {cmd.name} with {name}")
        return body[1:]

    def _ack(self, *, encrypted: bool) -> None:
        """The exchange is done: the next command goes with the other SEQ flag (and eCOUNT + 1)."""
        self._seq = not self._seq
        if encrypted and self._key is not None:
            self._key.count += 1

    def _configure(self) -> None:
        self._key = None
        self._seq = True  # SYNC goes with the flag set; the validator expects it clear next
        self._command(Command.SYNC)
        if self.encrypted:
            self._key_exchange()
        self._command(Command.HOST_PROTOCOL_VERSION, bytes([PROTOCOL_VERSION]))
        self.setup = SetupReply.decode(self._command(Command.SETUP_REQUEST))
        for ch, value in self.setup.values().items():
            configured = self.table.value_of(ch)
            if configured is not None and configured != value:
                self._log.warning("channel_value_mismatch", channel=ch, configured_yuan=configured,
                                  device_value=value, country=self.setup.country)
        self._command(Command.SET_INHIBITS, inhibit_mask(c for c in self.table.enabled_codes if 1 <= c <= 16))
        self._enabled_on_device = None
        self._configured = True
        self._apply_enable()
        self._log.info("acceptor_configured", encrypted=self.encrypted, firmware=self.setup.firmware,
                       channels=self.setup.values())

    def _key_exchange(self) -> None:
        generator, modulus = random_prime(), random_prime()
        exchange = KeyExchange(generator, modulus)
        self._command(Command.SET_GENERATOR, generator.to_bytes(8, "little"))
        self._command(Command.SET_MODULUS, modulus.to_bytes(8, "little"))
        answer = self._command(Command.REQUEST_KEY_EXCHANGE, exchange.intermediate.to_bytes(8, "little"))
        if len(answer) != 8:
            raise FrameError(f"key exchange answer has {len(answer)} bytes, expected 8")
        self._key = EsspKey(exchange.shared(int.from_bytes(answer, "little")), self.fixed_key)
        self._log.info("essp_key_negotiated")

    def _apply_enable(self) -> None:
        if self._enabled_on_device is not self.wants_accepting:
            self._command(Command.ENABLE if self.wants_accepting else Command.DISABLE)
            self._enabled_on_device = self.wants_accepting

    # -- the poll ------------------------------------------------------------------------------------
    @property
    def note_in_flight(self) -> bool:
        return self.notes.in_flight or (self._last is not None and bool(self._last.codes & NOTE_EVENTS))

    @property
    def status_name(self) -> str | None:
        return self._last.name if self._last else None

    @property
    def is_idle(self) -> bool:
        return self._configured and self._last is not None and self._last.name in ("IDLE", "DISABLED")

    def _refresh(self) -> DeviceStatus:
        view = self._poll()
        health = health_of(view)
        self._log_transition(self._last, view, health)
        try:
            reject = self._journal(view)
        except DriverError:
            raise
        except Exception as exc:  # emit() failed: not acknowledged, the next POLL repeats these events
            return self._not_journalled(health, exc, credit=any(e.code is EventCode.CREDIT_NOTE for e in view.events),
                                        events=[e.code.name for e in view.events])
        self._ack(encrypted=self._key is not None)
        self._last, self._cashbox_removed = view, view.cashbox_removed
        if EventCode.SLAVE_RESET in view.codes:
            self._configured = False
            return health
        if reject:
            self._command(Command.REJECT_BANKNOTE)
            self.notes.returned()
        disabled_reported = EventCode.DISABLED in view.codes
        if self._enabled_on_device is not None and not view.codes & NOTE_EVENTS:
            self._enabled_on_device = not disabled_reported
        self._apply_enable()
        return health

    def _poll(self) -> PollView:
        """One POLL, not yet acknowledged (after the session set-up, and again after a lost key)."""
        if not self._configured:
            self._configure()
        try:
            answer = self._command(Command.POLL, ack=False)
        except KeyLost as exc:
            self._log.warning("essp_key_lost", error=str(exc))
            self._configure()
            answer = self._command(Command.POLL, ack=False)
        events = decode_events(answer)
        removed = self._cashbox_removed
        if any(e.code is EventCode.CASHBOX_REMOVED for e in events):
            removed = True
        if any(e.code is EventCode.CASHBOX_REPLACED for e in events):
            removed = False
        return PollView(events, removed)

    def _log_transition(self, previous: PollView | None, view: PollView, health: DeviceStatus) -> None:
        """Count the fault events that are new in ``view`` (several may start in one poll); log a
        change of the reported status."""
        before = previous.codes if previous is not None else frozenset()
        for code in view.codes - before:
            if code in _COUNT_ON_ENTRY:
                self.count(_COUNT_ON_ENTRY[code])
        self._entered(previous.name if previous else None, view.name, health, None)

    def _journal(self, view: PollView) -> bool:
        """The note events of one poll, in order; returns whether the note in escrow must be rejected."""
        reject = False
        codes = view.codes
        cleared = codes & {EventCode.NOTE_CLEARED_TO_CASHBOX, EventCode.NOTE_CLEARED_FROM_FRONT}
        for event in view.events:
            code = event.code
            if code is EventCode.SLAVE_RESET and not cleared:
                self.notes.settle()
            elif code is EventCode.NOTE_CLEARED_TO_CASHBOX:
                self.notes.power_up_with_bill("stacker")
            elif code is EventCode.NOTE_CLEARED_FROM_FRONT:
                self.notes.power_up_with_bill("acceptor")
            elif code is EventCode.READ_NOTE and event.value:
                decision = self.notes.escrow(event.value, accepting=self.wants_accepting)
                reject = not decision.stack
            elif code is EventCode.CREDIT_NOTE:
                assert event.value is not None
                self.notes.credit(event.value)
            elif code is EventCode.STACKED:
                self.notes.settle()
            elif code is EventCode.REJECTED:
                if self.notes.in_flight:
                    self.notes.settle()  # our REJECT BANKNOTE: note_returned was emitted
                else:
                    self.notes.rejected("rejected_by_validator", 0)
        jammed = codes & {EventCode.UNSAFE_JAM, EventCode.SAFE_JAM, EventCode.NOTE_PATH_OPEN}
        if not codes & NOTE_EVENTS and not jammed and not cleared and not reject:
            self.notes.settle()
        return reject

    # -- enable / disable ------------------------------------------------------------------------------
    def _refused(self) -> None:
        self._apply_enable()

    # -- self-test ----------------------------------------------------------------------------------------
    def selftest(self, level: SelftestLevel) -> SelftestResult:
        return _selftest.run(self, level)

    def version_request(self) -> str:
        if not self._configured:
            self._configure()
        text = self._command(Command.GET_FIRMWARE_VERSION).decode("ascii", "replace").strip("\0 ")
        serial = int.from_bytes(self._command(Command.GET_SERIAL_NUMBER)[:4], "big")
        self.version = f"{text} SN {serial}"
        return self.version

    def reset(self) -> None:
        self._command(Command.RESET)
        self._configured = False
        self._last = None

    @property
    def starting(self) -> bool:
        return not self._configured
