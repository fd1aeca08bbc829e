"""ID003 framing (sans-IO).

Frame layout, both directions [Portalum.Id003, https://github.com/Portalum/Portalum.Id003]::

    +------+-----+-----+----------+-------+-------+
    | SYNC | LNG | CMD | DATA ... | CRC_L | CRC_H |
    | 0xFC |  n  |     | n-5 bytes|       |       |
    +------+-----+-----+----------+-------+-------+

* LNG counts the whole frame (SYNC through CRC_H), so it is at least 5;
* CRC is CRC-16/KERMIT over SYNC..DATA, sent low byte first.

Recovery rules: ``decode_frame`` sees a buffer that starts with SYNC (the StreamDecoder
guarantees it). Too few bytes -> ``(None, buf)``; LNG below 5 or a CRC mismatch ->
:class:`FrameError`, after which the StreamDecoder drops one byte and resyncs on the next SYNC.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.base.checksum import crc16_kermit
from drivers.base.errors import FrameError
from drivers.base.framing import StreamDecoder
from drivers.bill_acceptor.id003.constants import FRAME_OVERHEAD, MAX_FRAME_LEN, SYNC

__all__ = ["Frame", "decode_frame", "new_decoder"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One ID003 frame: a command (or status) code and its data bytes."""

    cmd: int
    data: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.cmd <= 0xFF:
            raise ValueError(f"command code out of range: {self.cmd}")
        if len(self.data) > MAX_FRAME_LEN - FRAME_OVERHEAD:
            raise ValueError(f"data too long for one frame: {len(self.data)} bytes")

    def encode(self) -> bytes:
        body = bytes([SYNC, FRAME_OVERHEAD + len(self.data), self.cmd]) + self.data
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
    if len(buf) < 2:
        return None, buf
    length = buf[1]
    if length < FRAME_OVERHEAD:
        raise FrameError(f"LNG {length} is shorter than an empty frame")
    if len(buf) < length:
        return None, buf
    body, crc = buf[: length - 2], buf[length - 2: length]
    expected = crc16_kermit(body)
    got = int.from_bytes(crc, "little")
    if got != expected:
        raise FrameError(f"CRC mismatch: got 0x{got:04X}, expected 0x{expected:04X}")
    return Frame(cmd=body[2], data=bytes(body[3:])), buf[length:]


def new_decoder() -> StreamDecoder[Frame]:
    """A resynchronising stream decoder for ID003 frames."""
    return StreamDecoder(decode_frame, bytes([SYNC]))
