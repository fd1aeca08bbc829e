"""Real-time status replies: DLE EOT n bytes and ASB blocks, decoded (sans-IO).

Reply stream layout (Epson ESC/POS Command Reference: DLE EOT https://download4.epson.biz/sec_pubs/pos/reference_en/escpos/dle_eot.html,
GS a https://download4.epson.biz/sec_pubs/pos/reference_en/escpos/gs_la.html)::

    DLE EOT reply   1 byte   b & 93h == 12h    bits 2, 3, 5, 6 carry the status for the n asked
    ASB block       4 bytes  b0 & 93h == 10h   b1..b3 & 90h == 00h (pushed unasked when enabled)

The two interleave on one RX stream and are told apart by the fixed bits of the first byte.
A DLE EOT reply does not say which n it answers: the driver pairs it with its request.

``decode_reply(buf) -> (StatusByte | AsbStatus | None, rest)``: ``None`` means "need more"
(an ASB block cut short); a byte matching neither pattern raises FrameError.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.base.errors import FrameError
from drivers.receipt_printer.constants import (
    ASB_FIXED_MASK,
    ASB_FIXED_VALUE,
    ASB_LENGTH,
    ASB_TAIL_FIXED_MASK,
    PAPER_SENSOR_FIXED_MASK,
    STATUS_FIXED_MASK,
    STATUS_FIXED_VALUE,
    ErrorCause,
    OfflineCause,
    PrinterStatus,
    RollPaperStatus,
    StatusType,
)

_FLAGS: dict[StatusType, type[PrinterStatus | OfflineCause | ErrorCause | RollPaperStatus]] = {
    StatusType.PRINTER: PrinterStatus,
    StatusType.OFFLINE_CAUSE: OfflineCause,
    StatusType.ERROR_CAUSE: ErrorCause,
    StatusType.ROLL_PAPER: RollPaperStatus,
}


@dataclass(frozen=True, slots=True)
class StatusByte:
    """One DLE EOT reply byte, fixed bits already checked."""

    value: int

    def encode(self) -> bytes:
        return bytes([self.value])


@dataclass(frozen=True, slots=True)
class AsbStatus:
    """A 4-byte Automatic Status Back block (GS a)."""

    data: bytes

    def encode(self) -> bytes:
        return self.data


Reply = StatusByte | AsbStatus


def is_status_byte(b: int) -> bool:
    return (b & STATUS_FIXED_MASK) == STATUS_FIXED_VALUE


def decode_reply(buf: bytes) -> tuple[Reply | None, bytes]:
    """The next reply in ``buf``.

    Raises:
        FrameError: the first byte has neither the DLE EOT nor the ASB fixed bits, or an
            ASB block's tail bytes have their fixed bits wrong.
    """
    if not buf:
        return None, buf
    b0 = buf[0]
    if is_status_byte(b0):
        return StatusByte(b0), buf[1:]
    if (b0 & ASB_FIXED_MASK) == ASB_FIXED_VALUE:
        if len(buf) < ASB_LENGTH:
            for b in buf[1:]:
                if b & ASB_TAIL_FIXED_MASK:
                    raise FrameError(f"ASB byte 0x{b:02X} has fixed bits 4/7 set")
            return None, buf
        block = bytes(buf[:ASB_LENGTH])
        for b in block[1:]:
            if b & ASB_TAIL_FIXED_MASK:
                raise FrameError(f"ASB byte 0x{b:02X} has fixed bits 4/7 set")
        return AsbStatus(block), buf[ASB_LENGTH:]
    raise FrameError(f"status byte 0x{b0:02X} has the fixed bits wrong (& 0x93 = 0x{b0 & 0x93:02X})")


def _flag_bits(n: StatusType, value: int) -> int:
    if not 0 <= value <= 0xFF or not is_status_byte(value):
        raise FrameError(f"DLE EOT {int(n)} reply 0x{value & 0xFF:02X} has the fixed bits wrong")
    return value & ~STATUS_FIXED_MASK & 0xFF


def decode_status_byte(n: StatusType, value: int) -> PrinterStatus | OfflineCause | ErrorCause | RollPaperStatus:
    """The named flags of a DLE EOT ``n`` reply byte (fixed bits dropped).

    Raises:
        FrameError: the fixed bits are wrong.
    """
    return _FLAGS[n](_flag_bits(n, value))


@dataclass(frozen=True, slots=True)
class RealTimeStatus:
    """The four DLE EOT reply bytes of one poll, raw and named."""

    printer: PrinterStatus
    offline_cause: OfflineCause
    error_cause: ErrorCause
    roll_paper: RollPaperStatus
    raw: tuple[int, int, int, int]

    @classmethod
    def from_bytes(cls, eot1: int, eot2: int, eot3: int, eot4: int) -> RealTimeStatus:
        """Raises FrameError when any byte has the fixed bits wrong."""
        return cls(
            printer=PrinterStatus(_flag_bits(StatusType.PRINTER, eot1)),
            offline_cause=OfflineCause(_flag_bits(StatusType.OFFLINE_CAUSE, eot2)),
            error_cause=ErrorCause(_flag_bits(StatusType.ERROR_CAUSE, eot3)),
            roll_paper=RollPaperStatus(_flag_bits(StatusType.ROLL_PAPER, eot4)),
            raw=(eot1, eot2, eot3, eot4),
        )

    @property
    def code(self) -> str:
        """The vendor code for faults and self-test results: ``escpos:eot1=0x12,...``."""
        return "escpos:" + ",".join(f"eot{i}=0x{b:02X}" for i, b in enumerate(self.raw, start=1))

    @property
    def paper_near_end(self) -> bool:
        return bool(self.roll_paper & RollPaperStatus.ROLL_PAPER_NEAR_END)

    @property
    def paper_end(self) -> bool:
        return bool(self.roll_paper & RollPaperStatus.ROLL_PAPER_END) or bool(
            self.offline_cause & OfflineCause.PAPER_END_STOP)

    @property
    def cover_open(self) -> bool:
        return bool(self.offline_cause & OfflineCause.COVER_OPEN)

    @property
    def offline(self) -> bool:
        return bool(self.printer & PrinterStatus.OFFLINE)


@dataclass(frozen=True, slots=True)
class AsbFields:
    """The named bits of an ASB block (Epson ESC/POS Command Reference, GS a, https://download4.epson.biz/sec_pubs/pos/reference_en/escpos/gs_la.html;
    the TM-L60II / TM-U220A technical references)."""

    offline: bool
    cover_open: bool
    feed_button: bool
    mechanical_error: bool
    autocutter_error: bool
    unrecoverable_error: bool
    auto_recoverable_error: bool
    paper_near_end: bool
    paper_end: bool


def decode_asb(block: AsbStatus) -> AsbFields:
    b1, b2, b3 = block.data[0], block.data[1], block.data[2]
    return AsbFields(
        offline=bool(b1 & 0x08), cover_open=bool(b1 & 0x20), feed_button=bool(b1 & 0x40),
        mechanical_error=bool(b2 & 0x04), autocutter_error=bool(b2 & 0x08),
        unrecoverable_error=bool(b2 & 0x20), auto_recoverable_error=bool(b2 & 0x40),
        paper_near_end=bool(b3 & 0x03), paper_end=bool(b3 & 0x0C),
    )


@dataclass(frozen=True, slots=True)
class PaperSensorStatus:
    """The GS r 1 reply byte (bits 0,1 near end; bits 2,3 paper end; bits 4,7 fixed 0)."""

    value: int

    @property
    def near_end(self) -> bool:
        return bool(self.value & 0x03)

    @property
    def paper_end(self) -> bool:
        return bool(self.value & 0x0C)


def decode_paper_sensor(value: int) -> PaperSensorStatus:
    """Raises FrameError when bit 4 or 7 is set (a DLE EOT or ASB byte is not a GS r reply)."""
    if value & PAPER_SENSOR_FIXED_MASK:
        raise FrameError(f"GS r 1 reply 0x{value:02X} has fixed bits 4/7 set")
    return PaperSensorStatus(value)
