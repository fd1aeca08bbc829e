"""PolledLink: the serial side of a host-polled bill acceptor (ID003, CCNET, SSP), protocol-free.

One request, one reply frame. What is common to the three protocols lives here, so each driver
keeps only its own bytes and state machine:

* opening the port with the line the protocol needs; a pty has no parity bit and some kernels
  refuse PARENB on a reopened pty, so the simulator's pty falls back to no parity (a real UART
  never takes that path);
* draining stale input (late answers to timed-out requests) before each request;
* reading until a reply frame the caller accepts arrives, within ``timeout_s`` on the injected
  clock (through :func:`drivers.base.io.read_until`); a partial frame followed by silence is
  salvaged (resynchronised past its first byte);
* retries with a clear error at the end: :class:`DeviceTimeout` when nothing came back,
  :class:`FrameError` when bytes came back but never a valid frame.

The caller's ``pick(frame)`` returns the reply it wants, ``None`` for a frame to skip (a stale
answer), :data:`RETRY` for a reply that asks for the request again (ID003 COMMUNICATION_ERROR,
CCNET NAK), or raises :class:`ProtocolError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from drivers.base.clock import Clock
from drivers.base.errors import DeviceTimeout, FrameError, TransportError
from drivers.base.framing import StreamDecoder
from drivers.base.io import Deadline, Transport, read_until

__all__ = ["RETRY", "PolledLink"]

F = TypeVar("F")

#: ``pick`` result: the device asked for the request again (counted as a corrupt exchange)
RETRY: Any = object()
#: silence after a partial frame that means the rest is not coming (inter-byte gaps are < 50 ms)
INTER_BYTE_S = 0.1


def _is_pty(port: str) -> bool:
    return os.path.realpath(port).startswith("/dev/pts/")


class PolledLink(Generic[F]):
    """A request/reply serial link with resynchronisation and retries (not thread-safe)."""

    def __init__(self, port: str, settings: Mapping[str, Any], decoder: StreamDecoder[F], *,
                 new_transport: Callable[[Mapping[str, Any]], Transport], clock: Clock, timeout_s: float,
                 log: Any, count: Callable[[str], None], protocol: str = "") -> None:
        self.port = port
        self.settings = dict(settings)
        self.decoder = decoder
        self.timeout_s = timeout_s
        #: line settings -> a transport for this port (the driver's ``new_transport``: injected)
        self._new_transport = new_transport
        self.clock = clock
        self._log = log
        self._count = count
        self._protocol = protocol
        self._transport: Transport | None = None

    @property
    def is_open(self) -> bool:
        return self._transport is not None and self._transport.is_open

    def open(self) -> None:
        self.close()
        transport = self._new_transport(self.settings)
        try:
            transport.open()
        except Exception as exc:  # termios.error escapes SerialTransport.open: it is no OSError
            error = exc if isinstance(exc, TransportError) else TransportError(f"cannot open {self.port}: {exc!r}")
            if not _is_pty(self.port) or self.settings.get("parity", "N") == "N":
                raise error from exc
            self._log.warning("pty_parity_refused", port=self.port, error=str(error))
            transport = self._new_transport({**self.settings, "parity": "N"})
            transport.open()
        self._transport = transport
        self.decoder.clear()

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    def _require(self) -> Transport:
        if self._transport is None or not self._transport.is_open:
            raise TransportError(f"{self.port} is not open")
        return self._transport

    def write(self, data: bytes) -> None:
        transport = self._require()
        self._log.debug(f"{self._protocol}_tx", hex=data.hex(" "))
        transport.write(data)

    def exchange(self, request: bytes | Callable[[], bytes], label: str, pick: Callable[[F], Any], *,
                 retries: int) -> Any:
        """Send ``request`` and return what ``pick`` accepts; ``retries`` extra attempts.

        ``request`` may be a callable, called for every attempt (SSP re-encodes nothing, but an
        encrypted eSSP packet must not be re-encrypted with a new count).

        Raises:
            DeviceTimeout: no reply at all on any attempt.
            FrameError: bytes came back but never a valid frame (or only RETRY answers).
            ProtocolError: raised by ``pick``.
            TransportError: the port failed.
        """
        corrupt = 0
        for attempt in range(retries + 1):
            self.drain()
            errors_before = self.decoder.errors + self.decoder.dropped
            self.write(request() if callable(request) else request)
            try:
                reply = self._read(label, pick)
            except DeviceTimeout:
                garbled = self.decoder.errors + self.decoder.dropped > errors_before or bool(self.decoder.pending)
                corrupt += int(garbled)
                self._count("communication_errors")
                self._log.debug(f"{self._protocol}_no_reply", command=label, attempt=attempt, garbled=garbled)
                continue
            if reply is RETRY:
                self._count("communication_errors")
                corrupt += 1
                continue
            return reply
        if corrupt:
            raise FrameError(f"no valid reply to {label} in {retries + 1} attempts ({corrupt} corrupt or cut short)")
        raise DeviceTimeout(f"no reply to {label} within {self.timeout_s:.3f}s ({retries + 1} attempts)")

    def drain(self) -> None:
        """Drop what is waiting before a new request.

        Reads instead of ``reset_input``: a flush on a vanished pty raises termios.error, which
        the transport does not map to TransportError; a read does.
        """
        transport = self._require()
        self.decoder.clear()
        for _ in range(64):
            stale = transport.read(4096, 0.0)
            if not stale:
                return
            self._log.debug(f"{self._protocol}_stale_input", hex=stale.hex(" "))

    def _read(self, label: str, pick: Callable[[F], Any]) -> Any:
        transport = self._require()

        def step(chunk: bytes) -> Any:
            frames = self.decoder.feed(chunk) if chunk else self.decoder.resync()
            for frame in frames:
                reply = pick(frame)
                if reply is not None:
                    return reply
            return None

        reply = read_until(transport, step, Deadline(self.clock, self.timeout_s), size=256, slice_s=INTER_BYTE_S)
        if reply is None:
            raise DeviceTimeout(f"no reply to {label}")
        return reply

