"""CRT link framing: one message between host and module, and the link control bytes.

Frame layout (M001 §1.2; see constants.py for the document)::

    STX  ADDR  LEN_H LEN_L  TEXT (LEN bytes)  ETX   BCC
    F2   00    00    03     43 31 30          03    B0
                            |<---- TEXT --->|
    |<-------------- BCC = XOR of STX..ETX --------->|

TEXT is ``'C' CM PM [DATA]`` from the host, ``'P' CM PM st0 st1 st2 [DATA]`` or
``'N' CM PM e1 e0 [DATA]`` from the module (see :mod:`.messages`).

Around frames the link carries single control bytes (ACK 06, NAK 15, EOT 04); they are not
frames and are handled by the driver before bytes reach the decoder.

Recovery rules: :func:`decode_frame` returns ``(None, buf)`` until the whole frame is there;
a LEN beyond the spec maximum, a missing ETX or a wrong BCC raise :class:`FrameError`, and the
:class:`~drivers.base.framing.StreamDecoder` then drops one byte and resyncs on the next STX.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.base.checksum import xor8
from drivers.base.errors import FrameError
from drivers.card_reader.constants import DEFAULT_ADDR, ETX, MAX_TEXT, STX

#: STX ADDR LEN_H LEN_L
HEADER_LEN = 4
#: ETX BCC
TRAILER_LEN = 2


@dataclass(frozen=True, slots=True)
class Frame:
    """One CRT frame: the module address and the TEXT it carries."""

    text: bytes
    addr: int = DEFAULT_ADDR

    def __post_init__(self) -> None:
        if not 0 <= self.addr <= 0xFF:
            raise ValueError(f"address out of range: {self.addr}")
        if not 1 <= len(self.text) <= MAX_TEXT:
            raise ValueError(f"TEXT length {len(self.text)} outside 1..{MAX_TEXT}")

    def encode(self) -> bytes:
        n = len(self.text)
        body = bytes([STX, self.addr, n >> 8, n & 0xFF]) + self.text + bytes([ETX])
        return body + bytes([xor8(body)])


def split_frame(buf: bytes, *, stx: int, header_len: int, max_text: int) -> tuple[bytes, bytes] | None:
    """``(frame, rest)`` for the frame at the start of ``buf``, or None when more bytes are needed.

    The layout both CRT framings share: ``STX [ADDR] LEN_H LEN_L TEXT ETX BCC``, the header
    ending with the two LEN bytes, BCC the XOR of STX..ETX.

    Raises:
        FrameError: not STX, LEN out of range, no ETX where LEN says, or a wrong BCC.
    """
    if buf[0] != stx:
        raise FrameError(f"expected STX 0x{stx:02X}, got 0x{buf[0]:02X}")
    if len(buf) < header_len:
        return None
    n = (buf[header_len - 2] << 8) | buf[header_len - 1]
    if not 1 <= n <= max_text:
        raise FrameError(f"TEXT length {n} outside 1..{max_text}")
    total = header_len + n + TRAILER_LEN
    if len(buf) < total:
        return None
    if buf[total - 2] != ETX:
        raise FrameError(f"expected ETX at offset {total - 2}, got 0x{buf[total - 2]:02X}")
    bcc = xor8(buf[: total - 1])
    if bcc != buf[total - 1]:
        raise FrameError(f"BCC mismatch: computed 0x{bcc:02X}, frame has 0x{buf[total - 1]:02X}")
    return bytes(buf[:total]), bytes(buf[total:])


def decode_frame(buf: bytes) -> tuple[Frame | None, bytes]:
    """Decode one frame from the start of ``buf`` (which starts with STX).

    Returns:
        ``(frame, rest)``, or ``(None, buf)`` when more bytes are needed.

    Raises:
        FrameError: not STX, LEN out of range, no ETX where LEN says, or a wrong BCC.
    """
    got = split_frame(buf, stx=STX, header_len=HEADER_LEN, max_text=MAX_TEXT) if buf else None
    if got is None:
        return None, buf
    raw, rest = got
    return Frame(text=raw[HEADER_LEN:-TRAILER_LEN], addr=raw[1]), rest
