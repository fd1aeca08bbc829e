"""structlog setup: JSON lines under systemd (or when asked), readable output on a TTY.

Sensitive values are masked by a processor, not by hope: every string in every event, at any
depth, is scanned for card numbers (Luhn-valid 13-19 digits), track-2 data and resident ID
numbers (valid check digit), and keys whose name says what they hold are masked outright.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from drivers.base.sensitive import mask_id_number, mask_pan

_PAN = re.compile(r"(?<!\d)(\d[ -]?){12,18}\d(?!\d)")
_TRACK2 = re.compile(r";?\d{12,19}=\d{4,}[\d?]*")
_ID18 = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_SECRET_KEYS = {"pan", "track2", "track_2", "track", "cvv", "pin", "pin_block", "password", "token_key",
                "key", "secret", "id_number", "photo", "photo_b64", "identity"}
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def id_check_ok(s: str) -> bool:
    """GB 11643 check character of an 18-character resident ID number."""
    total = sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == s[17].upper()


def mask_text(text: str) -> str:
    text = _TRACK2.sub("[track data]", text)

    def pan(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        # 16-19 digits are masked whatever their check digit (test cards and typos leak too);
        # 13-15 only when Luhn-valid, so millisecond timestamps survive
        if 16 <= len(digits) <= 19 or (13 <= len(digits) <= 15 and luhn_ok(digits)):
            return mask_pan(digits)
        return m.group(0)

    def idn(m: re.Match[str]) -> str:
        return mask_id_number(m.group(0)) if id_check_ok(m.group(0)) else m.group(0)

    return _PAN.sub(pan, _ID18.sub(idn, text))


def mask_value(value: Any, key: str = "") -> Any:
    if key.lower() in _SECRET_KEYS and value is not None:
        return "[masked]"
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**12:
        masked = mask_text(str(value))
        return value if masked == str(value) else masked
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    return value


def mask_processor(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        event[key] = mask_value(event[key], key)
    return event


def configure(*, level: str = "info", fmt: str = "auto", terminal_id: str | None = None,
              stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if terminal_id:
        processors.append(_bind_terminal(terminal_id))
    # exceptions are rendered to text before masking, so their messages are masked too
    processors += [structlog.processors.format_exc_info, mask_processor]
    if use_json:
        processors.append(structlog.processors.JSONRenderer(ensure_ascii=False))
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=out.isatty()))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def _bind_terminal(terminal_id: str) -> Any:
    def proc(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event.setdefault("terminal", terminal_id)
        return event
    return proc
