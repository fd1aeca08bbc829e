"""ccTalk framing (sans-IO): the generic message, simple checksum and CRC-16 variants.

Part 1 of the ccTalk Generic Specification ("message structure")::

    simple checksum:  DEST | LEN | SRC     | HEADER | DATA (LEN bytes) | CHK
    CRC-16 checksum:  DEST | LEN | CRC lsb | HEADER | DATA (LEN bytes) | CRC msb

* LEN counts the data bytes only, so a frame is ``LEN + 5`` bytes;
* simple checksum: CHK makes the sum of every byte of the frame 0 modulo 256
  (``02 00 01 FE FF``, a simple poll of the coin acceptor);
* CRC-16: CRC-16/XMODEM (polynomial 0x1021, initial value 0, no reflection) over DEST, LEN,
  HEADER and DATA; the source address is not sent (it is implied). Pinned by ``28 00 46 01 3F``
  (ccTalk4j ``CRCChecksumMessageTest``) and ``01 00 30 00 37`` (dotnet-cctalk ``CcTalkCrc16Tests``).

A frame has no start byte: :func:`new_decoder` resynchronises on the destination address the
reader expects (the host's own address for replies, the device's for requests).

**Echo.** ccTalk is a half-duplex single-wire bus: the host's UART receives every byte it sends.
:class:`EchoFilter` removes that echo by comparing what arrives with what was sent, as a real
ccTalk interface does (it keeps the transmitted bytes to compare with the loopback). When the
first byte differs (an RS-232 adapter that cancels the echo) it gives up at once and passes
everything on, so the same code works with and without echo.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from drivers.base.errors import FrameError
from drivers.base.framing import StreamDecoder
from drivers.coin_acceptor.constants import ADDR_COIN_ACCEPTOR, ADDR_HOST, MAX_DATA

__all__ = ["Checksum", "EchoFilter", "Frame", "crc16_xmodem", "decode_frame", "new_decoder", "simple_checksum"]


class Checksum(StrEnum):
    SIMPLE = "simple"
    CRC16 = "crc16"


def simple_checksum(body: bytes) -> int:
    """The byte that makes the sum of ``body`` and itself 0 modulo 256."""
    return (-sum(body)) & 0xFF


def crc16_xmodem(data: bytes) -> int:
    """CRC-16/XMODEM (poly 0x1021, init 0, no reflection, no xorout). Check: b"123456789" -> 0x31C3."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


@dataclass(frozen=True, slots=True)
class Frame:
    """One ccTalk message. ``src`` is not on the wire in CRC-16 mode (decoded as the host's
    counterpart: :func:`decode_frame` fills it in with ``implied_src``)."""

    dest: int
    src: int
    header: int
    data: bytes = b""

    def __post_init__(self) -> None:
        for name in ("dest", "src", "header"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise ValueError(f"{name} out of range: {getattr(self, name)}")
        if len(self.data) > MAX_DATA:
            raise ValueError(f"data too long for one frame: {len(self.data)} bytes")

    def encode(self, checksum: Checksum = Checksum.SIMPLE) -> bytes:
        if checksum is Checksum.CRC16:
            crc = crc16_xmodem(bytes([self.dest, len(self.data), self.header]) + self.data)
            return bytes([self.dest, len(self.data), crc & 0xFF, self.header]) + self.data + bytes([crc >> 8])
        body = bytes([self.dest, len(self.data), self.src, self.header]) + self.data
        return body + bytes([simple_checksum(body)])


def decode_frame(buf: bytes, checksum: Checksum = Checksum.SIMPLE, implied_src: int = ADDR_COIN_ACCEPTOR,
                 ) -> tuple[Frame | None, bytes]:
    """Decode one frame from the start of ``buf``: ``(frame, rest)`` or ``(None, buf)`` for more.

    Raises:
        FrameError: the checksum (or CRC) does not match, or LEN is beyond the spec's 252.
    """
    if len(buf) < 2:
        return None, buf
    length = buf[1]
    if length > MAX_DATA:
        raise FrameError(f"LEN {length} exceeds {MAX_DATA}")
    if len(buf) < length + 5:
        return None, buf
    raw, rest = bytes(buf[: length + 5]), buf[length + 5:]
    if checksum is Checksum.CRC16:
        got = raw[2] | raw[-1] << 8
        expected = crc16_xmodem(bytes([raw[0], raw[1], raw[3]]) + raw[4:-1])
        if got != expected:
            raise FrameError(f"CRC mismatch: got 0x{got:04X}, expected 0x{expected:04X}")
        return Frame(raw[0], implied_src, raw[3], raw[4:-1]), rest
    if sum(raw) & 0xFF:
        raise FrameError(f"checksum mismatch: sum 0x{sum(raw) & 0xFF:02X}, expected 0")
    return Frame(raw[0], raw[2], raw[3], raw[4:-1]), rest


def new_decoder(address: int = ADDR_HOST, checksum: Checksum = Checksum.SIMPLE,
                implied_src: int = ADDR_COIN_ACCEPTOR) -> StreamDecoder[Frame]:
    """A resynchronising decoder for frames addressed to ``address``."""
    return StreamDecoder(lambda buf: decode_frame(buf, checksum, implied_src), bytes([address]))


class EchoFilter:
    """Drops the echo of ``sent`` from the start of what the line returns (see the module docstring).

    ``feed(chunk)`` returns the bytes after the echo. ``echoed`` is True once the whole echo was
    seen, ``absent`` once the line showed there is none (the first byte differed).
    """

    def __init__(self, sent: bytes) -> None:
        self.sent = sent
        self.matched = 0
        self.absent = False

    @property
    def echoed(self) -> bool:
        return self.matched == len(self.sent)

    @property
    def done(self) -> bool:
        return self.echoed or self.absent

    def feed(self, chunk: bytes) -> bytes:
        i = 0
        while not self.done and i < len(chunk):
            if chunk[i] == self.sent[self.matched]:
                self.matched += 1
                i += 1
                continue
            # not (or no longer) the echo: what was matched so far was data after all
            self.absent = True
            return self.sent[: self.matched] + chunk[i:] if self.matched else chunk[i:]
        return chunk[i:]
