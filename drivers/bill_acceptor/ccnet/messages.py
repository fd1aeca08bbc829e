"""CCNET messages: host commands and the validator's replies. Sans-IO.

A reply carries no command code, so the host decodes it knowing what it asked
(:func:`decode_reply`); the validator side (the simulator) uses :func:`decode_command`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from drivers.base.errors import FrameError
from drivers.bill_acceptor.ccnet.constants import (
    ACK,
    BILL_TYPES,
    ILLEGAL_COMMAND,
    NAK,
    STATES_WITH_DATA,
    Command,
    FailureCode,
    RejectReason,
    State,
)
from drivers.bill_acceptor.ccnet.frames import Frame

__all__ = [
    "AckReply",
    "BillTableEntry",
    "BillTableReply",
    "HostCommand",
    "IdentificationReply",
    "IllegalCommandReply",
    "NakReply",
    "PollReply",
    "Reply",
    "StatusReply",
    "bill_type_mask",
    "bill_types_from_mask",
    "decode_command",
    "decode_reply",
]

#: how many data bytes each command takes
_COMMAND_DATA = {Command.ENABLE_BILL_TYPES: 6, Command.SET_SECURITY: 3}
#: IDENTIFICATION: part number (15 ASCII), serial number (12 ASCII), asset number (7 bytes)
_IDENT_LAYOUT = (15, 12, 7)
#: GET BILL TABLE: 24 entries of 5 bytes
_BILL_ENTRY = 5


def bill_type_mask(types: Collection[int]) -> bytes:
    """Three bytes, most significant first, bit n set for bill type n (ENABLE BILL TYPES)."""
    mask = 0
    for t in types:
        if not 0 <= t < BILL_TYPES:
            raise ValueError(f"bill type out of range 0..23: {t}")
        mask |= 1 << t
    return mask.to_bytes(3, "big")


def bill_types_from_mask(data: bytes) -> frozenset[int]:
    mask = int.from_bytes(data[:3], "big")
    return frozenset(t for t in range(BILL_TYPES) if mask >> t & 1)


# -- host -> validator --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HostCommand:
    """A host command; ``data`` is its parameters (none for most)."""

    command: Command
    data: bytes = b""

    def __post_init__(self) -> None:
        want = _COMMAND_DATA.get(self.command, 0)
        if len(self.data) != want:
            raise ValueError(f"{self.command.name} takes {want} data bytes, got {len(self.data)}")

    @classmethod
    def enable_bill_types(cls, enabled: Collection[int], escrow: Collection[int] | None = None) -> HostCommand:
        """ENABLE BILL TYPES: the types accepted, and those held in escrow for the host's decision
        (default: all enabled ones, so the host decides at escrow)."""
        return cls(Command.ENABLE_BILL_TYPES,
                   bill_type_mask(enabled) + bill_type_mask(enabled if escrow is None else escrow))

    @classmethod
    def set_security(cls, high_security: Collection[int] = ()) -> HostCommand:
        return cls(Command.SET_SECURITY, bill_type_mask(high_security))

    def frame(self) -> Frame:
        return Frame(bytes([self.command]) + self.data)

    def encode(self) -> bytes:
        return self.frame().encode()


def decode_command(frame: Frame) -> HostCommand:
    """Validator side: the host command in ``frame``.

    Raises:
        FrameError: unknown command, or the wrong number of data bytes.
    """
    try:
        command = Command(frame.data[0])
    except ValueError:
        raise FrameError(f"unknown CCNET command 0x{frame.data[0]:02X}") from None
    try:
        return HostCommand(command, frame.data[1:])
    except ValueError as exc:
        raise FrameError(str(exc)) from None


# -- validator -> host --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AckReply:
    def encode(self) -> bytes:
        return Frame(bytes([ACK])).encode()


@dataclass(frozen=True, slots=True)
class NakReply:
    """The validator received a corrupt frame: send it again."""

    def encode(self) -> bytes:
        return Frame(bytes([NAK])).encode()


@dataclass(frozen=True, slots=True)
class IllegalCommandReply:
    def encode(self) -> bytes:
        return Frame(bytes([ILLEGAL_COMMAND])).encode()


@dataclass(frozen=True, slots=True)
class PollReply:
    """The answer to POLL: a state and, for some states, one data byte."""

    state: State
    data: bytes = b""

    def __post_init__(self) -> None:
        want = 1 if self.state in STATES_WITH_DATA else 0
        if len(self.data) != want:
            raise ValueError(f"{self.state.name} takes {want} data bytes, got {len(self.data)}")

    @property
    def bill_type(self) -> int | None:
        return self.data[0] if self.state in (State.ESCROW_POSITION, State.BILL_STACKED,
                                              State.BILL_RETURNED) else None

    @property
    def reject_reason(self) -> RejectReason | int | None:
        if self.state is not State.REJECTING:
            return None
        try:
            return RejectReason(self.data[0])
        except ValueError:
            return self.data[0]

    @property
    def failure_code(self) -> FailureCode | int | None:
        if self.state is not State.FAILURE:
            return None
        try:
            return FailureCode(self.data[0])
        except ValueError:
            return self.data[0]

    def encode(self) -> bytes:
        return Frame(bytes([self.state]) + self.data).encode()


@dataclass(frozen=True, slots=True)
class StatusReply:
    """GET STATUS: the enabled bill types and the high-security ones."""

    enabled: frozenset[int]
    security: frozenset[int] = frozenset()

    def encode(self) -> bytes:
        return Frame(bill_type_mask(self.enabled) + bill_type_mask(self.security)).encode()


@dataclass(frozen=True, slots=True)
class IdentificationReply:
    part_number: str
    serial_number: str
    asset_number: bytes = bytes(7)

    def encode(self) -> bytes:
        part = self.part_number.encode("ascii", "replace")[:15].ljust(15)
        serial = self.serial_number.encode("ascii", "replace")[:12].ljust(12)
        return Frame(part + serial + self.asset_number[:7].ljust(7, b"\0")).encode()


@dataclass(frozen=True, slots=True)
class BillTableEntry:
    """One bill type: value = digit * 10**power (power negative when bit 7 of its byte is set)."""

    digit: int
    country: str
    power: int

    @property
    def value(self) -> float:
        return self.digit * 10.0 ** self.power

    def pack(self) -> bytes:
        power = (0x80 | -self.power) if self.power < 0 else self.power
        return bytes([self.digit]) + self.country.encode("ascii")[:3].ljust(3) + bytes([power])

    @classmethod
    def unpack(cls, raw: bytes) -> BillTableEntry:
        power = -(raw[4] & 0x7F) if raw[4] & 0x80 else raw[4]
        country = "".join(chr(b) if 0x20 <= b < 0x7F else "?" for b in raw[1:4])
        return cls(raw[0], country, power)


@dataclass(frozen=True, slots=True)
class BillTableReply:
    """GET BILL TABLE: bill type -> entry (a zero digit is an unused type)."""

    entries: tuple[BillTableEntry, ...]

    def used(self) -> dict[int, BillTableEntry]:
        return {t: e for t, e in enumerate(self.entries) if e.digit}

    def encode(self) -> bytes:
        entries = list(self.entries)[:BILL_TYPES]
        entries += [BillTableEntry(0, "\0\0\0", 0)] * (BILL_TYPES - len(entries))
        return Frame(b"".join(e.pack() for e in entries)).encode()


Reply = AckReply | NakReply | IllegalCommandReply | PollReply | StatusReply | IdentificationReply | BillTableReply


def decode_reply(frame: Frame, asked: Command) -> Reply:
    """Host side: the validator's answer in ``frame`` to the command ``asked``.

    Raises:
        FrameError: the data does not fit the command.
    """
    data = frame.data
    if data == bytes([NAK]):
        return NakReply()
    if data == bytes([ILLEGAL_COMMAND]) and asked is not Command.POLL:
        return IllegalCommandReply()
    if asked is Command.POLL:
        try:
            return PollReply(State(data[0]), data[1:])
        except ValueError as exc:
            raise FrameError(f"bad POLL answer {data.hex(' ')}: {exc}") from None
    if asked is Command.GET_STATUS:
        if len(data) != 6:
            raise FrameError(f"GET STATUS answer has {len(data)} bytes, expected 6")
        return StatusReply(bill_types_from_mask(data[:3]), bill_types_from_mask(data[3:]))
    if asked is Command.IDENTIFICATION:
        if len(data) != sum(_IDENT_LAYOUT):
            raise FrameError(f"IDENTIFICATION answer has {len(data)} bytes, expected {sum(_IDENT_LAYOUT)}")
        text = data.decode("ascii", "replace")
        return IdentificationReply(text[:15].strip(), text[15:27].strip(), data[27:])
    if asked is Command.GET_BILL_TABLE:
        if len(data) != BILL_TYPES * _BILL_ENTRY:
            raise FrameError(f"GET BILL TABLE answer has {len(data)} bytes, expected {BILL_TYPES * _BILL_ENTRY}")
        return BillTableReply(tuple(BillTableEntry.unpack(data[i: i + _BILL_ENTRY])
                                    for i in range(0, len(data), _BILL_ENTRY)))
    if data == bytes([ACK]):
        return AckReply()
    raise FrameError(f"unexpected answer to {asked.name}: {data.hex(' ')}")
