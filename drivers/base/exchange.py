"""The old name of the frame reader, kept until every driver calls :mod:`drivers.base.io`.

``read_frame(transport, decoder, timeout_s, backlog)`` is :func:`drivers.base.io.read_frame`
with a deadline on the real clock; new code passes a ``Deadline`` on the injected clock.
"""

from __future__ import annotations

from typing import TypeVar

from drivers.base.clock import Clock, SystemClock
from drivers.base.framing import StreamDecoder
from drivers.base.io import Deadline, Transport
from drivers.base.io import read_frame as _read_frame

F = TypeVar("F")


def read_frame(transport: Transport, decoder: StreamDecoder[F], timeout_s: float,
               backlog: list[F] | None = None, *, clock: Clock | None = None) -> F:
    """The next complete frame within ``timeout_s`` (see :func:`drivers.base.io.read_frame`).

    Raises:
        DeviceTimeout: no complete frame arrived in time.
        TransportError: the port failed.
    """
    return _read_frame(transport, decoder, Deadline(clock or SystemClock(), timeout_s), backlog=backlog)
