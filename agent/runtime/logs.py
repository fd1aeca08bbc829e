"""structlog setup: JSON lines under systemd (or when asked), readable output on a TTY.

Sensitive values are masked by a processor, not by hope: every string in every event, at any
depth (dict keys too, and numbers), is scanned for card numbers (drivers/base/sensitive.py: in
one piece or grouped by spaces, dashes, dots, slashes, double spaces), track 1 and track 2 data
(also EMV tag 57, where a 'D' separates the PAN from the rest), track-1 cardholder names, and
resident ID numbers (18 characters with a valid check digit, or the 15-digit first generation);
keys whose name says what they hold are masked outright.

The daemon also keeps its most recent events in memory (:class:`LogRing`, filled by a processor
that runs after the masking one, so it holds exactly what the log output shows): the agent writes
no log file of its own (its output goes to stdout, the journal under systemd), and the ``logs``
fleet command and ``GET /v1/logs`` serve from this ring (docs/mqtt.md, "Commands").
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
import sys
import threading
from collections import deque
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

import structlog

from drivers.base.sensitive import id_check_ok, luhn_ok, mask_numbers

__all__ = ["LEVELS", "RING", "LogLine", "LogRing", "configure", "id_check_ok", "luhn_ok", "mask_processor",
           "mask_text", "mask_value"]

#: structlog's level names (structlog.processors.add_log_level), least severe first
LEVELS = ("debug", "info", "warning", "error", "critical")
#: events the daemon keeps in memory (a constant until a config key is wanted)
RING_EVENTS = 1000
#: a longer event is kept as its time, level, event name and original size only
LINE_MAX_BYTES = 4096

#: track 2 (ISO/IEC 7813): ;PAN=YYMM service code, discretionary data?  and its EMV form, tag 57
#: "Track 2 Equivalent Data" (EMV Book 3 Annex A): PAN 'D' YYMM ... padded with 'F'
_TRACK2 = re.compile(r";?\d{12,19}[=Dd]\d{4}[0-9A-Fa-f?=]*")
#: track 1 (ISO/IEC 7813 format B): %B PAN ^ NAME ^ YYMM service code, discretionary data ?
_TRACK1 = re.compile(r"%?[Bb]\d[\d ]{11,22}\^[^^\n]{0,40}\^[^\s?]*\??")
#: the name field of track 1 on its own: ^SURNAME/GIVEN NAMES^
_TRACK1_NAME = re.compile(r"\^[A-Za-z][A-Za-z .'-]{0,25}/[A-Za-z .'-]{0,25}\^")
_SECRET_KEYS = {"pan", "track2", "track_2", "track1", "track_1", "track", "cvv", "pin", "pin_block", "password",
                "token_key", "key", "secret", "id_number", "photo", "photo_b64", "identity"}


def mask_text(text: str) -> str:
    text = _TRACK1.sub("[track data]", text)
    text = _TRACK2.sub("[track data]", text)
    text = _TRACK1_NAME.sub("^[name]^", text)
    return mask_numbers(text)


def mask_value(value: Any, key: str = "") -> Any:
    if key.lower() in _SECRET_KEYS and value is not None:
        return "[masked]"
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        # keys are data too: {"6222021234567890123": ...} must not carry a card number out
        return {(mask_text(k) if isinstance(k, str) else k): mask_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, float) and math.isfinite(value) and abs(value) >= 10**12:
        whole = str(int(value))
        return value if mask_text(whole) == whole else mask_text(whole)
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
    processors += [structlog.processors.format_exc_info, mask_processor, RING.processor]
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


@dataclass(frozen=True, slots=True)
class LogLine:
    """One masked event as the log output shows it: ``text`` is its compact JSON."""

    seq: int
    #: POSIX seconds from the event's ``timestamp``; None when it has none that parses
    at: float | None
    level: str
    text: str


class LogRing:
    """The last ``capacity`` events, each numbered (``seq`` counts from 1 and never repeats), each
    at most ``line_max`` bytes of JSON. Thread-safe; bounded in count and bytes."""

    def __init__(self, capacity: int = RING_EVENTS, line_max: int = LINE_MAX_BYTES) -> None:
        self._lines: deque[LogLine] = deque(maxlen=capacity)
        self._line_max = line_max
        self._seq = 0
        self._lock = threading.Lock()
        #: names this ring's numbering: a cursor of an earlier run of the daemon names another
        self.run_id = secrets.token_hex(4)

    def processor(self, _logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        self.append(event)
        return event

    def append(self, event: MutableMapping[str, Any]) -> None:
        text = json.dumps(event, ensure_ascii=False, default=str, separators=(",", ":"))
        size = len(text.encode())
        if size > self._line_max:
            text = json.dumps({"timestamp": event.get("timestamp"), "level": event.get("level"),
                               "event": str(event.get("event"))[:200], "truncated_bytes": size},
                              ensure_ascii=False, default=str, separators=(",", ":"))
        level = str(event.get("level", "info"))
        with self._lock:
            self._seq += 1
            self._lines.append(LogLine(self._seq, _posix(event.get("timestamp")), level, text))

    def snapshot(self) -> list[LogLine]:
        with self._lock:
            return list(self._lines)

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._seq


def _posix(ts: Any) -> float | None:
    if not isinstance(ts, str):
        return None
    try:
        return datetime.fromisoformat(ts).timestamp()
    except ValueError:
        return None


#: the process's ring: the daemon's log configuration feeds it
RING = LogRing()
