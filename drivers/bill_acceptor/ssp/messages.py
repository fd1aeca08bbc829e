"""SSP commands, generic responses and POLL events for a note validator. Sans-IO.

Codes: ITL GA138 "SSP protocol manual" command and event tables, as tabulated by the Node
``kybarg/ssp`` library (https://github.com/kybarg/ssp, ``lib/static/commands.json``,
``status_desc.json``); the vectors are listed in docs/hardware.md. Event data lengths are those of protocol version 6
(one channel byte for note events), which the driver asks for with HOST PROTOCOL VERSION.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import IntEnum

from drivers.base.errors import FrameError

__all__ = [
    "Command",
    "Event",
    "EventCode",
    "Response",
    "SetupReply",
    "channels_from_mask",
    "decode_events",
    "encode_events",
    "inhibit_mask",
]

PROTOCOL_VERSION = 6


class Command(IntEnum):
    RESET = 0x01
    SET_INHIBITS = 0x02
    SETUP_REQUEST = 0x05
    HOST_PROTOCOL_VERSION = 0x06
    POLL = 0x07
    REJECT_BANKNOTE = 0x08
    DISABLE = 0x09
    ENABLE = 0x0A
    GET_SERIAL_NUMBER = 0x0C
    SYNC = 0x11
    LAST_REJECT_CODE = 0x17
    HOLD = 0x18
    GET_FIRMWARE_VERSION = 0x20
    SET_GENERATOR = 0x4A
    SET_MODULUS = 0x4B
    REQUEST_KEY_EXCHANGE = 0x4C


class Response(IntEnum):
    OK = 0xF0
    UNKNOWN_COMMAND = 0xF2
    WRONG_PARAMETERS = 0xF3
    PARAMETER_OUT_OF_RANGE = 0xF4
    CANNOT_PROCESS = 0xF5
    SOFTWARE_ERROR = 0xF6
    FAIL = 0xF8
    KEY_NOT_SET = 0xFA


class EventCode(IntEnum):
    SLAVE_RESET = 0xF1
    READ_NOTE = 0xEF
    CREDIT_NOTE = 0xEE
    REJECTING = 0xED
    REJECTED = 0xEC
    STACKING = 0xCC
    STACKED = 0xEB
    SAFE_JAM = 0xEA
    UNSAFE_JAM = 0xE9
    DISABLED = 0xE8
    STACKER_FULL = 0xE7
    FRAUD_ATTEMPT = 0xE6
    CASHBOX_REPLACED = 0xE4
    CASHBOX_REMOVED = 0xE3
    NOTE_CLEARED_TO_CASHBOX = 0xE2
    NOTE_CLEARED_FROM_FRONT = 0xE1
    NOTE_PATH_OPEN = 0xE0
    INITIALISING = 0xB6
    CHANNEL_DISABLE = 0xB5
    CALIBRATION_FAIL = 0x83


#: events followed by one data byte (channel, or the calibration error code)
_WITH_BYTE = frozenset({EventCode.READ_NOTE, EventCode.CREDIT_NOTE, EventCode.FRAUD_ATTEMPT,
                        EventCode.NOTE_CLEARED_TO_CASHBOX, EventCode.NOTE_CLEARED_FROM_FRONT,
                        EventCode.CALIBRATION_FAIL})


@dataclass(frozen=True, slots=True)
class Event:
    code: EventCode
    #: channel (note events) or error code (CALIBRATION_FAIL); None when the event has no data
    value: int | None = None

    def __post_init__(self) -> None:
        if (self.value is not None) != (self.code in _WITH_BYTE):
            raise ValueError(f"{self.code.name} {'needs' if self.code in _WITH_BYTE else 'takes no'} data byte")

    def encode(self) -> bytes:
        return bytes([self.code]) + (bytes([self.value]) if self.value is not None else b"")


def decode_events(data: bytes) -> tuple[Event, ...]:
    """The events of a POLL answer (its data after the OK byte).

    Raises:
        FrameError: an unknown event code (its length is unknown, so the rest cannot be read),
            or an event cut short.
    """
    events: list[Event] = []
    i = 0
    while i < len(data):
        try:
            code = EventCode(data[i])
        except ValueError:
            raise FrameError(f"unknown SSP event 0x{data[i]:02X} at offset {i}") from None
        if code in _WITH_BYTE:
            if i + 1 >= len(data):
                raise FrameError(f"{code.name} without its data byte")
            events.append(Event(code, data[i + 1]))
            i += 2
        else:
            events.append(Event(code))
            i += 1
    return tuple(events)


def encode_events(events: Collection[Event]) -> bytes:
    return bytes([Response.OK]) + b"".join(e.encode() for e in events)


def inhibit_mask(channels: Collection[int]) -> bytes:
    """SET INHIBITS data: two bytes, bit n-1 set = channel n enabled (channels 1..16)."""
    mask = 0
    for ch in channels:
        if not 1 <= ch <= 16:
            raise ValueError(f"channel out of range 1..16: {ch}")
        mask |= 1 << (ch - 1)
    return mask.to_bytes(2, "little")


def channels_from_mask(data: bytes) -> frozenset[int]:
    mask = int.from_bytes(data[:2].ljust(2, b"\0"), "little")
    return frozenset(ch for ch in range(1, 17) if mask >> (ch - 1) & 1)


@dataclass(frozen=True, slots=True)
class SetupReply:
    """SETUP REQUEST for a note validator (unit type 0), protocol version 6 layout:

    unit type (1) | firmware (4 ASCII) | country (3 ASCII) | value multiplier (3, BE) | n (1) |
    channel values (n) | channel security (n) | real value multiplier (3, BE) | protocol (1) |
    channel currencies (3n ASCII) | channel values (4n, LE)
    """

    firmware: str
    country: str
    channel_values: tuple[int, ...]
    protocol: int = PROTOCOL_VERSION
    multiplier: int = 1
    unit_type: int = 0

    def values(self) -> dict[int, int]:
        """channel -> value in whole currency units."""
        return {ch: v * self.multiplier for ch, v in enumerate(self.channel_values, start=1) if v}

    def encode(self) -> bytes:
        n = len(self.channel_values)
        return (bytes([Response.OK, self.unit_type]) + self.firmware.encode("ascii")[:4].ljust(4, b"0")
                + self.country.encode("ascii")[:3].ljust(3) + self.multiplier.to_bytes(3, "big") + bytes([n])
                + bytes(min(v, 255) for v in self.channel_values) + bytes([2] * n) + (100).to_bytes(3, "big")
                + bytes([self.protocol]) + self.country.encode("ascii")[:3].ljust(3) * n
                + b"".join(v.to_bytes(4, "little") for v in self.channel_values))

    @classmethod
    def decode(cls, data: bytes) -> SetupReply:
        """``data`` is the answer after its OK byte.

        Raises:
            FrameError: too short for its channel count.
        """
        try:
            n = data[11]
            fixed = 12 + 2 * n + 4
            protocol = data[fixed - 1]
            if protocol >= 6:
                values = tuple(int.from_bytes(data[fixed + 3 * n + 4 * i: fixed + 3 * n + 4 * i + 4], "little")
                               for i in range(n))
                if len(data) < fixed + 7 * n:
                    raise IndexError
            else:
                values = tuple(data[12: 12 + n])
                if len(data) < fixed:
                    raise IndexError
            return cls(firmware=data[1:5].decode("ascii", "replace"), country=data[5:8].decode("ascii", "replace"),
                       channel_values=values, protocol=protocol,
                       multiplier=int.from_bytes(data[8:11], "big") if protocol < 6 else 1, unit_type=data[0])
        except IndexError:
            raise FrameError(f"SETUP REQUEST answer too short ({len(data)} bytes)") from None
