"""Masking and tokenising of card and ID numbers. Pure; used by drivers before data leaves them."""

from __future__ import annotations

import hashlib
import hmac
import re

_DIGITS = re.compile(r"\D")


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits kept, the rest replaced by ``*`` (PCI DSS 3.4)."""
    digits = _DIGITS.sub("", pan)
    if len(digits) < 13:
        return "*" * len(digits)
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def pan_token(key: bytes, pan: str) -> str:
    """A stable keyed token for a PAN: HMAC-SHA256 under the terminal key, hex, 32 chars."""
    digits = _DIGITS.sub("", pan)
    mac = hmac.new(key, b"pan:" + digits.encode("ascii"), hashlib.sha256).hexdigest()
    return "tok_" + mac[:32]


def mask_id_number(id_number: str) -> str:
    """Resident ID number: first 6 (region) and last 4 kept."""
    s = id_number.strip()
    if len(s) <= 10:
        return "*" * len(s)
    return s[:6] + "*" * (len(s) - 10) + s[-4:]
