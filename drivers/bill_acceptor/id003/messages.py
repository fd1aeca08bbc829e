"""ID003 messages: typed commands (host -> acceptor) and replies (acceptor -> host). Sans-IO.

The two directions share codes with different meanings (0x43 is RETURN one way and
STACKER_FULL the other), so there are two decoders: :func:`decode_reply` for the host side and
:func:`decode_command` for the acceptor side (the simulator).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import ClassVar

from drivers.base.errors import FrameError
from drivers.bill_acceptor.id003.constants import (
    ACK,
    INHIBIT_OFF,
    INHIBIT_ON,
    SETTING_COMMANDS,
    SETTING_REQUESTS,
    STATUSES_WITH_DATA,
    STATUSES_WITH_OPTIONAL_DATA,
    Command,
    FailureCode,
    RejectReason,
    Status,
)
from drivers.bill_acceptor.id003.frames import Frame

__all__ = [
    "AckCommand",
    "AckReply",
    "BootVersionRequest",
    "HoldCommand",
    "HostCommand",
    "Reply",
    "ResetCommand",
    "ReturnCommand",
    "SettingCommand",
    "SettingReply",
    "SettingRequest",
    "Stack1Command",
    "Stack2Command",
    "StatusReply",
    "StatusRequest",
    "VersionReply",
    "VersionRequest",
    "WaitCommand",
    "decode_command",
    "decode_reply",
    "denomination_mask",
    "enabled_codes_from_mask",
]


# -- host -> acceptor -------------------------------------------------------------------------
class _HostMessage:
    """Mixin: a host command's code, payload and encoding."""

    __slots__ = ()
    code: ClassVar[Command]

    @property
    def command(self) -> Command:
        return self.code

    def payload(self) -> bytes:
        return b""

    def frame(self) -> Frame:
        return Frame(int(self.command), self.payload())

    def encode(self) -> bytes:
        return self.frame().encode()


@dataclass(frozen=True, slots=True)
class StatusRequest(_HostMessage):
    """STATUS REQUEST (0x11): ``FC 05 11 27 56`` (vector in docs/hardware.md)."""

    code: ClassVar[Command] = Command.STATUS_REQUEST


@dataclass(frozen=True, slots=True)
class ResetCommand(_HostMessage):
    code: ClassVar[Command] = Command.RESET


@dataclass(frozen=True, slots=True)
class Stack1Command(_HostMessage):
    code: ClassVar[Command] = Command.STACK_1


@dataclass(frozen=True, slots=True)
class Stack2Command(_HostMessage):
    code: ClassVar[Command] = Command.STACK_2


@dataclass(frozen=True, slots=True)
class ReturnCommand(_HostMessage):
    code: ClassVar[Command] = Command.RETURN


@dataclass(frozen=True, slots=True)
class HoldCommand(_HostMessage):
    code: ClassVar[Command] = Command.HOLD


@dataclass(frozen=True, slots=True)
class WaitCommand(_HostMessage):
    code: ClassVar[Command] = Command.WAIT


@dataclass(frozen=True, slots=True)
class AckCommand(_HostMessage):
    """The host's ACK of VEND_VALID (0x50); the acceptor sends nothing back."""

    code: ClassVar[Command] = Command.ACK


@dataclass(frozen=True, slots=True)
class VersionRequest(_HostMessage):
    code: ClassVar[Command] = Command.GET_VERSION


@dataclass(frozen=True, slots=True)
class BootVersionRequest(_HostMessage):
    code: ClassVar[Command] = Command.GET_BOOT_VERSION


@dataclass(frozen=True, slots=True)
class SettingRequest:
    """A GET_* setting status request (0x80..0x87); answered with the same code and the setting."""

    command: Command

    def __post_init__(self) -> None:
        if not 0x80 <= self.command <= 0x87:
            raise ValueError(f"{self.command!r} is not a setting request")

    def frame(self) -> Frame:
        return Frame(int(self.command))

    def encode(self) -> bytes:
        return self.frame().encode()


@dataclass(frozen=True, slots=True)
class SettingCommand:
    """A SET_* command (0xC0..0xC7) with its data; the acceptor echoes it back [id003.py]."""

    command: Command
    data: bytes

    def __post_init__(self) -> None:
        if self.command not in SETTING_COMMANDS:
            raise ValueError(f"{self.command!r} is not a setting command")

    @classmethod
    def inhibit(cls, inhibit: bool) -> SettingCommand:
        """SET_INHIBIT: ``C3 00`` accepts notes, ``C3 01`` inhibits [Portalum]."""
        return cls(Command.SET_INHIBIT, bytes([INHIBIT_ON if inhibit else INHIBIT_OFF]))

    @classmethod
    def denominations(cls, enabled_codes: Collection[int]) -> SettingCommand:
        """SET_DENOM enabling exactly ``enabled_codes`` (escrow codes 0x61..0x68)."""
        return cls(Command.SET_DENOM, denomination_mask(enabled_codes))

    def frame(self) -> Frame:
        return Frame(int(self.command), self.data)

    def encode(self) -> bytes:
        return self.frame().encode()


HostCommand = (StatusRequest | ResetCommand | Stack1Command | Stack2Command | ReturnCommand | HoldCommand
               | WaitCommand | AckCommand | VersionRequest | BootVersionRequest | SettingRequest | SettingCommand)

_SIMPLE: dict[int, type[_HostMessage]] = {
    m.code: m for m in (StatusRequest, ResetCommand, Stack1Command, Stack2Command, ReturnCommand, HoldCommand,
                        WaitCommand, AckCommand, VersionRequest, BootVersionRequest)
}


def denomination_mask(enabled_codes: Collection[int]) -> bytes:
    """SET_DENOM data: two bytes; bit n of the first is escrow code 0x61+n, 1 = disabled [id003.py]."""
    mask = 0
    for bit in range(8):
        if 0x61 + bit not in enabled_codes:
            mask |= 1 << bit
    return bytes([mask, 0x00])


def enabled_codes_from_mask(data: bytes) -> frozenset[int]:
    """The escrow codes a SET_DENOM mask enables (the acceptor side of :func:`denomination_mask`)."""
    mask = data[0] if data else 0
    return frozenset(0x61 + bit for bit in range(8) if not mask & (1 << bit))


def decode_command(frame: Frame) -> HostCommand:
    """Acceptor side: the host command in ``frame``.

    Raises:
        FrameError: unknown command code, or data where the command takes none.
    """
    try:
        command = Command(frame.cmd)
    except ValueError:
        raise FrameError(f"unknown ID003 command 0x{frame.cmd:02X}") from None
    if command in SETTING_COMMANDS:
        if not frame.data:
            raise FrameError(f"{command.name} needs data")
        return SettingCommand(command, frame.data)
    if frame.data:
        raise FrameError(f"{command.name} takes no data, got {len(frame.data)} bytes")
    if command in _SIMPLE:
        return _SIMPLE[command]()
    return SettingRequest(command)


# -- acceptor -> host -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StatusReply:
    """A status answer to STATUS REQUEST: the status code and its data (escrow code, reason...)."""

    status: Status
    data: bytes = b""

    @property
    def denomination_code(self) -> int | None:
        return self.data[0] if self.status is Status.ESCROW else None

    @property
    def reject_reason(self) -> RejectReason | int | None:
        if self.status is not Status.REJECTING:
            return None
        return _enum_or_int(RejectReason, self.data[0])

    @property
    def failure_code(self) -> FailureCode | int | None:
        if self.status is not Status.FAILURE:
            return None
        return _enum_or_int(FailureCode, self.data[0])

    def frame(self) -> Frame:
        return Frame(int(self.status), self.data)

    def encode(self) -> bytes:
        return self.frame().encode()


@dataclass(frozen=True, slots=True)
class AckReply:
    """The acceptor's ACK of an operation command (``FC 05 50 AA 05``)."""

    def frame(self) -> Frame:
        return Frame(ACK)

    def encode(self) -> bytes:
        return self.frame().encode()


@dataclass(frozen=True, slots=True)
class SettingReply:
    """The echo of a setting command, or the answer to a GET_* setting request."""

    command: Command
    data: bytes = b""

    def frame(self) -> Frame:
        return Frame(int(self.command), self.data)

    def encode(self) -> bytes:
        return self.frame().encode()


@dataclass(frozen=True, slots=True)
class VersionReply:
    """The answer to VERSION REQUEST (0x88) or BOOT VERSION REQUEST (0x89): ASCII text."""

    command: Command
    text: str

    def frame(self) -> Frame:
        return Frame(int(self.command), self.text.encode("ascii", "replace"))

    def encode(self) -> bytes:
        return self.frame().encode()


Reply = StatusReply | AckReply | SettingReply | VersionReply


def _enum_or_int(enum: type[RejectReason] | type[FailureCode], value: int) -> RejectReason | FailureCode | int:
    try:
        return enum(value)
    except ValueError:
        return value


def decode_reply(frame: Frame) -> Reply:
    """Host side: the acceptor's reply in ``frame``.

    Raises:
        FrameError: unknown code, or data that does not fit the code.
    """
    code = frame.cmd
    if code == ACK:
        if frame.data:
            raise FrameError("ACK carries no data")
        return AckReply()
    if code in (Command.GET_VERSION, Command.GET_BOOT_VERSION):
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "?" for b in frame.data)
        return VersionReply(Command(code), text.strip())
    if code in SETTING_COMMANDS or code in SETTING_REQUESTS:
        return SettingReply(Command(code), frame.data)
    try:
        status = Status(code)
    except ValueError:
        raise FrameError(f"unknown ID003 reply code 0x{code:02X}") from None
    if status in STATUSES_WITH_DATA:
        if not frame.data:
            raise FrameError(f"{status.name} needs a data byte")
        if status is not Status.ESCROW and len(frame.data) != 1:
            raise FrameError(f"{status.name} takes one data byte, got {len(frame.data)}")
    elif status in STATUSES_WITH_OPTIONAL_DATA:
        if len(frame.data) > 1:
            raise FrameError(f"{status.name} takes at most one data byte, got {len(frame.data)}")
    elif frame.data:
        raise FrameError(f"{status.name} takes no data, got {len(frame.data)} bytes")
    return StatusReply(status, frame.data)
