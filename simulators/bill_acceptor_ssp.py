"""SspPeer: an ITL SSP / eSSP note validator (NV-series, slave id 0), over the driver's own codec.

Each POLL with a new SEQ flag moves a note one step and reports it (a packet repeated with the
same flag gets the last answer again, not executed)::

    insert_note -> READ_NOTE(0) -> READ_NOTE(ch) [escrow: the next POLL accepts it]
        -> STACKING -> CREDIT_NOTE(ch) + STACKING -> STACKED
    escrow --REJECT_BANKNOTE--> REJECTING -> REJECTED;   a disabled channel: REJECTING -> REJECTED

* DISABLED is reported at every POLL while disabled with no note moving;
* device faults, reported at every POLL while on: ``jam`` (UNSAFE_JAM), ``safe_jam``,
  ``cassette_full`` (STACKER_FULL; also at ``capacity``), ``cassette_removed`` (CASHBOX_REMOVED,
  then CASHBOX_REPLACED once when cleared, the box emptied), ``fraud_attempt`` (FRAUD_ATTEMPT),
  ``failure`` (CALIBRATION_FAIL + ``failure_code``). A jam or a removed box before the credit
  loses the note; ``power_up_with_bill`` resets the unit with the note inside (SLAVE_RESET, then
  NOTE_CLEARED_TO_CASHBOX once stacking started, else NOTE_CLEARED_FROM_FRONT);
* eSSP: SET_GENERATOR / SET_MODULUS / REQUEST_KEY_EXCHANGE negotiate a key; then STEX packets are
  decrypted, their eCOUNT checked (a wrong count gets no answer) and the answer encrypted with
  the same count. ``require_encryption`` refuses plain commands other than SYNC and the key
  exchange with KEY_NOT_SET (current firmware on payout units).
"""

from __future__ import annotations

from typing import Any, ClassVar

from drivers.base.errors import FrameError
from drivers.bill_acceptor.ssp.crypto import DEFAULT_FIXED_KEY, STEX, EsspKey, KeyExchange
from drivers.bill_acceptor.ssp.frames import Packet, new_decoder
from drivers.bill_acceptor.ssp.messages import (
    Command,
    Event,
    EventCode,
    Response,
    SetupReply,
    channels_from_mask,
    encode_events,
)
from simulators.base.peer import DevicePeer
from simulators.bill_acceptor_common import NoteAcceptorMixin

__all__ = ["SspPeer"]

_FAULT_EVENTS: tuple[tuple[str, EventCode], ...] = (
    ("failure", EventCode.CALIBRATION_FAIL), ("jam", EventCode.UNSAFE_JAM), ("safe_jam", EventCode.SAFE_JAM),
    ("fraud_attempt", EventCode.FRAUD_ATTEMPT), ("cassette_removed", EventCode.CASHBOX_REMOVED),
    ("cassette_full", EventCode.STACKER_FULL))
_PLAIN = frozenset({Command.SYNC, Command.SET_GENERATOR, Command.SET_MODULUS, Command.REQUEST_KEY_EXCHANGE})
#: stage -> next stage at the next new POLL
_NEXT = {"reading": "escrow", "escrow": "stacking", "stacking": "credit", "credit": "stacked", "stacked": None,
         "rejecting": "rejected", "rejected": None}


class SspPeer(NoteAcceptorMixin, DevicePeer):
    device_class: ClassVar[str] = "bill_acceptor"
    driver: ClassVar[str] = "ssp"
    line: ClassVar[dict[str, Any]] = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 2}
    device_faults: ClassVar[tuple[str, ...]] = ("jam", "safe_jam", "cassette_full", "cassette_removed",
                                                "fraud_attempt", "failure", "power_up_with_bill")
    actions: ClassVar[tuple[str, ...]] = ("insert_note", "empty_cassette")

    def __init__(self, seed: int = 0, *, capacity: int = 500, channels: tuple[int, ...] = (1, 5, 10, 20, 50, 100),
                 require_encryption: bool = False, fixed_key: int = DEFAULT_FIXED_KEY, failure_code: int = 0x07,
                 serial: int = 71234567) -> None:
        super().__init__(seed)
        self._decoder = new_decoder()
        self.channels = channels
        self.capacity, self.serial, self.failure_code = capacity, serial, failure_code
        self.require_encryption, self.fixed_key = require_encryption, fixed_key
        self.enabled = False
        self.inhibits: frozenset[int] = frozenset()
        self.device_fault_set: set[str] = set()
        self.note: int | None = None  # channel, or 0 for a note it does not know
        self.stage: str | None = None
        self._reported = False
        self._once: list[Event] = [Event(EventCode.SLAVE_RESET)]
        self._last_seq: bool | None = None
        self._last_answer = b""
        self._generator = self._modulus = 0
        self.key: EsspKey | None = None
        self.cassette_count, self.returned, self.lost, self.credit_reports = 0, 0, 0, 0
        self.stacked: list[int] = []
        self.commands: list[Command] = []

    # -- link side ----------------------------------------------------------------------------------
    def on_bytes(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for packet in self._decoder.feed(data):
            self.requests += 1
            if packet.addr != 0:
                continue
            if packet.seq == self._last_seq and packet.data[:1] != bytes([Command.SYNC]):
                out.append(self._last_answer)  # a retry: the last answer again, not executed
                continue
            answer = self._packet(packet)
            if answer is None:
                continue
            self._last_seq, self._last_answer = packet.seq, Packet(answer, seq=packet.seq).encode()
            out.append(self._last_answer)
        return out

    def _packet(self, packet: Packet) -> bytes | None:
        data, count = packet.data, None
        if data[0] == STEX:
            if self.key is None:
                return bytes([Response.KEY_NOT_SET])
            try:
                data, count = self.key.unwrap(data)
            except FrameError:
                return None
            if count != self.key.count or not data:
                return None  # replayed or out of step: no answer
        try:
            cmd = Command(data[0])
        except ValueError:
            answer = bytes([Response.UNKNOWN_COMMAND])
        else:
            self.commands.append(cmd)
            if self.require_encryption and count is None and cmd not in _PLAIN:
                answer = bytes([Response.KEY_NOT_SET])
            else:
                answer = self._handle(cmd, data[1:])
        if count is not None and self.key is not None:
            key = self.key
            key.count += 1
            return key.wrap(answer, count)
        return answer

    def _handle(self, cmd: Command, params: bytes) -> bytes:
        ok = bytes([Response.OK])
        if cmd is Command.SYNC:
            self.key = None
            return ok
        if cmd is Command.POLL:
            return encode_events(self._poll_events())
        if cmd in (Command.SET_GENERATOR, Command.SET_MODULUS, Command.REQUEST_KEY_EXCHANGE):
            return self._key_step(cmd, params)
        if cmd is Command.HOST_PROTOCOL_VERSION:
            return ok if params and 1 <= params[0] <= 8 else bytes([Response.PARAMETER_OUT_OF_RANGE])
        if cmd is Command.SETUP_REQUEST:
            return SetupReply("0420", "CNY", self.channels).encode()
        if cmd is Command.SET_INHIBITS:
            self.inhibits = channels_from_mask(params)
            return ok
        if cmd in (Command.ENABLE, Command.DISABLE):
            self.enabled = cmd is Command.ENABLE
            return ok
        return self._handle_unit(cmd)

    def _handle_unit(self, cmd: Command) -> bytes:
        """The commands about the note in escrow and the unit itself (reset, identification)."""
        ok = bytes([Response.OK])
        if cmd is Command.REJECT_BANKNOTE:
            if self.stage != "escrow":
                return bytes([Response.CANNOT_PROCESS])
            self.stage, self._reported = "rejecting", False
            return ok
        if cmd is Command.HOLD:
            return ok if self.stage == "escrow" else bytes([Response.CANNOT_PROCESS])
        if cmd is Command.RESET:
            self._power_cycle()
            return ok
        if cmd is Command.GET_FIRMWARE_VERSION:
            return ok + b"NV0200420CNY01"
        if cmd is Command.GET_SERIAL_NUMBER:
            return ok + self.serial.to_bytes(4, "big")
        if cmd is Command.LAST_REJECT_CODE:
            return ok + b"\x06"
        return bytes([Response.UNKNOWN_COMMAND])

    def _key_step(self, cmd: Command, params: bytes) -> bytes:
        if len(params) != 8:
            return bytes([Response.WRONG_PARAMETERS])
        value = int.from_bytes(params, "little")
        if cmd is Command.SET_GENERATOR:
            self._generator = value
        elif cmd is Command.SET_MODULUS:
            self._modulus = value
        else:
            try:
                mine = KeyExchange(self._generator, self._modulus)
            except ValueError:
                return bytes([Response.PARAMETER_OUT_OF_RANGE])
            self.key = EsspKey(mine.shared(value), self.fixed_key)
            return bytes([Response.OK]) + mine.intermediate.to_bytes(8, "little")
        return bytes([Response.OK])

    def _poll_events(self) -> list[Event]:
        events, self._once = self._once, []
        faulted = [(f, code) for f, code in _FAULT_EVENTS if f in self.device_fault_set]
        if self.cassette_count >= self.capacity and "cassette_full" not in self.device_fault_set:
            faulted.append(("cassette_full", EventCode.STACKER_FULL))
        for fault, code in faulted:
            value = {"failure": self.failure_code, "fraud_attempt": self.note or 1}.get(fault)
            events.append(Event(code, value))
        if not faulted and self.stage is not None:
            if self._reported:
                self._step()
            events += self._stage_events()
            self._reported = True
        if not self.enabled and self.stage is None and not faulted:
            events.append(Event(EventCode.DISABLED))
        return events

    def _step(self) -> None:
        stage = self.stage
        if stage == "reading" and (not self.note or self.note not in self.inhibits):
            self.stage = "rejecting"
        elif stage == "rejected" and self.note:
            self.returned += 1
            self.note, self.stage = None, None
        else:
            self.stage = _NEXT[stage or "stacked"]
        if self.stage == "credit":
            assert self.note is not None
            self.cassette_count += 1
            self.stacked.append(self.channels[self.note - 1])
        if self.stage is None:
            self.note = None

    def _stage_events(self) -> list[Event]:
        stage, ch = self.stage, self.note or 0
        if stage == "credit":
            self.credit_reports += 1
        return {"reading": [Event(EventCode.READ_NOTE, 0)], "escrow": [Event(EventCode.READ_NOTE, ch)],
                "stacking": [Event(EventCode.STACKING)],
                "credit": [Event(EventCode.CREDIT_NOTE, ch), Event(EventCode.STACKING)],
                "stacked": [Event(EventCode.STACKED)], "rejecting": [Event(EventCode.REJECTING)],
                "rejected": [Event(EventCode.REJECTED)]}.get(stage or "", [])

    def _power_cycle(self) -> None:
        self._once = [Event(EventCode.SLAVE_RESET)]
        if self.note and self.stage in ("stacking",):
            self.cassette_count += 1
            self.stacked.append(self.channels[self.note - 1])
            self._once.append(Event(EventCode.NOTE_CLEARED_TO_CASHBOX, self.note))
        elif self.note and self.stage in ("reading", "escrow"):
            self.returned += 1
            self._once.append(Event(EventCode.NOTE_CLEARED_FROM_FRONT, self.note))
        self.note, self.stage, self.enabled, self.key = None, None, False, None
        self.inhibits = frozenset()

    # -- customer and engineer ---------------------------------------------------------------------------
    def _insert(self, value: str) -> dict[str, Any]:
        if any(f in self.device_fault_set for f, _ in _FAULT_EVENTS) or self.cassette_count >= self.capacity:
            return {"accepted": False, "reason": "fault"}
        if not self.enabled or self.stage is not None:
            return {"accepted": False, "reason": "busy" if self.stage else "inhibited"}
        by_value = {v: ch for ch, v in enumerate(self.channels, start=1)}
        self.note = by_value.get(int(value), 0) if value.isdigit() else 0
        self.stage, self._reported = "reading", False
        return {"accepted": True, "channel": self.note}

    def _power_cycle_with_bill(self) -> None:
        if self.stage is None:
            self.note, self.stage = 1, "escrow"  # a note pushed in as the power came back
        self._power_cycle()

    def _lose_note(self) -> None:
        if self.stage in ("reading", "escrow", "stacking"):
            self.lost += 1
            self.note, self.stage = None, None

    def _cassette_back(self) -> None:
        self._once.append(Event(EventCode.CASHBOX_REPLACED))

    @property
    def state(self) -> str:
        faults = [code.name for f, code in _FAULT_EVENTS if f in self.device_fault_set]
        return faults[0] if faults else (self.stage or ("IDLE" if self.enabled else "DISABLED")).upper()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {**super().snapshot(), "state": self.state, "enabled": self.enabled,
                    "inhibits": sorted(self.inhibits), "device_faults": sorted(self.device_fault_set),
                    "cassette_count": self.cassette_count, "capacity": self.capacity, "stacked": list(self.stacked),
                    "returned": self.returned, "lost": self.lost, "encrypted": self.key is not None,
                    "note": self.note}
