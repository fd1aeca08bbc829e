"""SAM frames (pure). Layout::

    request:  AA AA AA 96 69 | LEN_H LEN_L | CMD PARA [DATA] | CHK
    response: AA AA AA 96 69 | LEN_H LEN_L | SW1 SW2 SW3 [DATA] | CHK

LEN (big-endian) counts every byte after itself, CHK included; CHK is the XOR of every byte
from LEN_H to the last data byte. Recovery: the StreamDecoder resyncs to the next preamble.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.base.checksum import xor8
from drivers.base.errors import FrameError
from drivers.id_reader.constants import MAX_LEN, PREAMBLE, Command

_HEAD = len(PREAMBLE) + 2


@dataclass(frozen=True, slots=True)
class Request:
    command: int
    data: bytes = b""

    def encode(self) -> bytes:
        body = bytes([self.command >> 8, self.command & 0xFF]) + self.data
        length = (len(body) + 1).to_bytes(2, "big")
        return PREAMBLE + length + body + bytes([xor8(length + body)])


@dataclass(frozen=True, slots=True)
class Response:
    sw1: int
    sw2: int
    sw3: int
    data: bytes = b""

    def encode(self) -> bytes:
        body = bytes([self.sw1, self.sw2, self.sw3]) + self.data
        length = (len(body) + 1).to_bytes(2, "big")
        return PREAMBLE + length + body + bytes([xor8(length + body)])


def _split(buf: bytes, min_body: int) -> tuple[bytes | None, bytes]:
    if len(buf) < _HEAD:
        if not PREAMBLE.startswith(buf[: len(PREAMBLE)]):
            raise FrameError("no SAM preamble")
        return None, buf
    if buf[: len(PREAMBLE)] != PREAMBLE:
        raise FrameError("no SAM preamble")
    length = int.from_bytes(buf[5:7], "big")
    if length < min_body + 1 or length > MAX_LEN:
        raise FrameError(f"bad SAM length {length}")
    end = _HEAD + length
    if len(buf) < end:
        return None, buf
    frame = buf[5:end]
    if xor8(frame[:-1]) != frame[-1]:
        raise FrameError("SAM checksum mismatch")
    return frame[2:-1], buf[end:]


def decode_response(buf: bytes) -> tuple[Response | None, bytes]:
    body, rest = _split(buf, 3)
    if body is None:
        return None, rest
    return Response(body[0], body[1], body[2], bytes(body[3:])), rest


def decode_request(buf: bytes) -> tuple[Request | None, bytes]:
    body, rest = _split(buf, 2)
    if body is None:
        return None, rest
    return Request((body[0] << 8) | body[1], bytes(body[2:])), rest


def request(command: Command) -> Request:
    return Request(int(command))
