"""ccTalk coin-acceptor messages (sans-IO): requests the host sends, answers it decodes.

Every request is a :class:`~drivers.coin_acceptor.frames.Frame` from the host (1) to the
acceptor (2); every answer a frame back with header 0 (ACK) and the data below (ccTalk Generic
Specification part 2, one entry per header):

* 254 simple poll, 1 reset device, 231 modify inhibit status: an empty ACK;
* 246 request manufacturer id, 244 request product code: ASCII;
* 242 request serial number: 3 bytes, least significant first;
* 184 request coin id (coin position 1..16): 6 ASCII characters, country code (2), value code (3)
  and issue (1), e.g. ``EU200A``; an unprogrammed position answers six dots or spaces;
* 232 perform self-check: a fault code (0 = OK) and an optional extra byte;
* 229 read buffered credit or error codes: an event counter and five (A, B) pairs, the newest
  first. A > 0 is a credit of coin position A (B: the sorter path); A = 0 is an error, B its code.
  The counter is 0 only after a power-up or reset, then counts 1..255 and wraps to 1 (never
  back to 0), so ``steps(previous, counter)`` new events arrived since the previous read;
* 253 address poll: sent to the broadcast address 0, answered not by a frame but by each device
  with one byte, its address, after a delay proportional to that address.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.base.errors import FrameError, ProtocolError
from drivers.coin_acceptor.constants import (
    ADDR_BROADCAST,
    ADDR_COIN_ACCEPTOR,
    ADDR_HOST,
    BUFFER_EVENTS,
    Header,
)
from drivers.coin_acceptor.frames import Frame

__all__ = ["CoinCredit", "CoinError", "CoinId", "CreditBuffer", "Event", "ack", "address_poll", "advance",
           "ascii_answer", "enabled_positions", "inhibit_mask", "request", "serial_number", "steps"]


def request(header: int, data: bytes = b"", *, dest: int = ADDR_COIN_ACCEPTOR, src: int = ADDR_HOST) -> Frame:
    """A host request (``Frame(dest, src, header, data)``)."""
    return Frame(dest, src, int(header), bytes(data))


def address_poll(src: int = ADDR_HOST) -> Frame:
    """Address poll (253), broadcast: every device answers with one raw byte, its address."""
    return Frame(ADDR_BROADCAST, src, Header.ADDRESS_POLL)


def inhibit_mask(enabled: frozenset[int] | set[int]) -> bytes:
    """Modify inhibit status (231) data: two bytes, bit n-1 set = coin position n accepted."""
    bits = 0
    for position in enabled:
        if not 1 <= position <= 16:
            raise ValueError(f"coin position out of range 1..16: {position}")
        bits |= 1 << (position - 1)
    return bits.to_bytes(2, "little")


def enabled_positions(mask: bytes) -> frozenset[int]:
    """The coin positions a 231 mask accepts (the inverse of :func:`inhibit_mask`)."""
    bits = int.from_bytes(mask[:2].ljust(2, b"\0"), "little")
    return frozenset(n + 1 for n in range(16) if bits >> n & 1)


def ack(reply: Frame) -> Frame:
    """``reply`` if it is an ACK (header 0).

    Raises:
        ProtocolError: a NAK (5), BUSY (6) or any other header.
    """
    if reply.header != Header.ACK:
        name = {Header.NAK: "NAK", Header.BUSY: "BUSY"}.get(reply.header, f"header {reply.header}")
        raise ProtocolError(f"device answered {name}")
    return reply


def ascii_answer(reply: Frame) -> str:
    """The ASCII text of an answer (manufacturer id, product code)."""
    return ack(reply).data.decode("ascii", "replace").strip()


def serial_number(reply: Frame) -> int:
    """Request serial number (242): three bytes, least significant first."""
    data = ack(reply).data
    if len(data) != 3:
        raise FrameError(f"serial number takes 3 bytes, got {len(data)}")
    return int.from_bytes(data, "little")


@dataclass(frozen=True, slots=True)
class CoinId:
    """Request coin id (184) answer: ``EU200A`` -> country EU, value code 200, issue A."""

    position: int
    text: str

    @property
    def programmed(self) -> bool:
        return bool(self.text.strip(". \0"))

    @property
    def country(self) -> str:
        return self.text[:2]

    @property
    def value_code(self) -> str:
        return self.text[2:5]

    @property
    def value_minor(self) -> int | None:
        """The value code read as minor units when it is three digits (``200`` -> 200), else None
        (codes with a decimal letter such as ``2K5`` need the ``coin_values`` option)."""
        code = self.value_code
        return int(code) if self.programmed and len(code) == 3 and code.isdigit() else None

    @classmethod
    def decode(cls, position: int, reply: Frame) -> CoinId:
        data = ack(reply).data
        if len(data) != 6:
            raise FrameError(f"coin id takes 6 bytes, got {len(data)}")
        return cls(position, data.decode("ascii", "replace"))


@dataclass(frozen=True, slots=True)
class CoinCredit:
    """Event (A > 0, B): coin position A accepted, routed to sorter path B."""

    position: int
    sorter: int


@dataclass(frozen=True, slots=True)
class CoinError:
    """Event (0, B): error code B (part 3, "coin acceptor error codes")."""

    code: int


Event = CoinCredit | CoinError


def steps(previous: int, counter: int) -> int:
    """How many events happened from counter ``previous`` to ``counter`` (1..255 wrapping to 1;
    0 only after a reset). ``previous == 0``: all of ``counter``."""
    if counter == 0:
        return 0
    if previous == 0:
        return counter
    return (counter - previous) % 255


def advance(counter: int, n: int = 1) -> int:
    """The event counter ``n`` events after ``counter`` (255 is followed by 1)."""
    if n <= 0:
        return counter
    return (counter - 1 + n) % 255 + 1 if counter else (n - 1) % 255 + 1


@dataclass(frozen=True, slots=True)
class CreditBuffer:
    """Read buffered credit or error codes (229) answer: the counter and the five newest events."""

    counter: int
    events: tuple[Event, ...]

    @classmethod
    def decode(cls, reply: Frame) -> CreditBuffer:
        data = ack(reply).data
        if len(data) != 1 + 2 * BUFFER_EVENTS:
            raise FrameError(f"credit buffer takes {1 + 2 * BUFFER_EVENTS} bytes, got {len(data)}")
        pairs = [(data[1 + 2 * i], data[2 + 2 * i]) for i in range(BUFFER_EVENTS)]
        return cls(data[0], tuple(CoinCredit(a, b) if a else CoinError(b) for a, b in pairs))

    def encode_data(self) -> bytes:
        out = bytearray([self.counter])
        for event in self.events[:BUFFER_EVENTS]:
            out += bytes([event.position, event.sorter]) if isinstance(event, CoinCredit) else bytes([0, event.code])
        out += b"\0" * (1 + 2 * BUFFER_EVENTS - len(out))
        return bytes(out)

    def since(self, previous: int) -> tuple[list[tuple[int, Event]], int]:
        """The events after counter ``previous``, oldest first, each with its own counter value,
        and how many were lost (more than five since ``previous``: the buffer overflowed)."""
        new = steps(previous, self.counter)
        kept = min(new, BUFFER_EVENTS)
        out = [(_back(self.counter, i), self.events[i]) for i in range(kept)]
        return list(reversed(out)), new - kept


def _back(counter: int, n: int) -> int:
    """The counter value ``n`` events before ``counter`` (1 is preceded by 255)."""
    return (counter - 1 - n) % 255 + 1
