"""CcTalkLink: one request, one answer, on a half-duplex ccTalk line (the I/O side of the codec).

* before each request, stale input is drained (a late answer to a request that timed out);
* the request's echo is removed with :class:`~drivers.coin_acceptor.frames.EchoFilter` (works
  with and without an echo on the line);
* the answer is the first frame addressed to the host from the device's address, read through
  :func:`drivers.base.io.read_until` within ``timeout_s`` on the injected clock; a partial frame
  followed by silence (ccTalk's inter-byte timeout is 50 ms) is salvaged past its first byte;
* ``retries`` extra attempts; then :class:`DeviceTimeout` (nothing came back) or
  :class:`FrameError` (bytes came back, never a valid answer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drivers.base.clock import Clock
from drivers.base.errors import DeviceTimeout, FrameError, TransportError
from drivers.base.io import Deadline, Transport, read_until
from drivers.coin_acceptor.constants import ADDR_HOST
from drivers.coin_acceptor.frames import Checksum, EchoFilter, Frame, new_decoder
from drivers.coin_acceptor.messages import request

__all__ = ["INTER_BYTE_S", "CcTalkLink"]

#: silence that ends a partial frame (the spec's inter-byte timeout)
INTER_BYTE_S = 0.05


class CcTalkLink:
    """Request/answer exchanges with the device at ``address`` (not thread-safe: the driver locks)."""

    def __init__(self, transport: Transport, address: int, *, clock: Clock, timeout_s: float,
                 count: Callable[[str], None], log: Any, checksum: Checksum = Checksum.SIMPLE) -> None:
        self.transport = transport
        self.address = address
        self.clock = clock
        self.timeout_s = timeout_s
        self._count = count
        self._log = log
        self.checksum = checksum
        self.decoder = new_decoder(ADDR_HOST, checksum, implied_src=address)
        #: requests whose echo was seen / whose echo was absent (the line has no echo)
        self.echoes = 0
        self.no_echo = 0

    def exchange(self, header: int, data: bytes = b"", *, retries: int = 2) -> Frame:
        """Send ``header`` + ``data`` and return the device's answer frame (any header: the caller
        checks for ACK).

        Raises:
            DeviceTimeout, FrameError, TransportError: see the module docstring.
        """
        raw = request(header, data, dest=self.address).encode(self.checksum)
        garbled = 0
        for attempt in range(retries + 1):
            self._drain()
            before = self.decoder.errors + self.decoder.dropped
            echo = EchoFilter(raw)
            self._log.debug("cctalk_tx", hex=raw.hex(" "))
            self.transport.write(raw)
            reply = read_until(self.transport, lambda chunk, echo=echo: self._step(echo, chunk),
                               Deadline(self.clock, self.timeout_s), size=256, slice_s=INTER_BYTE_S)
            self.echoes += echo.echoed
            self.no_echo += echo.absent
            if reply is not None:
                return reply
            self._count("communication_errors")
            garbled += int(self.decoder.errors + self.decoder.dropped > before or bool(self.decoder.pending))
            self._log.debug("cctalk_no_reply", header=header, attempt=attempt)
        if garbled:
            raise FrameError(f"no valid answer to header {header} in {retries + 1} attempts ({garbled} corrupt)")
        raise DeviceTimeout(f"no answer to header {header} within {self.timeout_s:.3f}s ({retries + 1} attempts)")

    def _step(self, echo: EchoFilter, chunk: bytes) -> Frame | None:
        frames = self.decoder.feed(echo.feed(chunk)) if chunk else self.decoder.resync()
        for frame in frames:
            if frame.src == self.address:
                return frame
        return None

    def _drain(self) -> None:
        if not self.transport.is_open:
            raise TransportError("the ccTalk port is not open")
        self.decoder.clear()
        for _ in range(64):
            stale = self.transport.read(4096, 0.0)
            if not stale:
                return
            self._log.debug("cctalk_stale_input", hex=stale.hex(" "))
