"""ISO 7816-4 command/response APDUs and the T=0 GET RESPONSE / wrong-Le rules.

T=0 rules (ISO/IEC 7816-3 §10.3 and 7816-4 §5.1.3; as russss/python-emv ``emv/transmission.py``
applies them, https://github.com/russss/python-emv):

* ``61 xx``: more data is waiting; send ``GET RESPONSE 00 C0 00 00 xx`` (``xx`` = 00 means
  256) and append what it returns; repeat while the card keeps answering 61xx;
* ``6C xx``: wrong Le; re-issue the same command with Le = ``xx``.

:func:`transceive` applies both around an injected ``send(bytes) -> bytes`` so the rules are
tested without a reader. Response data may be card data (PAN): never in repr or messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from drivers.base.errors import ProtocolError

#: GET RESPONSE instruction (ISO 7816-4 §7.6.1)
INS_GET_RESPONSE = 0xC0
#: SW1 "response bytes still available" (ISO 7816-4 §5.1.3)
SW1_BYTES_AVAILABLE = 0x61
#: SW1 "wrong Le field; SW2 = exact length" (ISO 7816-4 §5.1.3)
SW1_WRONG_LE = 0x6C
#: Bounds on the T=0 loops: a misbehaving card must not keep us forever
MAX_GET_RESPONSE = 16
MAX_REISSUE = 2


class ApduError(ProtocolError, ValueError):
    """A malformed APDU, or a card that breaks the T=0 rules."""


@dataclass(frozen=True, slots=True)
class CommandApdu:
    """A short C-APDU: CLA INS P1 P2 [Lc data] [Le]. ``le`` None means no Le byte; 0 means 256."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = field(default=b"", repr=False)
    le: int | None = None

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise ApduError(f"{name} must be a byte")
        if len(self.data) > 255:
            raise ApduError("short APDU data is at most 255 bytes")
        if self.le is not None and not 0 <= self.le <= 0xFF:
            raise ApduError("Le must be 0..255 (0 = 256)")

    def encode(self) -> bytes:
        out = bytes([self.cla, self.ins, self.p1, self.p2])
        if self.data:
            out += bytes([len(self.data)]) + self.data
        if self.le is not None:
            out += bytes([self.le])
        return out


@dataclass(frozen=True, slots=True)
class ResponseApdu:
    data: bytes = field(repr=False)
    sw1: int
    sw2: int

    @property
    def sw(self) -> int:
        return (self.sw1 << 8) | self.sw2

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000


def decode_command_apdu(raw: bytes) -> CommandApdu:
    """Decode a short C-APDU (cases 1-4). Used by the simulated card."""
    if len(raw) < 4:
        raise ApduError("C-APDU shorter than 4 bytes")
    cla, ins, p1, p2 = raw[:4]
    body = raw[4:]
    if not body:
        return CommandApdu(cla, ins, p1, p2)
    if len(body) == 1:
        return CommandApdu(cla, ins, p1, p2, le=body[0])
    lc = body[0]
    if lc == 0:
        raise ApduError("extended APDUs are not supported")
    if len(body) == 1 + lc:
        return CommandApdu(cla, ins, p1, p2, bytes(body[1:]))
    if len(body) == 2 + lc:
        return CommandApdu(cla, ins, p1, p2, bytes(body[1:-1]), le=body[-1])
    raise ApduError("Lc does not match the APDU length")


def decode_response_apdu(raw: bytes) -> ResponseApdu:
    if len(raw) < 2:
        raise ApduError("R-APDU shorter than SW1 SW2")
    return ResponseApdu(bytes(raw[:-2]), raw[-2], raw[-1])


def get_response(length: int) -> CommandApdu:
    return CommandApdu(0x00, INS_GET_RESPONSE, 0x00, 0x00, le=length)


def transceive(send: Callable[[bytes], bytes], command: CommandApdu) -> ResponseApdu:
    """Send one command with the T=0 61xx / 6Cxx rules applied.

    Raises:
        ApduError: the card loops on 61xx/6Cxx beyond the bounds.
    """
    response = decode_response_apdu(send(command.encode()))
    for _ in range(MAX_REISSUE):
        if response.sw1 != SW1_WRONG_LE:
            break
        command = replace(command, le=response.sw2)
        response = decode_response_apdu(send(command.encode()))
    else:
        if response.sw1 == SW1_WRONG_LE:
            raise ApduError("card keeps answering 6Cxx (wrong Le)")
    data = response.data
    for _ in range(MAX_GET_RESPONSE):
        if response.sw1 != SW1_BYTES_AVAILABLE:
            return ResponseApdu(data, response.sw1, response.sw2)
        response = decode_response_apdu(send(get_response(response.sw2).encode()))
        if response.sw1 == SW1_WRONG_LE:
            response = decode_response_apdu(send(get_response(response.sw2).encode()))
        data += response.data
    raise ApduError("card keeps answering 61xx (GET RESPONSE loop)")
