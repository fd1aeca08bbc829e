"""CCNET framing (sans-IO).

Frame layout, both directions (CCNET protocol description, "Message format")::

    +------+-----+-----+-------------------+-------+-------+
    | SYNC | ADR | LNG | DATA ...          | CRC_L | CRC_H |
    | 0x02 |0x03 |  n  | n-5 bytes         |       |       |
    +------+-----+-----+-------------------+-------+-------+

* a host command's DATA starts with the command code; a reply's DATA is the answer itself
  (``00`` ACK, ``FF`` NAK, ``30`` ILLEGAL COMMAND, or the requested data);
* LNG counts the whole frame, so it is at least 5 (a frame with no data byte is never sent);
* CRC is CRC-16/KERMIT (polynomial 0x8408 reflected, init 0) over SYNC..DATA, low byte first —
  the same CRC as JCM ID003. Pinned by ``02 03 06 33 DA 81`` (POLL) and ``02 03 06 00 C2 82``
  (ACK), as written in public drivers (``ArduinoCCNET.cpp`` CMD_POLL/CMD_ACK; the list of sources
is in docs/hardware.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.base.checksum import crc16_kermit
from drivers.base.errors import FrameError
from drivers.base.framing import StreamDecoder
from drivers.bill_acceptor.ccnet.constants import ADDR_BILL_VALIDATOR, FRAME_OVERHEAD, MAX_FRAME_LEN, SYNC

__all__ = ["Frame", "decode_frame", "new_decoder"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One CCNET frame: the peripheral address and the data bytes."""

    data: bytes
    addr: int = ADDR_BILL_VALIDATOR

    def __post_init__(self) -> None:
        if not 0 <= self.addr <= 0xFF:
            raise ValueError(f"address out of range: {self.addr}")
        if not self.data:
            raise ValueError("a CCNET frame carries at least one data byte")
        if len(self.data) > MAX_FRAME_LEN - FRAME_OVERHEAD:
            raise ValueError(f"data too long for one frame: {len(self.data)} bytes")

    def encode(self) -> bytes:
        body = bytes([SYNC, self.addr, FRAME_OVERHEAD + len(self.data)]) + self.data
        return body + crc16_kermit(body).to_bytes(2, "little")


def decode_frame(buf: bytes) -> tuple[Frame | None, bytes]:
    """Decode one frame from the start of ``buf``.

    Returns:
        ``(frame, rest)``, or ``(None, buf)`` when more bytes are needed.

    Raises:
        FrameError: ``buf`` does not start with SYNC, LNG is impossible, or the CRC is wrong.
    """
    if not buf:
        return None, buf
    if buf[0] != SYNC:
        raise FrameError(f"expected SYNC 0x{SYNC:02X}, got 0x{buf[0]:02X}")
    if len(buf) < 3:
        return None, buf
    length = buf[2]
    if length < FRAME_OVERHEAD + 1:
        raise FrameError(f"LNG {length} is too short for a frame with data")
    if len(buf) < length:
        return None, buf
    body, crc = buf[: length - 2], buf[length - 2: length]
    expected = crc16_kermit(body)
    got = int.from_bytes(crc, "little")
    if got != expected:
        raise FrameError(f"CRC mismatch: got 0x{got:04X}, expected 0x{expected:04X}")
    return Frame(bytes(body[3:]), body[1]), buf[length:]


def new_decoder() -> StreamDecoder[Frame]:
    """A resynchronising stream decoder for CCNET frames."""
    return StreamDecoder(decode_frame, bytes([SYNC]))
