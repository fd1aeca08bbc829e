"""One API connection: bytes in, h11 (RFC 9112) parses, a complete request or an error out.

Sans-IO apart from the socket it holds for the event loop: the loop feeds received bytes to
:meth:`HttpConn.receive`, and takes bytes to send from :attr:`HttpConn.out`. h11 does the
parsing (request line, header syntax, Content-Length digits only, body framing); this module adds
the API's own rules on top:

* a body needs one ``Content-Length``: a chunked body gets 411 and the connection is closed (its
  unread bytes are never taken for a next request); a second ``Content-Length`` field or a list
  value is refused (400) even when the values agree (RFC 9112 section 6.3 lets a recipient reject);
* bodies are bounded (:data:`MAX_BODY`): a larger declared length gets 413 before any of the body
  is read; a moderately larger body (up to :data:`MAX_DISCARD`) is read away so the client sees the
  413 instead of a reset, anything larger has the connection closed;
* the request head is bounded by h11 (:data:`MAX_HEAD`, 431 beyond it).

Deadlines are the loop's business (:attr:`HttpConn.deadline`), not this module's.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import h11

MAX_BODY = 64 * 1024
MAX_DISCARD = 1024 * 1024
MAX_HEAD = 16 * 1024
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_LENGTH_LINE = re.compile(rb"^content-length[ \t]*:", re.IGNORECASE | re.MULTILINE)


@dataclass
class Request:
    """A complete request: method, target (undecoded), headers (lower-case names) and body bytes."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass(eq=False)
class HttpConn:
    sock: socket.socket
    listener: Any
    deadline: float
    h11: h11.Connection = field(default_factory=lambda: h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD))
    out: bytearray = field(default_factory=bytearray)
    #: bytes of the current request's head, kept until h11 has parsed it (for the duplicate check)
    head: bytearray = field(default_factory=bytearray)
    body: bytearray = field(default_factory=bytearray)
    request: h11.Request | None = None
    #: a complete request handed to a worker; the loop does not read from this connection meanwhile
    busy: bool = False
    #: the first byte of the current request has arrived (its deadline runs from then)
    started: bool = False
    #: after an early error answer: body bytes still to read away before closing
    discard: int = 0
    closing: bool = False
    #: our side is shut down; reading away the rest before the close
    lingering: bool = False
    #: the selector events the loop waits for on this connection (0: not registered)
    events: int = 0

    def receive(self, data: bytes) -> Request | None:
        """Feed received bytes (``b""`` = the peer closed); a complete request, or None.

        Errors become a queued JSON error response with ``closing`` set.
        """
        if self.discard or (self.closing and data):
            self.discard = max(0, self.discard - len(data))
            return None
        if not self.request and len(self.head) <= MAX_HEAD + 1:
            self.head += data[: MAX_HEAD + 2 - len(self.head)]
        self.h11.receive_data(data)
        return self.advance()

    def advance(self) -> Request | None:
        """Pull h11 events as far as the buffered bytes allow."""
        try:
            while True:
                event = self.h11.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return None
                if isinstance(event, h11.Request):
                    self._on_head(event)
                    if self.closing:
                        return None
                elif isinstance(event, h11.Data):
                    self.body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    assert self.request is not None
                    req = self.request
                    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in req.headers}
                    self.busy = True
                    return Request(req.method.decode("ascii"), req.target.decode("latin-1"), headers,
                                   bytes(self.body))
                elif isinstance(event, h11.ConnectionClosed):
                    self.closing = True
                    return None
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint if exc.error_status_hint in (400, 431, 501) else 400
            self.fail(status, "bad_request", f"malformed HTTP request: {exc}")
            return None

    def _on_head(self, req: h11.Request) -> None:
        self.request = req
        headers = {k.lower(): v for k, v in req.headers}
        head = bytes(self.head)
        m = _HEAD_END.search(head)
        head = head[: m.start()] if m else head
        self.head.clear()
        if b"transfer-encoding" in headers:
            self.fail(411, "length_required", "send a Content-Length, not a chunked body")
            return
        raw_len = headers.get(b"content-length")
        if len(_CONTENT_LENGTH_LINE.findall(head)) > 1 or (raw_len is not None and b"," in _raw_value(head)):
            self.fail(400, "bad_request", "more than one Content-Length")
            return
        if raw_len is None:
            if req.method in (b"POST", b"PUT"):
                self.fail(411, "length_required", "a body needs a Content-Length header")
            return
        length = int(raw_len)  # h11 allows digits only: no sign, no '_', no spaces
        if length > MAX_BODY:
            buffered = len(self.h11.trailing_data[0])
            self.fail(413, "too_large", f"bodies are limited to {MAX_BODY} bytes, this one is {length}",
                      discard=max(0, length - buffered) if length <= MAX_DISCARD else 0)
            return
        if self.h11.they_are_waiting_for_100_continue:
            self.out += self.h11.send(h11.InformationalResponse(status_code=100, headers=[]))

    def respond(self, status: int, doc: Any) -> None:
        """Queue a JSON response (from the worker, or the loop for errors)."""
        data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        headers = [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(data))),
                   ("Server", "kiosk-agent")]
        if self.closing:
            headers.append(("Connection", "close"))
        try:
            reason = HTTPStatus(status).phrase.encode()
        except ValueError:
            reason = b""
        try:
            self.out += self.h11.send(h11.Response(status_code=status, headers=headers, reason=reason))
            self.out += self.h11.send(h11.Data(data))
            self.out += self.h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            self.closing = True
        if self.h11.our_state is h11.MUST_CLOSE or self.h11.their_state in (h11.MUST_CLOSE, h11.CLOSED, h11.ERROR):
            self.closing = True

    def fail(self, status: int, code: str, message: str, *, discard: int = 0) -> None:
        self.closing = True
        self.discard = discard
        if self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            self.respond(status, {"error": {"code": code, "message": message}})

    def response_done(self) -> bool:
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    def next_cycle(self) -> Request | None:
        """After a response went out on a keep-alive connection: the next pipelined request, if any."""
        self.h11.start_next_cycle()
        self.request, self.busy, self.started = None, False, False
        self.body.clear()
        self.head = bytearray(self.h11.trailing_data[0][: MAX_HEAD + 2])
        self.started = bool(self.head)
        return self.advance()


def _raw_value(head: bytes) -> bytes:
    for line in head.split(b"\n"):
        if _CONTENT_LENGTH_LINE.match(line):
            return line.split(b":", 1)[1]
    return b""
