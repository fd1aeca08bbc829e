"""Reading whole frames from a transport through a StreamDecoder, with a deadline."""

from __future__ import annotations

import time
from typing import TypeVar

from drivers.base.errors import DeviceTimeout
from drivers.base.framing import StreamDecoder
from drivers.base.transport import Transport

F = TypeVar("F")


def read_frame(transport: Transport, decoder: StreamDecoder[F], timeout_s: float,
               backlog: list[F] | None = None) -> F:
    """Return the next complete frame, reading until ``timeout_s`` has passed.

    Frames decoded beyond the first are appended to ``backlog`` (if given) so that nothing a
    device sent is lost; the caller passes the same list back in on the next call.

    Raises:
        DeviceTimeout: no complete frame arrived in time.
        TransportError: the port failed.
    """
    if backlog:
        return backlog.pop(0)
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeviceTimeout(f"no reply within {timeout_s:.3f}s")
        chunk = transport.read(4096, min(remaining, 0.05))
        if not chunk:
            continue
        frames = decoder.feed(chunk)
        if frames:
            if backlog is not None:
                backlog.extend(frames[1:])
            return frames[0]
