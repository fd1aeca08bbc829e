"""RFC 8785 JSON Canonicalization Scheme (JCS): the canonical form every signature of the contract
covers, a fleet's command (contract/README.md, "Signed commands") and a terminal's report
(docs/mqtt.md, "Signed reports"). Part of the contract, and the one module of it the terminal
imports (agent/runtime/signing.py, agent/runtime/verify.py): standard library only, so a terminal's
install needs nothing more for it.

https://www.rfc-editor.org/rfc/rfc8785 : objects with members sorted by the UTF-16 code units of
their names (section 3.2.3), no whitespace, strings escaped as ECMAScript ``JSON.stringify`` does
(section 3.2.2.2: only ``"``, ``\\``, and U+0000..U+001F, with the short forms \\b \\t \\n \\f \\r and
lower-case ``\\u00xx`` for the rest), numbers serialised as ECMAScript ``Number.prototype.toString``
(section 3.2.2.3, ECMA-262 "Number::toString"), UTF-8 output. NaN, infinities, integers outside the
IEEE 754 double range that JSON numbers can carry exactly (|n| > 2**53), lone surrogates and
non-string keys are errors, never silently changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1
_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


class CanonicalizationError(ValueError):
    """The value has no RFC 8785 form (NaN, infinity, an unsafe integer, a lone surrogate, ...)."""


def canonicalize(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of ``value`` (dict, list, str, int, float, bool, None)."""
    parts: list[str] = []
    _write(value, parts, 0)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalizationError(f"a string holds a lone surrogate: {exc.reason}") from None


_LITERALS = {None: "null", True: "true", False: "false"}


def _write(value: Any, out: list[str], depth: int) -> None:
    if depth > 200:
        raise CanonicalizationError("nested deeper than 200 levels")
    if value is None or value is True or value is False:
        out.append(_LITERALS[value])
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalizationError(f"integer {value} is outside the exact range of a JSON number (2**53)")
        out.append(str(value))
    elif isinstance(value, float):
        out.append(number(value))
    elif isinstance(value, Mapping):
        _write_object(value, out, depth)
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out, depth + 1)
        out.append("]")
    else:
        raise CanonicalizationError(f"{type(value).__name__} is not a JSON value")


def _write_object(value: Mapping[Any, Any], out: list[str], depth: int) -> None:
    """Members sorted by the UTF-16 code units of their names (RFC 8785 section 3.2.3)."""
    for key in value:
        if not isinstance(key, str):
            raise CanonicalizationError(f"object key {key!r} is not a string")
    out.append("{")
    for i, key in enumerate(sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))):
        if i:
            out.append(",")
        out.append(_string(key))
        out.append(":")
        _write(value[key], out, depth + 1)
    out.append("}")


def _string(s: str) -> str:
    chars = []
    for ch in s:
        if ch in _SHORT:
            chars.append(_SHORT[ch])
        elif ch < " ":
            chars.append(f"\\u{ord(ch):04x}")
        else:
            chars.append(ch)
    return '"' + "".join(chars) + '"'


def number(x: float) -> str:
    """ECMAScript Number::toString(x) (ECMA-262, section "Number::toString", radix 10).

    Python's ``repr`` gives the shortest digit string that round-trips, which is the ``k``
    digits ECMAScript asks for; only the layout (where the point goes, when to use an exponent)
    differs and is done here.
    """
    if math.isnan(x) or math.isinf(x):
        raise CanonicalizationError(f"{x} has no JSON form")
    if x == 0:
        return "0"  # also -0
    if x < 0:
        return "-" + number(-x)
    mantissa, _, exp = repr(x).partition("e")
    whole, _, frac = mantissa.partition(".")
    raw = whole + frac
    leading = len(raw) - len(raw.lstrip("0"))
    # the value is 0.<digits> * 10**n
    n = len(whole) + int(exp or 0) - leading
    digits = raw.strip("0")
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{sign}{abs(e)}"
