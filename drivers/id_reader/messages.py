"""The identity read from a card, and the SAM id (pure)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from drivers.base.errors import FrameError
from drivers.base.sensitive import mask_id_number
from drivers.id_reader.constants import NATIONS, PHOTO_BYTES, SEX, TEXT_BYTES, TEXT_FIELDS


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    sex: str
    nation: str
    birth: str
    address: str
    id_number: str
    authority: str
    valid_from: str
    valid_to: str
    photo: bytes = b""

    def fields(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in TEXT_FIELDS}

    @property
    def id_number_masked(self) -> str:
        return mask_id_number(self.id_number)

    def __repr__(self) -> str:  # never print the identity by accident
        return f"Identity(id_number_masked={self.id_number_masked!r})"


def decode_identity(data: bytes) -> Identity:
    """The READ (30 01) payload: text length, photo length (BE), UCS-2LE text, opaque photo."""
    if len(data) < 4:
        raise FrameError("identity payload too short")
    text_len, photo_len = struct.unpack(">HH", data[:4])
    if text_len != TEXT_BYTES or photo_len > PHOTO_BYTES or len(data) < 4 + text_len + photo_len:
        raise FrameError(f"identity payload lengths {text_len}/{photo_len} do not fit {len(data)} bytes")
    try:
        text = data[4:4 + text_len].decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise FrameError("identity text is not UCS-2") from exc
    f = {k: text[a:b].strip() for k, (a, b) in TEXT_FIELDS.items()}
    nation = NATIONS.get(int(f["nation"]), f["nation"]) if f["nation"].isdigit() else f["nation"]
    return Identity(f["name"], SEX.get(f["sex"], f["sex"]), nation, f["birth"], f["address"], f["id_number"],
                    f["authority"], f["valid_from"], f["valid_to"], bytes(data[4 + text_len:4 + text_len + photo_len]))


def encode_identity_text(fields: dict[str, str]) -> bytes:
    """The 256-byte text block (for the simulator): each field space-padded to its width."""
    chars = [" "] * (TEXT_BYTES // 2)
    for key, (a, b) in TEXT_FIELDS.items():
        value = fields.get(key, "")[: b - a].ljust(b - a)
        chars[a:b] = list(value)
    return "".join(chars).encode("utf-16-le")


def decode_sam_id(data: bytes) -> str:
    """SAM id as HslCommunication formats it: ``%02d.%02d-%d-%09d-%09d``."""
    if len(data) < 16:
        raise FrameError("SAM id payload too short")
    a, b = data[0], data[2]
    x, y, z = struct.unpack("<III", data[4:16])
    return f"{a:02d}.{b:02d}-{x}-{y:09d}-{z:09d}"
