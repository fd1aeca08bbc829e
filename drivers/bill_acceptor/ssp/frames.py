"""ITL SSP framing (sans-IO): STX, SEQ/ID, LENGTH, DATA, CRC, with byte stuffing.

Packet layout (ITL "Smiley Secure Protocol" specification GA138, section "Packet format"; the
SSP implementation guide GA02204)::

    STX 0x7F | SEQ/ID | LENGTH | DATA (LENGTH bytes) | CRCL | CRCH

* SEQ/ID: bit 7 is the sequence flag, bits 0..6 the slave id (0 for a note validator);
* the CRC is CRC-16 with polynomial 0x8005 (x^16 + x^15 + x^2 + 1), seed 0xFFFF, no reflection,
  no final XOR (the catalogued CRC-16/CMS, check value 0xAEE7), computed over SEQ/ID..DATA (all
  but STX) before stuffing, sent low byte first;
* byte stuffing: every 0x7F after STX (the CRC bytes included) is sent twice.

Pinned by ``7F 80 01 11 65 82`` (SYNC), ``7F 00 01 07 11 88`` (POLL) and the other frames the
Node ``kybarg/ssp`` library (https://github.com/kybarg/ssp) builds, listed in docs/hardware.md
and tested in tests/drivers/bill_acceptor/ssp/test_codec.py. The layout is ITL's "SSP
Communications Protocol Manual" GA138, section "Transport Layer".

Recovery: a lone 0x7F inside a packet is the STX of the next one (the packet was cut short):
:class:`FrameError`, after which the stream decoder drops a byte and resyncs on that STX.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.base.errors import FrameError
from drivers.base.framing import StreamDecoder

__all__ = ["STX", "Packet", "crc16_ssp", "decode_frame", "new_decoder", "stuff"]

STX = 0x7F
MAX_DATA = 255


def crc16_ssp(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16, polynomial 0x8005, seed 0xFFFF, MSB first, no reflection (CRC-16/CMS)."""
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def stuff(data: bytes) -> bytes:
    return data.replace(bytes([STX]), bytes([STX, STX]))


@dataclass(frozen=True, slots=True)
class Packet:
    """One SSP packet: the sequence flag, the slave id and the data (command or reply)."""

    data: bytes
    seq: bool = False
    addr: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.addr <= 0x7F:
            raise ValueError(f"slave id out of range 0..127: {self.addr}")
        if not 1 <= len(self.data) <= MAX_DATA:
            raise ValueError(f"SSP data must be 1..255 bytes, got {len(self.data)}")

    @property
    def seq_id(self) -> int:
        return (0x80 if self.seq else 0) | self.addr

    def encode(self) -> bytes:
        body = bytes([self.seq_id, len(self.data)]) + self.data
        return bytes([STX]) + stuff(body + crc16_ssp(body).to_bytes(2, "little"))


def decode_frame(buf: bytes) -> tuple[Packet | None, bytes]:
    """Decode one packet from the start of ``buf`` (which starts with STX).

    Returns:
        ``(packet, rest)``, or ``(None, buf)`` when more bytes are needed.

    Raises:
        FrameError: no STX, a lone 0x7F inside the packet, or a CRC mismatch.
    """
    if not buf:
        return None, buf
    if buf[0] != STX:
        raise FrameError(f"expected STX 0x7F, got 0x{buf[0]:02X}")
    out = bytearray()
    i = 1
    need = 2
    while len(out) < need:
        if i >= len(buf):
            return None, buf
        b = buf[i]
        if b == STX:
            if i + 1 >= len(buf):
                return None, buf
            if buf[i + 1] != STX:
                raise FrameError("STX inside a packet: the packet was cut short")
            i += 2
        else:
            i += 1
        out.append(b)
        if len(out) == 2:
            if out[1] == 0:
                raise FrameError("LENGTH 0: an SSP packet carries at least one byte")
            need = 2 + out[1] + 2
    body, crc = bytes(out[:-2]), int.from_bytes(out[-2:], "little")
    expected = crc16_ssp(body)
    if crc != expected:
        raise FrameError(f"CRC mismatch: got 0x{crc:04X}, expected 0x{expected:04X}")
    return Packet(body[2:], bool(body[0] & 0x80), body[0] & 0x7F), buf[i:]


def new_decoder() -> StreamDecoder[Packet]:
    """A resynchronising stream decoder for SSP packets."""
    return StreamDecoder(decode_frame, bytes([STX]))
