"""The Creator CRT-310 motorised card reader's own link protocol (pure codec, no I/O).

The CRT-310 is not a CRT-591: it has its own framing, command codes and replies.

Frame (both directions)::

    STX  LEN_H LEN_L  TEXT (LEN bytes)  ETX  BCC        BCC = XOR of STX..ETX
    02   00    02     31 30             03   02

* no address byte, and STX is 0x02 (the CRT-591 has 0xF2 and an address);
* command TEXT is ``CM PM [DATA]`` with no ``'C'`` head;
* a positive reply is ``CM PM [DATA]`` (no ``'P'`` head, no st0..st2: status commands return
  their state in DATA, move commands one result byte);
* a negative reply is ``'N' CM e [DATA]``, ``e`` one error byte. ``'E'`` (0x45) is accepted as
  the head too (the same misprint as the CRT-591 M001 document's negative head);
* link: host sends the frame, the reader answers ACK (or NAK: resend), the host then sends ENQ
  (0x05) and the reader sends the reply frame; the host ACKs it.

Sources (public; cited in ``tests/vectors/card_reader/crt310.toml``, where every vector names its own):

* ``TheTrueTrooper/NFCPrintingSelfServeKiosk_NV200_NDE1000_CRT591_CC6100_ACR122u_CRT310NotUsedComponenet``
  ``CardReader_CRT310/CRT310_Com.cs`` (framing, ACK/ENQ/ACK sequence, reply decoding, command
  codes) and ``CardReader_CRT310/CRTEnums/*.cs``, ``CRTCommandEnums/*.cs`` (parameter and status
  codes) (cited as "TT-CRT310");
* Creator's CRT-188 "additional command specification" (same framing, ``Y``/``N`` result byte),
  https://www.slideshare.net/slideshow/crt-188-card-reader-additional-commands-specs/15292950.

Implemented: INITIALIZE (reset, eject front, eject rear), STATUS (card position and entry
settings), MOVE (hold at the front, IC and RF position, eject front, out of the rear) and CARD
ENTRY (front prohibit/switch/magnetic, rear prohibit/allow). Not implemented, with the reason, in
docs/hardware.md: the IC (CPU card) commands, the magnetic-track read, the sensor report and the
serial number, because the public sources do not pin their bytes (the vendor DLL hides them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from drivers.base.checksum import xor8
from drivers.base.errors import FrameError
from drivers.card_reader.constants import CM, ErrorCode, InitPm, MovePm, St0, St2, StatusPm
from drivers.card_reader.frames import TRAILER_LEN, split_frame

#: Start of text (TT-CRT310 ``STX``)
STX = 0x02
#: End of text
ETX = 0x03
#: Enquiry: the host asks for the reply after the reader ACKed the command (TT-CRT310 ``ENQ``)
ENQ = 0x05
#: Largest DATA of a frame (the CRT-591 limit; the CRT-310 replies are far shorter)
MAX_DATA = 512
#: Largest TEXT: head or CM, CM or PM, e or PM, DATA
MAX_TEXT = 3 + MAX_DATA
#: STX LEN_H LEN_L
HEADER_LEN = 3
#: Negative reply head 'N' and the 'E' accepted as the same (module docstring)
NEGATIVE_HEADS = (0x4E, 0x45)


class Cm310(IntEnum):
    """Command codes (TT-CRT310 ``CRT310_Com.Commands``)."""

    INITIALIZE = 0x30
    STATUS = 0x31
    MOVE = 0x32
    CARD_ENTRY = 0x2F


class Init310(IntEnum):
    """INITIALIZE parameter (TT-CRT310 ``CRT310_Commands_InitParam``)."""

    NO_MOVE = 0x30
    EJECT_FRONT = 0x31
    EJECT_REAR = 0x32


class Status310(IntEnum):
    """STATUS parameter (TT-CRT310 ``CRT310_Commands_CardReaderStatusParam``)."""

    SENSORS = 0x2F
    READER = 0x30


class Move310(IntEnum):
    """MOVE parameter (TT-CRT310 ``CRT310_Commands_MoveParam``)."""

    RF_POSITION = 0x2E
    IC_POSITION = 0x2F
    EJECT_FRONT = 0x30
    HOLD_AT_FRONT = 0x31
    HOLD_AT_REAR = 0x32
    EJECT_REAR = 0x33


class Entry310(IntEnum):
    """CARD ENTRY parameter (TT-CRT310 ``CRT310_Commands_SetCardEntryParam``)."""

    FRONT_PROHIBIT = 0x30
    FRONT_BY_SWITCH = 0x31
    FRONT_BY_MAGNETIC = 0x32
    REAR_PROHIBIT = 0x40
    REAR_ALLOW = 0x41


class Card310(IntEnum):
    """Card position byte, DATA[0] of a STATUS reply (TT-CRT310 ``CRT310_CardStatus``)."""

    LONG_CARD = 0x46
    SHORT_CARD = 0x47
    EJECTED_FRONT = 0x48
    AT_FRONT = 0x49
    INSIDE = 0x4A
    IC_CONTACT = 0x4B
    AT_REAR = 0x4C
    EJECTED_REAR = 0x4D
    NO_CARD = 0x4E


class MoveResult(IntEnum):
    """DATA[0] of a MOVE reply (TT-CRT310 ``CRT310_CardOperationStatus``; CRT-188 ``Y``/``N``)."""

    SUCCESS = 0x59
    FAILURE = 0x4E
    NO_CARD = 0x45
    WRONG_POSITION = 0x57


class Error310(StrEnum):
    """The reader's errors with no CRT-591 equivalent, as two ASCII characters outside the
    M001 code space (``E`` + the error byte), so the shared health mapping tells them apart.
    Errors 0, 1, 2 and 4 mean what M001 00, 01, 02 and 04 mean and are reported as those."""

    INPUT_VOLTAGE = "E5"
    ABNORMAL_CARD = "E6"
    ON_BACKUP_POWER = "E7"


_SAME_AS_M001 = {0: ErrorCode.UNDEFINED_COMMAND, 1: ErrorCode.COMMAND_PARAMETER_ERROR,
                 2: ErrorCode.COMMAND_SEQUENCE_ERROR, 4: ErrorCode.COMMAND_DATA_ERROR}


# -- frames ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Frame310:
    """One CRT-310 frame: the TEXT it carries (there is no address)."""

    text: bytes

    def __post_init__(self) -> None:
        if not 1 <= len(self.text) <= MAX_TEXT:
            raise ValueError(f"TEXT length {len(self.text)} outside 1..{MAX_TEXT}")

    def encode(self) -> bytes:
        n = len(self.text)
        body = bytes([STX, n >> 8, n & 0xFF]) + self.text + bytes([ETX])
        return body + bytes([xor8(body)])


def decode_frame(buf: bytes) -> tuple[Frame310 | None, bytes]:
    """One frame from the start of ``buf``: ``(frame, rest)`` or ``(None, buf)`` for more bytes.

    Raises:
        FrameError: not STX, LEN out of range, no ETX where LEN says, or a wrong BCC.
    """
    got = split_frame(buf, stx=STX, header_len=HEADER_LEN, max_text=MAX_TEXT) if buf else None
    if got is None:
        return None, buf
    raw, rest = got
    return Frame310(raw[HEADER_LEN:-TRAILER_LEN]), rest


# -- commands and replies -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Command310:
    cm: int
    pm: int
    data: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if not (0 <= self.cm <= 0xFF and 0 <= self.pm <= 0xFF):
            raise ValueError("CM/PM must be bytes")
        if self.cm in NEGATIVE_HEADS:
            raise ValueError("CM 0x4E/0x45 would read as a negative reply head")
        if len(self.data) > MAX_DATA:
            raise ValueError(f"DATA longer than {MAX_DATA} bytes")

    def encode(self) -> bytes:
        return bytes([self.cm, self.pm]) + self.data


@dataclass(frozen=True, slots=True)
class Positive310:
    cm: int
    pm: int
    data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class Negative310:
    """``'N' CM e``: the reply names the command but not its parameter."""

    cm: int
    error: int
    data: bytes = field(default=b"", repr=False)


Reply310 = Positive310 | Negative310


def decode_command(text: bytes) -> Command310:
    """A command TEXT (the simulator's side)."""
    if len(text) < 2 or text[0] in NEGATIVE_HEADS:
        raise FrameError("command TEXT must be CM PM [DATA]")
    return Command310(text[0], text[1], bytes(text[2:]))


def decode_reply(text: bytes) -> Reply310:
    """A reply TEXT.

    Raises:
        FrameError: too short for its kind.
    """
    if text[:1] and text[0] in NEGATIVE_HEADS:
        if len(text) < 3:
            raise FrameError("negative reply without CM and error byte")
        return Negative310(text[1], text[2], bytes(text[3:]))
    if len(text) < 2:
        raise FrameError(f"reply TEXT too short ({len(text)} bytes)")
    return Positive310(text[0], text[1], bytes(text[2:]))


def encode_positive(cm: int, pm: int, data: bytes = b"") -> bytes:
    return Command310(cm, pm, data).encode()


def encode_negative(cm: int, error: int, data: bytes = b"") -> bytes:
    return bytes([NEGATIVE_HEADS[0], cm, error]) + data


def error_code(error: int) -> str:
    """The reader's error byte as a two-character code (an ASCII digit counts as its value)."""
    value = error - 0x30 if 0x30 <= error <= 0x39 else error
    if value in _SAME_AS_M001:
        return str(_SAME_AS_M001[value])
    return f"E{value:X}" if value < 16 else "E?"


# -- the card-reader driver's commands in CRT-310 terms ---------------------------------------
_INIT = {InitPm.NO_MOVE: Init310.NO_MOVE, InitPm.NO_MOVE_COUNT: Init310.NO_MOVE,
         InitPm.MOVE_TO_GATE: Init310.EJECT_FRONT, InitPm.MOVE_TO_GATE_COUNT: Init310.EJECT_FRONT,
         InitPm.CAPTURE: Init310.EJECT_REAR, InitPm.CAPTURE_COUNT: Init310.EJECT_REAR}
#: a move and where the card is after it (the reader's MOVE reply carries no position)
_MOVE = {MovePm.HOLDING: (Move310.HOLD_AT_FRONT, St0.CARD_AT_GATE),
         MovePm.IC_POSITION: (Move310.IC_POSITION, St0.CARD_AT_IC_RF),
         MovePm.RF_POSITION: (Move310.RF_POSITION, St0.CARD_AT_IC_RF),
         MovePm.ERROR_BIN: (Move310.EJECT_REAR, St0.NO_CARD),
         MovePm.OUT_OF_GATE: (Move310.EJECT_FRONT, St0.NO_CARD)}
_STATUS = {StatusPm.STATUS: Status310.READER}
_ENTRY = {0x30: Entry310.FRONT_BY_SWITCH, 0x31: Entry310.FRONT_PROHIBIT}
#: the CRT-310 card byte as a CRT-591 st0; long/short (abnormal) cards have no position
_POSITION = {Card310.NO_CARD: St0.NO_CARD, Card310.EJECTED_REAR: St0.NO_CARD,
             Card310.EJECTED_FRONT: St0.CARD_AT_GATE, Card310.AT_FRONT: St0.CARD_AT_GATE,
             Card310.INSIDE: St0.CARD_AT_IC_RF, Card310.IC_CONTACT: St0.CARD_AT_IC_RF,
             Card310.AT_REAR: St0.CARD_AT_IC_RF}
_MOVE_ERRORS = {MoveResult.FAILURE: ErrorCode.CARD_JAM, MoveResult.NO_CARD: ErrorCode.COMMAND_SEQUENCE_ERROR,
                MoveResult.WRONG_POSITION: ErrorCode.COMMAND_SEQUENCE_ERROR}
#: st0 of a reply that reports no position (INITIALIZE, CARD ENTRY): '?' is no St0 value
NO_POSITION = 0x3F


def to_wire(cm: int, pm: int) -> Command310 | None:
    """The CRT-310 command for a card-reader command (CRT-591 CM/PM), or None when the
    CRT-310 link does not implement it (chip, bin counter, serial number...)."""
    if cm == CM.INITIALIZE and pm in _INIT:
        return Command310(Cm310.INITIALIZE, _INIT[InitPm(pm)])
    if cm == CM.STATUS_REQUEST and pm in _STATUS:
        return Command310(Cm310.STATUS, _STATUS[StatusPm(pm)])
    if cm == CM.CARD_MOVE and pm in _MOVE:
        return Command310(Cm310.MOVE, _MOVE[MovePm(pm)][0])
    if cm == CM.CARD_ENTRY and pm in _ENTRY:
        return Command310(Cm310.CARD_ENTRY, _ENTRY[pm])
    return None


def position_st0(card: int) -> int:
    """The CRT-591 st0 for a CRT-310 card byte; the raw byte when it has no position."""
    try:
        return int(_POSITION[Card310(card)])
    except (KeyError, ValueError):
        return card


@dataclass(frozen=True, slots=True)
class Translated:
    """A CRT-310 reply in the card-reader driver's terms: ``positive`` with ``st0 st1 st2`` and
    data, or an ``error`` code (M001 codes where the meaning is the same, else :class:`Error310`).

    ``st1`` carries the raw CRT-310 card byte of a STATUS reply; ``st2`` is always "not full":
    the CRT-310 has no retain-bin sensor."""

    st: tuple[int, int, int] | None
    error: str | None
    data: bytes = field(default=b"", repr=False)


def translate(reply: Reply310, cm: int, pm: int) -> Translated:
    """The reply to the command ``to_wire(cm, pm)`` sent.

    Raises:
        FrameError: a STATUS reply without its three bytes, a MOVE reply without its result.
    """
    if isinstance(reply, Negative310):
        return Translated(None, error_code(reply.error), reply.data)
    if cm == CM.STATUS_REQUEST:
        if len(reply.data) < 3:
            raise FrameError("CRT-310 status reply without card, front and rear bytes")
        card = reply.data[0]
        return Translated((position_st0(card), card, St2.BIN_NOT_FULL), None, reply.data[:3])
    if cm == CM.CARD_MOVE:
        if not reply.data:
            raise FrameError("CRT-310 move reply without its result byte")
        result = reply.data[0]
        if result == MoveResult.SUCCESS:
            return Translated((int(_MOVE[MovePm(pm)][1]), 0x30, St2.BIN_NOT_FULL), None)
        return Translated(None, str(_MOVE_ERRORS.get(result, ErrorCode.CARD_JAM)))
    return Translated((NO_POSITION, 0x30, St2.BIN_NOT_FULL), None, reply.data)
