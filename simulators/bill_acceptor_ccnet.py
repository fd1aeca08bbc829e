"""CcnetPeer: a host-polled CashCode CCNET bill validator, over the driver's own codec.

State machine (the state moves on at the POLL after the host ACKed the previous answer, so the
host sees every state once, and an answer it did not acknowledge is reported again)::

    POWER_UP --RESET--> INITIALIZE -> UNIT_DISABLED <--ENABLE BILL TYPES--> IDLING
    IDLING --insert_note--> ACCEPTING -> ESCROW_POSITION(type) --STACK--> STACKING
        -> BILL_STACKED(type) (repeated until ACKed) -> IDLING
    ESCROW_POSITION --RETURN--> RETURNING -> BILL_RETURNED(type) -> IDLING
    ACCEPTING -> REJECTING(reason) -> IDLING

* ``act("insert_note", ["50"])`` offers a note of that many yuan; a value with no bill type is
  rejected (IDENTIFICATION 0x65), a disabled type is rejected (INHIBIT 0x68);
* ``act("empty_cassette", [])`` empties the drop cassette;
* device faults, in this priority: ``failure`` (FAILURE + ``failure_code``), ``fraud_attempt``
  (CHEATED), ``cassette_removed`` (DROP CASSETTE OUT OF POSITION; comes back empty),
  ``stacker_jam`` (DROP CASSETTE JAMMED), ``jam`` (VALIDATOR JAMMED), ``cassette_full`` (also when
  the cassette reaches ``capacity``), ``pause``. A jam or a removed cassette with a note in
  flight loses it; ``power_up_with_bill`` is a power cycle with the note inside.
"""

from __future__ import annotations

from typing import Any, ClassVar

from drivers.base.errors import FrameError
from drivers.bill_acceptor.ccnet.constants import DEFAULT_RMB_DENOMINATIONS, Command, FailureCode, RejectReason, State
from drivers.bill_acceptor.ccnet.frames import new_decoder
from drivers.bill_acceptor.ccnet.messages import (
    AckReply,
    BillTableEntry,
    BillTableReply,
    HostCommand,
    IdentificationReply,
    IllegalCommandReply,
    PollReply,
    StatusReply,
    bill_types_from_mask,
    decode_command,
)
from simulators.base.peer import DevicePeer
from simulators.bill_acceptor_common import NoteAcceptorMixin

__all__ = ["CcnetPeer"]

_FAULT_STATE: tuple[tuple[str, State], ...] = (
    ("failure", State.FAILURE),
    ("fraud_attempt", State.CHEATED),
    ("cassette_removed", State.DROP_CASSETTE_OUT_OF_POSITION),
    ("stacker_jam", State.DROP_CASSETTE_JAMMED),
    ("jam", State.VALIDATOR_JAMMED),
    ("cassette_full", State.DROP_CASSETTE_FULL),
    ("pause", State.PAUSE),
)
_IN_FLIGHT = frozenset({State.ACCEPTING, State.ESCROW_POSITION, State.HOLDING, State.STACKING, State.BILL_STACKED,
                        State.RETURNING, State.BILL_RETURNED})
_TYPED = frozenset({State.ESCROW_POSITION, State.BILL_STACKED, State.BILL_RETURNED})


class CcnetPeer(NoteAcceptorMixin, DevicePeer):
    device_class: ClassVar[str] = "bill_acceptor"
    driver: ClassVar[str] = "ccnet"
    line: ClassVar[dict[str, Any]] = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}
    device_faults: ClassVar[tuple[str, ...]] = ("jam", "stacker_jam", "cassette_full", "cassette_removed",
                                                "fraud_attempt", "failure", "power_up_with_bill", "pause")
    actions: ClassVar[tuple[str, ...]] = ("insert_note", "empty_cassette")

    def __init__(self, seed: int = 0, *, capacity: int = 500, part_number: str = "SM-CN2414",
                 serial_number: str = "41K012345678", denominations: dict[int, int] | None = None,
                 failure_code: int = FailureCode.STACK_MOTOR_FAILURE) -> None:
        super().__init__(seed)
        self._decoder = new_decoder()
        self.denominations = {int(k): v for k, v in (denominations or DEFAULT_RMB_DENOMINATIONS).items()}
        self.part_number, self.serial_number = part_number, serial_number
        self.capacity = capacity
        self.failure_code = int(failure_code)
        self.state = State.POWER_UP
        self.enabled: frozenset[int] = frozenset()
        self.device_fault_set: set[str] = set()
        self.note: int | None = None
        self.reject_reason = RejectReason.IDENTIFICATION
        #: the state of the last POLL answer, and whether the host acknowledged it
        self._answered: State | None = None
        self._acked: State | None = None
        self.cassette_count = 0
        self.stacked: list[int] = []
        self.returned = 0
        self.lost = 0
        self.stacked_reports = 0
        self.commands: list[Command] = []

    # -- link side ------------------------------------------------------------------------------
    def on_bytes(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for frame in self._decoder.feed(data):
            self.requests += 1
            try:
                msg = decode_command(frame)
            except FrameError:
                out.append(IllegalCommandReply().encode())
                continue
            self.commands.append(msg.command)
            reply = self._handle(msg)
            if reply is not None:
                out.append(reply)
        return out

    def _handle(self, msg: HostCommand) -> bytes | None:
        cmd = msg.command
        if cmd is Command.POLL:
            return self._poll_answer()
        if cmd is Command.ACK:
            self._acked = self._answered
            return None
        if cmd is Command.NAK:
            return None
        if cmd is Command.RESET:
            self._reset()
            return AckReply().encode()
        if cmd in (Command.STACK, Command.RETURN, Command.HOLD):
            return self._escrow_command(cmd)
        if cmd is Command.ENABLE_BILL_TYPES:
            self.enabled = bill_types_from_mask(msg.data[:3]) & frozenset(self.denominations)
            if self.state in (State.IDLING, State.UNIT_DISABLED):
                self.state = self._idle()
            return AckReply().encode()
        return self._handle_query(cmd)

    def _escrow_command(self, cmd: Command) -> bytes:
        """STACK, RETURN or HOLD: only for a note in escrow (or held), never during a fault."""
        if self._fault_state() or self.state not in (State.ESCROW_POSITION, State.HOLDING):
            return IllegalCommandReply().encode()
        self.state = {Command.RETURN: State.RETURNING, Command.HOLD: State.HOLDING}.get(cmd, State.STACKING)
        return AckReply().encode()

    def _handle_query(self, cmd: Command) -> bytes:
        """The commands that change nothing: settings acknowledged, status and identification."""
        if cmd is Command.SET_SECURITY:
            return AckReply().encode()
        if cmd is Command.GET_STATUS:
            return StatusReply(self.enabled).encode()
        if cmd is Command.IDENTIFICATION:
            return IdentificationReply(self.part_number, self.serial_number).encode()
        if cmd is Command.GET_BILL_TABLE:
            return self._bill_table().encode()
        return IllegalCommandReply().encode()

    def _bill_table(self) -> BillTableReply:
        entries = [BillTableEntry(0, "\0\0\0", 0)] * 24
        for code, yuan in self.denominations.items():
            power = len(str(yuan)) - 1
            entries[code] = BillTableEntry(yuan // 10 ** power, "CHN", power)
        return BillTableReply(tuple(entries))

    def _poll_answer(self) -> bytes:
        if self._acked is not None and self._acked is self.state and not self._fault_state():
            self._advance()  # the host acknowledged this state: the motion happened since
        self._acked = None
        fault = self._fault_state()
        if fault is not None:
            self._answered = fault
            return PollReply(fault, bytes([self.failure_code]) if fault is State.FAILURE else b"").encode()
        state = self.state
        if state in _TYPED:
            assert self.note is not None
            reply = PollReply(state, bytes([self.note]))
        elif state is State.REJECTING:
            reply = PollReply(state, bytes([self.reject_reason]))
        else:
            reply = PollReply(state)
        self.stacked_reports += int(state is State.BILL_STACKED)
        self._answered = state
        return reply.encode()

    def _advance(self) -> None:
        state = self.state
        if state is State.ACCEPTING:
            if self.note is None:
                self.reject_reason, self.state = RejectReason.IDENTIFICATION, State.REJECTING
            elif self.note not in self.enabled:
                self.reject_reason, self.state, self.note = RejectReason.INHIBIT, State.REJECTING, None
            else:
                self.state = State.ESCROW_POSITION
        elif state is State.STACKING:
            assert self.note is not None
            self.cassette_count += 1
            self.stacked.append(self.denominations[self.note])
            self.state = State.BILL_STACKED
        elif state is State.RETURNING:
            self.state = State.BILL_RETURNED
        elif state is State.BILL_RETURNED:
            self.returned += 1
            self.note, self.state = None, self._idle()
        elif state in (State.BILL_STACKED, State.REJECTING, State.INITIALIZE):
            self.note, self.state = None, self._idle()

    def _idle(self) -> State:
        return State.IDLING if self.enabled else State.UNIT_DISABLED

    def _fault_state(self) -> State | None:
        for fault, state in _FAULT_STATE:
            if fault in self.device_fault_set:
                return state
        if self.cassette_count >= self.capacity:
            return State.DROP_CASSETTE_FULL
        return None

    def _reset(self) -> None:
        if self.state is State.POWER_UP_WITH_BILL_IN_STACKER and self.note is not None:
            self.cassette_count += 1
            self.stacked.append(self.denominations[self.note])
        elif self.note is not None:
            self.returned += 1
        self.note, self._answered, self._acked = None, None, None
        self.enabled = frozenset()
        self.state = State.INITIALIZE

    # -- customer and engineer -------------------------------------------------------------------
    def _insert(self, value: str) -> dict[str, Any]:
        fault = self._fault_state()
        if fault is not None:
            return {"accepted": False, "reason": fault.name.lower()}
        if self.state is not State.IDLING:
            return {"accepted": False, "reason": "inhibited" if self.state is State.UNIT_DISABLED else "busy",
                    "state": self.state.name}
        by_value = {v: c for c, v in self.denominations.items()}
        self.note = by_value.get(int(value)) if value.isdigit() else None
        self.state = State.ACCEPTING
        return {"accepted": True, "state": self.state.name,
                "denomination_code": f"0x{self.note:02X}" if self.note is not None else None}

    def _lose_note(self) -> None:
        if self.state in _IN_FLIGHT and self.state is not State.BILL_STACKED:
            self.lost += int(self.note is not None)
            self.note, self.state = None, self._idle()

    def _power_cycle_with_bill(self) -> None:
        self.enabled, self._answered, self._acked = frozenset(), None, None
        if self.state is State.BILL_STACKED:  # already in the cassette: a plain power-up
            self.note, self.state = None, State.POWER_UP
            return
        if self.note is None:
            self.note = min(self.denominations)  # a note pushed in as the power came back
        self.state = (State.POWER_UP_WITH_BILL_IN_STACKER if self.state is State.STACKING
                      else State.POWER_UP_WITH_BILL_IN_VALIDATOR)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            reported = self._fault_state() or self.state
            return {**super().snapshot(), "state": reported.name, "enabled": sorted(self.enabled),
                    "device_faults": sorted(self.device_fault_set), "cassette_count": self.cassette_count,
                    "capacity": self.capacity, "stacked": list(self.stacked), "returned": self.returned,
                    "lost": self.lost, "note": f"0x{self.note:02X}" if self.note is not None else None}
