"""Framing of a serial scanner's output (pure: no I/O, no clock).

Two kinds of frames arrive on the same line::

    scan:        <printable data> CR [LF]            (suffix "cr" / "crlf")
                 <printable data> <idle gap>          (suffix "none": the driver says when idle;
                                                       cut at MAX_CODE_LEN bytes and flagged)
    menu reply:  <TAG echo> <data> (ACK|ENQ|NAK) (.|!)

A menu reply is recognised by the echo of a tag the driver is waiting for, because its data
may itself contain CR LF (REVINF is several lines). ``decode_frame`` returns the first complete
frame and the rest; ``(None, buf)`` means "need more". Control bytes inside scan data are
dropped (they cannot be part of a code a kiosk acts on) and counted by the caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from drivers.barcode_scanner.constants import CR, LF, MAX_CODE_LEN, MENU_PREFIX, TERMINATORS, MenuStatus
from drivers.base.errors import FrameError


@dataclass(frozen=True, slots=True)
class ScanData:
    code: str
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class MenuReply:
    tag: str
    data: str
    status: MenuStatus


Frame = ScanData | MenuReply
_STATUS = bytes(s.value for s in MenuStatus)


def encode_menu(command: str, storage: str = ".") -> bytes:
    """``SYN M CR`` + command + storage terminator (``.`` flash, ``!`` volatile)."""
    if storage not in (".", "!"):
        raise ValueError("storage is '.' or '!'")
    if not command.isascii() or not command.isprintable() or not command:
        raise ValueError("a menu command is printable ASCII")
    return MENU_PREFIX + command.encode("ascii") + storage.encode()


def _scan(raw: bytes) -> ScanData:
    # codes may be UTF-8 (QR codes carry Chinese text); control characters are never kept
    text = "".join(c for c in raw.decode("utf-8", "replace") if c.isprintable())
    truncated = len(text) > MAX_CODE_LEN
    return ScanData(text[:MAX_CODE_LEN], truncated)


_INFO_LINE = re.compile(rb"[^\r\n:]{1,40}: [^\r\n]*")
#: how much info-first text is held while the echo is awaited
_INFO_MAX = 4096


def _info_first(buf: bytes, tag: str) -> tuple[Frame | None, bytes] | None:
    """A unit that sends the information lines *before* the echoed tag + status (seen on
    Honeywell units for REVINF): ``Name: value CR LF ... TAG ACK .``. Returns the reply, ``(None,
    buf)`` to wait while the buffer holds only complete ``Name: value`` lines, or None when the
    buffer is not such a reply (it is then read as scans)."""
    t = tag.encode("ascii")
    end = buf.find(t)
    head = buf if end < 0 else buf[:end]
    lines = head.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    if not complete or not all(_INFO_LINE.fullmatch(line) for line in complete if line):
        return None
    if end < 0:
        waiting = (not tail or t.startswith(tail) or bool(_INFO_LINE.match(tail + b" ")) or b":" not in tail)
        return (None, buf) if waiting and len(buf) <= _INFO_MAX else None
    if tail:
        return None
    after = buf[end + len(t):]
    if len(after) < 2:
        return None, buf
    if after[0] not in _STATUS or after[1] not in TERMINATORS:
        return None
    data = b"\r\n".join(line for line in complete if line).decode("ascii", "replace")
    return MenuReply(tag, data, MenuStatus(after[0])), after[2:]


def decode_frame(buf: bytes, *, menu_tags: tuple[str, ...] = (), suffix: str = "cr",
                 idle: bool = False) -> tuple[Frame | None, bytes]:
    """The first complete frame in ``buf``.

    Raises:
        FrameError: a menu reply for an awaited tag that is malformed (status byte without a
            terminator where one must follow, or non-ASCII data).
    """
    if not buf:
        return None, buf
    for tag in menu_tags:
        found = _menu_reply(buf, tag, idle)
        if found is not None:
            return found
    if suffix in ("cr", "crlf"):
        return _suffixed_scan(buf, suffix, idle)
    # no suffix: a scan ends when the line goes idle, or at MAX_CODE_LEN bytes (a scanner that
    # never pauses, or a line of noise, must not grow the buffer without bound)
    if idle:
        return _scan(buf), b""
    if len(buf) > MAX_CODE_LEN:
        return ScanData(_scan(buf).code, True), b""  # as the CR branch does
    return None, buf


def _menu_reply(buf: bytes, tag: str, idle: bool) -> tuple[Frame | None, bytes] | None:
    """The reply to ``tag`` at the start of ``buf``: ``(reply, rest)``, ``(None, buf)`` to wait
    for more, or None when ``buf`` is not (the start of) that reply."""
    t = tag.encode("ascii")
    if not buf.startswith(t) and not idle:
        found = _info_first(buf, tag)
        if found is not None:
            return found
    if len(buf) < len(t) and t.startswith(buf):
        return None, buf  # could still become the awaited reply: wait
    if not buf.startswith(t):
        return None
    for i in range(len(t), len(buf)):
        if buf[i] not in _STATUS:
            continue
        if i + 1 >= len(buf):
            return None, buf
        if buf[i + 1] not in TERMINATORS:
            raise FrameError(f"menu reply status 0x{buf[i]:02x} not followed by '.' or '!'")
        try:
            data = buf[len(t):i].decode("ascii")
        except UnicodeDecodeError as exc:
            raise FrameError("menu reply data is not ASCII") from exc
        return MenuReply(tag, data, MenuStatus(buf[i])), buf[i + 2:]
    if len(buf) > MAX_CODE_LEN:
        raise FrameError("menu reply without a status byte")
    return None, buf


def _suffixed_scan(buf: bytes, suffix: str, idle: bool) -> tuple[Frame | None, bytes]:
    """A scan ended by CR (``cr``) or CR LF (``crlf``; a lone CR also ends it when idle)."""
    idx = buf.find(bytes([CR]))
    if idx < 0:
        if idle:
            return _scan(buf), b""
        if len(buf) > MAX_CODE_LEN:
            return ScanData(_scan(buf).code, True), b""
        return None, buf
    rest = buf[idx + 1:]
    if suffix == "crlf" and not rest and not idle:
        return None, buf  # the LF may still come
    if rest[:1] == bytes([LF]):
        rest = rest[1:]
    return _scan(buf[:idx]), rest
