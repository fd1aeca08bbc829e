"""The CRT link layer: command -> ACK (300 ms) -> response -> host ACK (M001 §1.4).

Recovery (M001 §1.4.2):

* no ACK within ``ack_timeout_s``: send EOT to clear the line (case 5/6: the module must not
  run the command late), then resend, up to ``attempts`` times; then :class:`DeviceTimeout`;
* NAK: resend the command (case 2), then :class:`NakError` when every attempt was NAKed;
* a response with a bad BCC/ETX/TEXT, or one that stalls half-way: answer NAK so the module
  resends it (case 3), up to ``response_naks`` times; then :class:`FrameError`;
* no response by the command's execution timeout: EOT, then :class:`DeviceTimeout`;
* a response whose CM/PM does not match the command (a late answer to an older command) is
  skipped, never taken as this command's answer.

Only CM/PM and lengths are logged: a response can carry an R-APDU with card data.
"""

from __future__ import annotations

from typing import Any

import structlog

from drivers.base.clock import Clock, SystemClock
from drivers.base.errors import DeviceTimeout, FrameError, NakError
from drivers.base.framing import StreamDecoder
from drivers.base.io import Deadline, Transport, read_until
from drivers.card_reader.constants import ACK, ACK_TIMEOUT_S, EOT, NAK, STX
from drivers.card_reader.frames import Frame, decode_frame
from drivers.card_reader.messages import Command, Reply, decode_reply

log = structlog.get_logger(__name__)

#: a partial frame with no new byte for this long has stalled (truncated or a false STX)
INTER_BYTE_TIMEOUT_S = 0.15
#: the most a drain may take (a line streaming garbage cannot hold the link longer)
_DRAIN_MAX_S = 0.5


class CrtLink:
    """Half-duplex request/response over a transport. Not thread-safe: the driver locks.

    Every wait is a :func:`~drivers.base.io.read_until` with a deadline on ``clock`` (the
    driver's ``ctx.clock``).
    """

    def __init__(self, transport: Transport, *, addr: int, clock: Clock | None = None,
                 ack_timeout_s: float = ACK_TIMEOUT_S, attempts: int = 3, response_naks: int = 3,
                 counters: dict[str, int] | None = None) -> None:
        self.transport = transport
        self.addr = addr
        self.clock: Clock = clock or SystemClock()
        self.ack_timeout_s = ack_timeout_s
        self.attempts = attempts
        self.response_naks = response_naks
        self.counters = counters if counters is not None else {}
        self._decoder: StreamDecoder[Any] = self._new_decoder()
        self._rx = bytearray()

    # -- what a link protocol defines (the CRT-310 link overrides these) ---------------------
    #: the frame start byte (a response arriving in place of the ACK starts with it)
    stx: int = STX
    #: whether a response may arrive in place of a lost ACK (M001 §1.4.2 case 7); not on a link
    #: where the response only follows the host's ENQ
    reply_replaces_ack: bool = True
    #: whether the protocol carries the CPU (chip) card commands
    chip_commands: bool = True

    def _new_decoder(self) -> StreamDecoder[Any]:
        return StreamDecoder(decode_frame, bytes([STX]))

    def _encode(self, command: Any) -> bytes:
        return Frame(command.encode(), self.addr).encode()

    def _after_ack(self) -> None:
        """What the host sends once the module ACKed the command (nothing: the response follows)."""

    def _reply_of(self, frame: Any, command: Any) -> Any:
        """The reply a frame holds if it answers ``command``, else None (a stale answer).

        Raises:
            FrameError: the TEXT does not decode.
        """
        reply = decode_reply(frame.text)
        if frame.addr != self.addr or reply.cm != command.cm or reply.pm != command.pm:
            return None
        return reply

    def _count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1

    def _deadline(self, timeout_s: float) -> Deadline:
        return Deadline(self.clock, timeout_s)

    def clear(self) -> None:
        """Forget buffered bytes (also wipes any card data still sitting in the buffers)."""
        self._rx = bytearray()
        self._decoder.clear()

    def drain(self) -> None:
        """Discard what the line holds. Reads rather than ``reset_input()``: on a pty whose
        other end vanished, pyserial's tcflush raises ``termios.error``, which is not an OSError
        and would escape the transport as a non-DriverError."""
        self.clear()
        read_until(self.transport, lambda chunk: None if chunk else True, self._deadline(_DRAIN_MAX_S), slice_s=0.0)

    def exchange(self, command: Command, timeout_s: float) -> Reply:
        """Send ``command`` and return its reply (positive or negative)."""
        frame = self._encode(command)
        self.drain()
        nakked = 0
        for attempt in range(1, self.attempts + 1):
            log.debug("crt_tx", cm=f"{command.cm:02X}", pm=f"{command.pm:02X}", attempt=attempt)
            self.transport.write(frame)
            link = self._await_ack()
            if link == ACK:
                self._after_ack()
                break
            if link == NAK:
                nakked += 1
                self._count("naks")
                continue
            self._count("ack_timeouts")
            self.cancel()
        else:
            if nakked == self.attempts:
                raise NakError(f"module NAKed CM {command.cm:02X} {self.attempts} times")
            raise DeviceTimeout(f"no ACK within {self.ack_timeout_s:.3f}s to CM {command.cm:02X} "
                                f"after {self.attempts} attempts")
        return self._await_response(command, timeout_s)

    def cancel(self) -> None:
        """EOT: clear the line; the module discontinues and answers EOT (M001 §1.4.2 case 5)."""
        self.transport.write(bytes([EOT]))
        read_until(self.transport, lambda chunk: True if EOT in chunk else None, self._deadline(self.ack_timeout_s),
                   size=256)
        self.drain()

    def _await_ack(self) -> int | None:
        def step(chunk: bytes) -> int | None:
            self._rx += chunk
            while self._rx:
                b = self._rx[0]
                if b == self.stx and self.reply_replaces_ack:  # the response: our ACK was lost (case 7)
                    return ACK
                del self._rx[0]
                if b in (ACK, NAK):
                    return b
                self._count("dropped_bytes")
            return None

        # bytes left over from the last read first, then the line
        return step(b"") or read_until(self.transport, step, self._deadline(self.ack_timeout_s), size=256)

    def _await_response(self, command: Command, timeout_s: float) -> Reply:
        deadline = self._deadline(timeout_s)
        naks = 0
        last_rx = self.clock.monotonic()

        def step(data: bytes) -> Reply | None:
            nonlocal naks, last_rx
            now = self.clock.monotonic()
            if data:
                last_rx = now
            while True:
                reply, resend = self._take_reply(data, command)
                if reply is not None:
                    return reply
                if not resend and self._decoder.pending and now - last_rx > INTER_BYTE_TIMEOUT_S:
                    pending = self._decoder.pending
                    self._decoder.clear()
                    nxt = pending.find(bytes([self.stx]), 1)
                    if nxt > 0:  # a false start (STX in line noise): resync on the next STX
                        data, last_rx = pending[nxt:], now
                        continue
                    resend = True
                if resend:
                    self._count("checksum_errors")
                    if naks >= self.response_naks:
                        self.cancel()
                        raise FrameError(f"corrupt response to CM {command.cm:02X} after {naks} resend requests")
                    naks += 1
                    self._decoder.clear()
                    self.transport.write(bytes([NAK]))
                    last_rx = now
                return None

        leftover, self._rx = bytes(self._rx), bytearray()
        reply = step(leftover) or read_until(self.transport, step, deadline, size=1024)
        if reply is None:
            self.cancel()
            raise DeviceTimeout(f"no response to CM {command.cm:02X} PM {command.pm:02X} within {timeout_s:.1f}s")
        return reply

    def _take_reply(self, data: bytes, command: Command) -> tuple[Reply | None, bool]:
        """Feed ``data``; return this command's reply (ACKed) if a frame holds it, and whether a
        corrupt frame asks for a resend. Replies to other commands are skipped."""
        errors = self._decoder.errors
        frames = self._decoder.feed(data) if data else []
        resend = self._decoder.errors > errors
        for frame in frames:
            try:
                reply = self._reply_of(frame, command)
            except FrameError:
                resend = True
                continue
            if reply is None:
                self._count("stale_replies")
                continue
            self.transport.write(bytes([ACK]))
            log.debug("crt_rx", cm=f"{reply.cm:02X}", pm=f"{getattr(reply, 'pm', command.pm):02X}",
                      kind=type(reply).__name__,
                      length=len(frame.text))
            self._decoder.clear()
            return reply, resend
        return None, resend
