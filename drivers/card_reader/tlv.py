"""BER-TLV (ISO 7816-4 annex D / EMV Book 3 annex B) decoding, and DOL lists.

Tag: first byte, and if its low five bits are all ones, further bytes while bit 8 is set.
Bit 6 of the first byte marks a constructed object, whose value is itself TLV.
Length: one byte < 0x80, or 0x81 / 0x82 / 0x83 followed by that many length bytes.
00 and FF between objects are padding (EMV Book 3 annex B).

Values can be card data (PAN, track 2): never in repr or error messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from drivers.base.errors import ProtocolError

#: nesting bound, so hostile input cannot recurse deeply
MAX_DEPTH = 8


class TlvError(ProtocolError, ValueError):
    """Bytes that are not valid BER-TLV."""


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: int
    value: bytes = field(repr=False)
    children: tuple[Tlv, ...] = field(default=(), repr=False)

    @property
    def constructed(self) -> bool:
        return bool(_first_tag_byte(self.tag) & 0x20)


def _first_tag_byte(tag: int) -> int:
    while tag > 0xFF:
        tag >>= 8
    return tag


def _read_tag(data: bytes, i: int) -> tuple[int, int]:
    if i >= len(data):
        raise TlvError("truncated tag")
    first = data[i]
    tag = first
    i += 1
    if first & 0x1F == 0x1F:
        for _ in range(3):
            if i >= len(data):
                raise TlvError("truncated multi-byte tag")
            b = data[i]
            tag = (tag << 8) | b
            i += 1
            if not b & 0x80:
                break
        else:
            raise TlvError("tag longer than 4 bytes")
    return tag, i


def _read_length(data: bytes, i: int) -> tuple[int, int]:
    if i >= len(data):
        raise TlvError("truncated length")
    first = data[i]
    i += 1
    if first < 0x80:
        return first, i
    n = first & 0x7F
    if n == 0 or n > 3:
        raise TlvError(f"unsupported length form 0x{first:02X}")
    if i + n > len(data):
        raise TlvError("truncated long-form length")
    return int.from_bytes(data[i : i + n], "big"), i + n


def decode_tlv(data: bytes, depth: int = 0) -> tuple[Tlv, ...]:
    """Decode a sequence of TLV objects (constructed ones recursively).

    Raises:
        TlvError: truncated or malformed input, or nesting deeper than MAX_DEPTH.
    """
    if depth > MAX_DEPTH:
        raise TlvError("TLV nested too deeply")
    out: list[Tlv] = []
    i = 0
    while i < len(data):
        if data[i] in (0x00, 0xFF):
            i += 1
            continue
        tag, i = _read_tag(data, i)
        length, i = _read_length(data, i)
        if i + length > len(data):
            raise TlvError("value runs past the end of the data")
        value = bytes(data[i : i + length])
        i += length
        first = _first_tag_byte(tag)
        children = decode_tlv(value, depth + 1) if first & 0x20 else ()
        out.append(Tlv(tag, value, children))
    return tuple(out)


def walk(objs: Iterable[Tlv]) -> Iterator[Tlv]:
    """Every object, depth first."""
    for obj in objs:
        yield obj
        yield from walk(obj.children)


def find(objs: Iterable[Tlv], tag: int) -> Tlv | None:
    """The first object with ``tag`` anywhere in the tree."""
    for obj in walk(objs):
        if obj.tag == tag:
            return obj
    return None


def find_all(objs: Iterable[Tlv], tag: int) -> list[Tlv]:
    return [obj for obj in walk(objs) if obj.tag == tag]


def decode_dol(data: bytes) -> tuple[tuple[int, int], ...]:
    """A Data Object List (PDOL, CDOL): tag + length pairs, no values (EMV Book 3 §5.4)."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(data):
        tag, i = _read_tag(data, i)
        length, i = _read_length(data, i)
        out.append((tag, length))
    return tuple(out)


def encode_tlv(tag: int, value: bytes) -> bytes:
    """Encode one object (the simulated card builds its records with this)."""
    tag_bytes = tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    elif n <= 0xFF:
        length = bytes([0x81, n])
    else:
        length = bytes([0x82]) + n.to_bytes(2, "big")
    return tag_bytes + length + value
