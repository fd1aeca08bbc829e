"""Masking and tokenising of card and ID numbers. Pure; used by drivers before data leaves them."""

from __future__ import annotations

import hashlib
import hmac
import itertools
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


# -- finding card and ID numbers in free text ---------------------------------------------------
#
# A number is written in groups: "6222 0212 3456 7890", "6222-0212-...", "6222.0212...",
# "6222/0212...", "6222  0212..." (two spaces), or in one piece. A *run* is digits joined by short
# separators; within it a *segment* is a stretch with one separator style throughout (dates and
# times mix them: "2024-12-02 10:11:12.5" is not a card). Every window of whole groups in a
# segment is a candidate; the windows that qualify are masked (their union, so a card number
# next to another number is never half left).

#: runs of digit groups joined by separators of at most two non-alphanumeric characters
_RUN = re.compile(r"\d+(?:(?:[^\w\n]|_){1,2}\d+)*")
_GAP = re.compile(r"(?:[^\w\n]|_){1,2}")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def luhn_ok(digits: str) -> bool:
    """ISO/IEC 7812-1 Annex B check digit (the Luhn formula)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_iin(digits: str) -> bool:
    """A payment card's issuer prefix (ISO/IEC 7812-1 major industry identifiers 3-6: American
    Express, JCB and Diners 3x, Visa 4, Mastercard 51-55, Discover/UnionPay/Maestro 5x-6x, plus
    Mastercard's 2221-2720 series). Airline (1), petroleum (7), telecom (8) and national (9)
    numbers are not cards a kiosk takes."""
    return bool(digits) and (3 <= int(digits[0]) <= 6 or 2221 <= int(digits[:4]) <= 2720)


def id_check_ok(s: str) -> bool:
    """GB 11643-1999 check character of an 18-character resident ID number."""
    if len(s) != 18 or not s[:17].isdecimal() or not (s[17].isdecimal() or s[17] in "Xx"):
        return False
    total = sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == s[17].upper()


def id15_ok(s: str) -> bool:
    """A first-generation (15-digit) resident ID: region (first digit 1-8), YYMMDD, sequence."""
    if len(s) != 15 or not s.isdecimal() or not 1 <= int(s[0]) <= 8:
        return False
    month, day = int(s[8:10]), int(s[10:12])
    return 1 <= month <= 12 and 1 <= day <= 31


def pan_like(digits: str) -> bool:
    """PAN-shaped: 13-19 digits, Luhn-valid, with a payment card prefix."""
    return 13 <= len(digits) <= 19 and digits.isdecimal() and card_iin(digits) and luhn_ok(digits)


def _loose_pan(digits: str, sep: str) -> bool:
    """The log masker's wider net for numbers in one piece or grouped by one space or dash: any 16-19
    digits (test cards and typos leak too), 13-15 when Luhn-valid (so millisecond timestamps
    survive). Other separators need the full PAN shape."""
    if not digits.isdecimal() or sep not in ("", " ", "-"):
        return False
    return 16 <= len(digits) <= 19 or (13 <= len(digits) <= 15 and luhn_ok(digits))


def _check_x(text: str, end: int, sep: str | None) -> int | None:
    """Where an ID number's check character X ends, when one follows at ``end`` (directly, or after
    the number's own separator); None when there is none."""
    gaps = ["", sep] if sep else ["", *(_GAP.findall(text, end, end + 2)[:1])]
    for gap in gaps:
        if text[end:end + len(gap)] == gap and text[end + len(gap):end + len(gap) + 1] in ("X", "x"):
            return end + len(gap) + 1
    return None


def _windows(text: str, loose: bool) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every qualifying window, kind "pan" or "id"."""
    found = []
    for run in _RUN.finditer(text):
        groups = [(m.start() + run.start(), m.end() + run.start()) for m in re.finditer(r"\d+", run.group())]
        seps = [text[a[1]:b[0]] for a, b in itertools.pairwise(groups)]
        for i in range(len(groups)):
            digits, sep = "", None
            for j in range(i, len(groups)):
                if j > i:
                    if sep is None:
                        sep = seps[j - 1]
                    elif seps[j - 1] != sep:
                        break
                digits += text[groups[j][0]:groups[j][1]]
                if len(digits) > 19:
                    break
                end = groups[j][1]
                x_end = _check_x(text, end, sep) if len(digits) == 17 and id_check_ok(digits + "X") else None
                if x_end is not None:
                    found.append((groups[i][0], x_end, "id"))  # 17 digits and the check character X
                elif id_check_ok(digits) or id15_ok(digits):
                    found.append((groups[i][0], end, "id"))
                elif pan_like(digits) or (loose and _loose_pan(digits, sep or "")):
                    found.append((groups[i][0], end, "pan"))
    return found


def _merged(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Overlapping spans as one; its kind is the widest member's (an ID number with a card-like
    number inside it is masked as an ID number)."""
    out: list[tuple[int, int, str]] = []
    widest: list[int] = []
    for start, end, kind in sorted(spans):
        if out and start <= out[-1][1]:
            s0, e0, k0 = out[-1]
            if end - start > widest[-1]:
                k0, widest[-1] = kind, end - start
            out[-1] = (s0, max(e0, end), k0)
        else:
            out.append((start, end, kind))
            widest.append(end - start)
    return out


def mask_numbers(text: str, *, loose: bool = True) -> str:
    """Mask every card number (first 6 + last 4 kept) and resident ID number (first 6 + last 4) in
    ``text``, in any of the separator styles above."""
    spans = _merged(_windows(text, loose))
    if not spans:
        return text
    parts, pos = [], 0
    for start, end, kind in spans:
        number = re.sub(r"[^\dXx]", "", text[start:end])
        parts += [text[pos:start], mask_pan(number) if kind == "pan" else mask_id_number(number)]
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def pan_shaped(text: str) -> bool:
    """True when ``text`` holds a PAN-shaped number (Luhn-valid 13-19 digits with a card prefix,
    any separators) or a resident ID number: what a client field or a scanned code must not carry."""
    return bool(_windows(text, loose=False))
