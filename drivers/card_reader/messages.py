"""Module commands and replies (the TEXT inside a CRT frame), M001 §3.

Command TEXT: ``'C' CM PM [DATA]``. Replies: ``'P' CM PM st0 st1 st2 [DATA]`` (positive) or
``'N' CM PM e1 e0 [DATA]`` (negative, e1 e0 an ASCII error code from M001 §2.2).
Pure: no I/O, no logging.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.base.errors import FrameError
from drivers.card_reader.constants import (
    CM,
    CMT,
    EMT,
    EMT_AS_PRINTED,
    MAX_DATA,
    PMT,
    BinCounterPm,
    CpuPm,
    CpuSti,
    CpuType,
    EntryPm,
    InitPm,
    MovePm,
    St0,
    St2,
    StatusPm,
    Vcc,
)


@dataclass(frozen=True, slots=True)
class Command:
    """A host command. ``data`` may carry a C-APDU, so it is kept out of ``repr``."""

    cm: int
    pm: int
    data: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if not (0 <= self.cm <= 0xFF and 0 <= self.pm <= 0xFF):
            raise ValueError("CM/PM must be bytes")
        if len(self.data) > MAX_DATA:
            raise ValueError(f"DATA longer than {MAX_DATA} bytes")

    def encode(self) -> bytes:
        return bytes([CMT, self.cm, self.pm]) + self.data


@dataclass(frozen=True, slots=True)
class ModuleStatus:
    """st0 st1 st2 of a positive reply (M001 §2.1.2), raw bytes kept for vendor codes."""

    st0: int
    st1: int
    st2: int

    @property
    def card_position(self) -> St0 | None:
        """The card position, or None for a value the spec does not define."""
        try:
            return St0(self.st0)
        except ValueError:
            return None

    @property
    def bin_full(self) -> bool:
        return self.st2 == St2.BIN_FULL

    @property
    def code(self) -> str:
        return bytes([self.st0, self.st1, self.st2]).decode("latin-1")


@dataclass(frozen=True, slots=True)
class PositiveReply:
    cm: int
    pm: int
    status: ModuleStatus
    #: may carry an R-APDU or an ATR: never in repr
    data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class NegativeReply:
    cm: int
    pm: int
    #: two ASCII characters, e.g. "10" (card jam); see constants.ErrorCode
    error: str
    data: bytes = field(default=b"", repr=False)


Reply = PositiveReply | NegativeReply


def decode_command(text: bytes) -> Command:
    """Decode a command TEXT (the simulator's side)."""
    if len(text) < 3 or text[0] != CMT:
        raise FrameError("command TEXT must start with 'C' CM PM")
    return Command(cm=text[1], pm=text[2], data=bytes(text[3:]))


def decode_reply(text: bytes) -> Reply:
    """Decode a reply TEXT.

    Raises:
        FrameError: unknown head byte or too short for its head.
    """
    if len(text) < 3:
        raise FrameError(f"reply TEXT too short ({len(text)} bytes)")
    head, cm, pm = text[0], text[1], text[2]
    if head == PMT:
        if len(text) < 6:
            raise FrameError("positive reply without st0 st1 st2")
        return PositiveReply(cm, pm, ModuleStatus(text[3], text[4], text[5]), bytes(text[6:]))
    if head in (EMT, EMT_AS_PRINTED):
        if len(text) < 5:
            raise FrameError("negative reply without e1 e0")
        return NegativeReply(cm, pm, bytes(text[3:5]).decode("latin-1"), bytes(text[5:]))
    raise FrameError(f"unknown reply head 0x{head:02X}")


def encode_positive(cm: int, pm: int, status: ModuleStatus, data: bytes = b"") -> bytes:
    """Positive reply TEXT (the simulator's side)."""
    return bytes([PMT, cm, pm, status.st0, status.st1, status.st2]) + data


def encode_negative(cm: int, pm: int, error: str, data: bytes = b"") -> bytes:
    """Negative reply TEXT (the simulator's side)."""
    code = error.encode("ascii")
    if len(code) != 2:
        raise ValueError("error code must be two ASCII characters")
    return bytes([EMT, cm, pm]) + code + data


# -- commands ------------------------------------------------------------------------------
def initialize(pm: InitPm = InitPm.NO_MOVE) -> Command:
    return Command(CM.INITIALIZE, pm)


def status_request(pm: StatusPm = StatusPm.STATUS) -> Command:
    return Command(CM.STATUS_REQUEST, pm)


def card_move(pm: MovePm) -> Command:
    return Command(CM.CARD_MOVE, pm)


def card_entry(enable: bool) -> Command:
    return Command(CM.CARD_ENTRY, EntryPm.ENABLE if enable else EntryPm.DISABLE)


def cpu_cold_reset(vcc: Vcc = Vcc.EMV_5V) -> Command:
    return Command(CM.CPUCARD_CONTROL, CpuPm.COLD_RESET, bytes([vcc]))


def cpu_power_down() -> Command:
    return Command(CM.CPUCARD_CONTROL, CpuPm.POWER_DOWN)


def cpu_status_check() -> Command:
    return Command(CM.CPUCARD_CONTROL, CpuPm.STATUS_CHECK)


def cpu_apdu(apdu: bytes, protocol: CpuType = CpuType.T0) -> Command:
    pm = CpuPm.T0_APDU if protocol == CpuType.T0 else CpuPm.T1_APDU
    return Command(CM.CPUCARD_CONTROL, pm, apdu)


def bin_counter_read() -> Command:
    return Command(CM.RECYCLE_BIN_COUNTER, BinCounterPm.READ)


def bin_counter_set(count: int) -> Command:
    if not 0 <= count <= 999:
        raise ValueError("bin counter is 000..999")
    return Command(CM.RECYCLE_BIN_COUNTER, BinCounterPm.SET, f"{count:03d}".encode("ascii"))


# -- reply payloads -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChipReset:
    """Cold/warm reset answer: protocol type and ATR (M001 §3.2.1)."""

    protocol: CpuType
    atr: bytes


def decode_chip_reset(data: bytes) -> ChipReset:
    if len(data) < 3:
        raise FrameError("reset reply without Type and ATR")
    try:
        protocol = CpuType(data[0])
    except ValueError as exc:
        raise FrameError(f"unknown chip protocol type 0x{data[0]:02X}") from exc
    if data[1] not in (0x3B, 0x3F):
        raise FrameError(f"ATR TS must be 3B or 3F, got 0x{data[1]:02X}")
    return ChipReset(protocol, bytes(data[1:]))


def decode_cpu_status(data: bytes) -> CpuSti:
    if len(data) < 1:
        raise FrameError("CPU status reply without sti")
    try:
        return CpuSti(data[0])
    except ValueError as exc:
        raise FrameError(f"unknown CPU status 0x{data[0]:02X}") from exc


def decode_bin_counter(data: bytes) -> int:
    """Count "000".."999" (M001 §3.6.9.1)."""
    text = bytes(data[:3])
    if len(text) != 3 or not text.isdigit():
        raise FrameError("bin counter must be three ASCII digits")
    return int(text)
