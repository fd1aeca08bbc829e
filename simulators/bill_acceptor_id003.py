"""Id003Peer: a host-polled JCM ID003 bill acceptor, over the driver's own codec.

State machine (one step per STATUS REQUEST, so the host sees every transient state once)::

    POWER_UP --RESET--> INITIALIZE -> DISABLE (inhibited) <--SET_INHIBIT--> IDLING
    IDLING --insert_note--> ACCEPTING -> ESCROW(code) --STACK-1--> STACKING -> VEND_VALID
        (repeated until the host's ACK) --ACK--> STACKED -> IDLING
    ESCROW --RETURN--> RETURNING -> IDLING;   ACCEPTING -> REJECTING(reason) -> IDLING

* ``act("insert_note", ["50"])`` offers a note of that many yuan; refused while inhibited or in
  a fault; a value without an escrow code (or not a number) is rejected (DENOM_ERR 0x76), a
  denomination disabled by SET_DENOM is rejected (INHIBIT_ERR 0x79) unless
  ``honour_denom_inhibit`` is False (a firmware that leaves the check to the host).
* ``act("empty_cassette", [])`` empties the cassette (the note counter goes back to 0).
* Device faults, reported instead of the normal status while on, in this priority: ``failure``
  (FAILURE + ``failure_code``), ``fraud_attempt`` (CHEATED), ``cassette_removed`` (STACKER_OPEN;
  the cassette comes back empty), ``stacker_jam``, ``jam`` (ACCEPTOR_JAM), ``cassette_full``
  (STACKER_FULL; also when the cassette reaches ``capacity``), ``pause`` (PAUSE). A jam or a
  removed cassette while a note is in flight loses that note (it is neither stacked nor
  returned): the host must reconcile, not credit.
* ``power_up_with_bill``: a power cycle with the note in flight inside: POWER_UP with the bill in
  the stacker (once stacking started; RESET stacks it) or in the acceptor (RESET returns it).
"""

from __future__ import annotations

from typing import Any, ClassVar

from drivers.base.errors import FrameError
from drivers.bill_acceptor.id003.constants import (
    DEFAULT_RMB_DENOMINATIONS,
    INHIBIT_ON,
    Command,
    FailureCode,
    RejectReason,
    Status,
)
from drivers.bill_acceptor.id003.frames import new_decoder
from drivers.bill_acceptor.id003.messages import (
    AckReply,
    SettingCommand,
    SettingReply,
    SettingRequest,
    StatusReply,
    VersionReply,
    decode_command,
    denomination_mask,
    enabled_codes_from_mask,
)
from simulators.base.peer import DevicePeer
from simulators.bill_acceptor_common import NoteAcceptorMixin

__all__ = ["Id003Peer"]

_FAULT_STATUS: tuple[tuple[str, Status], ...] = (
    ("failure", Status.FAILURE),
    ("fraud_attempt", Status.CHEATED),
    ("cassette_removed", Status.STACKER_OPEN),
    ("stacker_jam", Status.STACKER_JAM),
    ("jam", Status.ACCEPTOR_JAM),
    ("cassette_full", Status.STACKER_FULL),
    ("pause", Status.PAUSE),
)
_IN_FLIGHT = frozenset({Status.ACCEPTING, Status.ESCROW, Status.HOLDING, Status.STACKING, Status.VEND_VALID})


class Id003Peer(NoteAcceptorMixin, DevicePeer):
    device_class: ClassVar[str] = "bill_acceptor"
    driver: ClassVar[str] = "id003"
    line: ClassVar[dict[str, Any]] = {"baudrate": 9600, "bytesize": 8, "parity": "E", "stopbits": 1}
    device_faults: ClassVar[tuple[str, ...]] = ("jam", "stacker_jam", "cassette_full", "cassette_removed",
                                                "fraud_attempt", "failure", "power_up_with_bill", "pause")
    actions: ClassVar[tuple[str, ...]] = ("insert_note", "empty_cassette")

    def __init__(self, seed: int = 0, *, capacity: int = 500, version: str = "i(CHN)-100-SS ID003-05V200-23",
                 denominations: dict[int, int] | None = None,
                 failure_code: int = FailureCode.STACK_MOTOR_FAULT) -> None:
        super().__init__(seed)
        self._decoder = new_decoder()
        self.denominations = {int(k): v for k, v in (denominations or DEFAULT_RMB_DENOMINATIONS).items()}
        self.version = version
        self.capacity = capacity
        self.failure_code = int(failure_code)
        self.state = Status.POWER_UP
        self.inhibit = True
        self.enabled_codes: frozenset[int] = frozenset(self.denominations)
        self.honour_denom_inhibit = True
        self.device_fault_set: set[str] = set()
        #: the note in flight: its escrow code (None for a note that will be rejected)
        self.note: int | None = None
        self.reject_reason = RejectReason.DENOM_ERR
        self.bill_in: str | None = None
        #: notes in the cassette now, and every value (yuan) stacked since start
        self.cassette_count = 0
        self.stacked: list[int] = []
        self.returned = 0
        self.lost = 0
        self.vend_valid_reports = 0
        self.commands: list[Command] = []

    # -- link side ---------------------------------------------------------------------------
    def on_bytes(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for frame in self._decoder.feed(data):
            self.requests += 1
            try:
                msg = decode_command(frame)
            except FrameError:
                out.append(StatusReply(Status.INVALID_COMMAND).encode())
                continue
            self.commands.append(msg.command)
            reply = self._handle(msg)
            if reply is not None:
                out.append(reply)
        return out

    def _handle(self, msg: Any) -> bytes | None:
        cmd = msg.command
        if cmd is Command.STATUS_REQUEST:
            return self._status_reply()
        if cmd is Command.ACK:
            if self.state is Status.VEND_VALID and not self._fault_status():
                self.state = Status.STACKED
                self.cassette_count += 1
                assert self.note is not None
                self.stacked.append(self.denominations[self.note])
                self.note = None
            return None
        if cmd is Command.RESET:
            self._reset()
            return AckReply().encode()
        if cmd in (Command.STACK_1, Command.STACK_2, Command.RETURN, Command.HOLD):
            if self._fault_status() or self.state not in (Status.ESCROW, Status.HOLDING):
                return StatusReply(Status.INVALID_COMMAND).encode()
            self.state = {Command.RETURN: Status.RETURNING, Command.HOLD: Status.HOLDING}.get(cmd, Status.STACKING)
            return AckReply().encode()
        if cmd is Command.WAIT:
            return AckReply().encode()
        if isinstance(msg, SettingCommand):
            self._apply_setting(msg)
            return SettingReply(cmd, msg.data).encode()
        if isinstance(msg, SettingRequest):
            return SettingReply(cmd, self._setting_value(cmd)).encode()
        if cmd in (Command.GET_VERSION, Command.GET_BOOT_VERSION):
            return VersionReply(cmd, self.version).encode()
        return StatusReply(Status.INVALID_COMMAND).encode()

    def _status_reply(self) -> bytes:
        fault = self._fault_status()
        if fault is not None:
            data = bytes([self.failure_code]) if fault is Status.FAILURE else b""
            return StatusReply(fault, data).encode()
        state = self.state
        if state is Status.ESCROW:
            assert self.note is not None
            reply = StatusReply(state, bytes([self.note]))
        elif state is Status.REJECTING:
            reply = StatusReply(state, bytes([self.reject_reason]))
        else:
            reply = StatusReply(state)
        if state is Status.VEND_VALID:
            self.vend_valid_reports += 1
        self._advance()
        return reply.encode()

    def _advance(self) -> None:
        """The motion that happens between two status requests."""
        state = self.state
        if state is Status.ACCEPTING:
            code = self.note
            if code is None:
                self.reject_reason = RejectReason.DENOM_ERR
                self.state = Status.REJECTING
            elif self.honour_denom_inhibit and code not in self.enabled_codes:
                self.reject_reason = RejectReason.INHIBIT_ERR
                self.note = None
                self.state = Status.REJECTING
            else:
                self.state = Status.ESCROW
        elif state is Status.STACKING:
            self.state = Status.VEND_VALID
        elif state is Status.RETURNING:
            self.returned += 1
            self.note = None
            self.state = self._idle()
        elif state in (Status.STACKED, Status.REJECTING, Status.INITIALIZE):
            self.note = None
            self.state = self._idle()

    def _idle(self) -> Status:
        return Status.DISABLE if self.inhibit else Status.IDLING

    def _fault_status(self) -> Status | None:
        for fault, status in _FAULT_STATUS:
            if fault in self.device_fault_set:
                return status
        if self.cassette_count >= self.capacity:
            return Status.STACKER_FULL
        return None

    def _reset(self) -> None:
        if self.bill_in == "stacker" and self.note is not None:
            self.cassette_count += 1
            self.stacked.append(self.denominations[self.note])
        elif self.note is not None:
            self.returned += 1
        self.note = None
        self.bill_in = None
        self.inhibit = True
        self.state = Status.INITIALIZE

    def _apply_setting(self, msg: SettingCommand) -> None:
        if msg.command is Command.SET_INHIBIT:
            self.inhibit = msg.data[0] == INHIBIT_ON
            if self.state in (Status.IDLING, Status.DISABLE):
                self.state = self._idle()
        elif msg.command is Command.SET_DENOM:
            self.enabled_codes = enabled_codes_from_mask(msg.data) & frozenset(self.denominations)

    def _setting_value(self, cmd: Command) -> bytes:
        if cmd is Command.GET_INHIBIT:
            return bytes([INHIBIT_ON if self.inhibit else 0])
        if cmd is Command.GET_DENOM:
            return denomination_mask(self.enabled_codes)
        return b"\x00\x00"

    # -- customer and engineer ----------------------------------------------------------------
    def _insert(self, value: str) -> dict[str, Any]:
        fault = self._fault_status()
        if fault is not None:
            return {"accepted": False, "reason": fault.name.lower()}
        if self.state is not Status.IDLING:
            return {"accepted": False, "reason": "inhibited" if self.state is Status.DISABLE else "busy",
                    "state": self.state.name}
        by_value = {v: c for c, v in self.denominations.items()}
        self.note = by_value.get(int(value)) if value.isdigit() else None
        self.state = Status.ACCEPTING
        return {"accepted": True, "state": self.state.name,
                "denomination_code": f"0x{self.note:02X}" if self.note is not None else None}

    def _lose_note(self) -> None:
        if self.state in _IN_FLIGHT | {Status.STACKED, Status.RETURNING}:
            self.lost += int(self.note is not None)
            self.note = None
            self.state = self._idle()

    def _power_cycle_with_bill(self) -> None:
        if self.note is None:
            self.note = min(self.denominations)  # a note pushed in as the power came back
        self.bill_in = "stacker" if self.state in (Status.STACKING, Status.VEND_VALID) else "acceptor"
        self.state = (Status.POWER_UP_WITH_BILL_IN_STACKER if self.bill_in == "stacker"
                      else Status.POWER_UP_WITH_BILL_IN_ACCEPTOR)
        self.inhibit = True

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            reported = self._fault_status() or self.state
            return {**super().snapshot(), "state": reported.name, "inhibit": self.inhibit,
                    "device_faults": sorted(self.device_fault_set), "cassette_count": self.cassette_count,
                    "capacity": self.capacity, "stacked": list(self.stacked), "returned": self.returned,
                    "lost": self.lost,
                    "note": f"0x{self.note:02X}" if self.note is not None else None}
