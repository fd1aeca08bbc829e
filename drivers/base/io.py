"""The I/O seam: the Transport contract and the one read-until-frame-or-deadline loop.

Every driver reads through :func:`read_until` (or :func:`read_frame` / :func:`read_exact`, which
are built on it) with a :class:`Deadline` taken from the driver's injected clock
(``ctx.clock``). Nothing here imports ``serial`` or ``usb``: the real transports live in
:mod:`drivers.base.transport`, the in-memory ones in :mod:`drivers.base.loopback`.

Time. A transport's ``read(n, timeout_s)`` waits at most ``timeout_s`` *on the clock the caller
uses*. The real transports block in real time, which agrees with ``SystemClock``; the
loopback and recording transports, given a ``FakeClock``, advance it instead of sleeping. So a
driver test with a fake clock runs a 1-second reply timeout in microseconds, and its outcome
does not depend on the machine's load.

Contract of ``step(chunk)`` in :func:`read_until`: it is called after every read with what the
read returned, and with ``b""`` when the line stayed quiet for a whole slice (``slice_s``), so a
step can act on silence (salvage a partial frame, close a reply window). It returns ``None`` to
go on reading, anything else to stop: :func:`read_until` returns that value. When the deadline
passes first, :func:`read_until` returns ``None`` and the caller decides what a timeout means
(usually :class:`~drivers.base.errors.DeviceTimeout`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from drivers.base.clock import Clock
from drivers.base.errors import DeviceTimeout
from drivers.base.framing import StreamDecoder

__all__ = ["SLICE_S", "Deadline", "Transport", "TransportFactory", "given", "read_exact", "read_frame",
           "read_until"]

T = TypeVar("T")
F = TypeVar("F")

#: how long one read inside :func:`read_until` waits before the step sees silence
SLICE_S = 0.05


class Transport(Protocol):
    """A byte pipe that knows no protocol and never retries.

    ``read(n, timeout_s)`` returns up to ``n`` bytes, or ``b""`` when nothing arrived within
    ``timeout_s``; a vanished port raises ``TransportError`` (from any method).
    """

    @property
    def is_open(self) -> bool: ...

    def open(self) -> None: ...

    def close(self) -> None: ...

    def write(self, data: bytes) -> None: ...

    def read(self, n: int, timeout_s: float) -> bytes: ...

    def reset_input(self) -> None: ...


#: (port, line settings) -> a transport, built, not opened. ``DriverContext.open_transport``;
#: line settings are ``open_transport``'s keywords (baudrate, bytesize, parity, stopbits).
TransportFactory = Callable[[str, Mapping[str, Any]], Transport]


def given(transport: Transport) -> TransportFactory:
    """A factory that hands out ``transport`` whatever the port and line settings: the usual
    way a test injects a loopback or recording transport (``DriverContext(open_transport=given(t))``).
    The settings of the last call are kept in the factory's ``settings`` attribute."""

    def factory(port: str, settings: Mapping[str, Any]) -> Transport:
        factory.settings = dict(settings)  # type: ignore[attr-defined]
        return transport

    factory.settings = None  # type: ignore[attr-defined]
    return factory


class Deadline:
    """A point in time on ``clock``, ``timeout_s`` from now."""

    __slots__ = ("at", "clock", "timeout_s")

    def __init__(self, clock: Clock, timeout_s: float) -> None:
        self.clock = clock
        self.timeout_s = max(0.0, timeout_s)
        self.at = clock.monotonic() + self.timeout_s

    def remaining(self) -> float:
        return self.at - self.clock.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0


def read_until(transport: Transport, step: Callable[[bytes], T | None], deadline: Deadline, *,
               size: int | Callable[[], int] = 4096, slice_s: float = SLICE_S) -> T | None:
    """Read, handing every chunk to ``step``, until it returns a value or ``deadline`` passes.

    ``size`` is the most one read takes (a callable: asked before every read). Returns
    ``step``'s first non-None value, or None when the deadline came first.

    Raises:
        TransportError: the port failed.
    """
    while True:
        remaining = deadline.remaining()
        if remaining <= 0:
            return None
        want = size() if callable(size) else size
        result = step(transport.read(want, min(remaining, slice_s)))
        if result is not None:
            return result


def read_frame(transport: Transport, decoder: StreamDecoder[F], deadline: Deadline, *,
               backlog: list[F] | None = None) -> F:
    """The next complete frame ``decoder`` extracts from the line before ``deadline``.

    Frames decoded beyond the first go to ``backlog`` (if given) and are returned first by the
    next call that gets the same list, so nothing a device sent is lost.

    Raises:
        DeviceTimeout: no complete frame arrived in time.
        TransportError: the port failed.
    """
    if backlog:
        return backlog.pop(0)

    def step(chunk: bytes) -> F | None:
        frames = decoder.feed(chunk) if chunk else []
        if not frames:
            return None
        if backlog is not None:
            backlog.extend(frames[1:])
        return frames[0]

    frame = read_until(transport, step, deadline)
    if frame is None:
        raise DeviceTimeout(f"no reply within {deadline.timeout_s:.3f}s")
    return frame


def read_exact(transport: Transport, n: int, deadline: Deadline) -> bytes:
    """Exactly ``n`` bytes, or what arrived before ``deadline`` (shorter: the caller checks)."""
    buf = bytearray()

    def step(chunk: bytes) -> bytes | None:
        buf.extend(chunk)
        return bytes(buf) if len(buf) >= n else None

    return read_until(transport, step, deadline, size=lambda: n - len(buf)) or bytes(buf)
