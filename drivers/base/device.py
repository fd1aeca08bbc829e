"""The contract every device driver implements, and what the agent hands it.

A driver is built (not opened) from a :class:`DeviceSpec` and a :class:`DriverContext`, then:

* ``open()`` opens its transport (raises ``TransportError``), ``close()`` releases it;
* ``poll()`` talks to the device once and returns a :class:`DeviceStatus`, or raises a
  ``DriverError`` when the device did not answer: the poller, not the driver, decides when
  that makes the device ``offline``;
* ``selftest(level)`` runs a UPOS-level self-test and returns a :class:`SelftestResult`;
* ``operation(op, args)`` performs a device operation for the local API (``read``, ``print``,
  ``enable``, ``disable``, ...) and returns a JSON-able dict, raising ``UnsupportedCommand`` for
  an operation the class does not have and ``DeviceRefused`` when a fault forbids it;
* ``counters()`` returns UPOS-style lifetime counters.

Drivers are called from more than one thread (the poller and the API), so every method that
touches the transport holds ``self.lock``.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from drivers.base.clock import Clock, SystemClock
from drivers.base.errors import UnsupportedCommand
from drivers.base.health import DeviceStatus, SelftestLevel, SelftestResult

#: emit(kind, data) -> seq. Called by a driver for every device event (note stacked, card
#: inserted, code scanned...). It returns only after the event is durably journalled, so a
#: driver that acknowledges to the device after emit() never loses a money event.
EmitFn = Callable[[str, dict[str, Any]], int]

#: batch() groups the emits made inside it into one durable commit when the block ends: for
#: bursts of events nothing is acknowledged to the device for (a scanner's codes arriving
#: faster than one commit each). Never acknowledge a device inside a batch: its events are
#: durable only when the block has ended.
BatchFn = Callable[[], contextlib.AbstractContextManager[Any]]

#: prompt(message) shows an instruction to the engineer at the terminal (interactive self-test)
#: and returns the engineer's answer where one is asked for (True/"yes"/a check code), else None.
PromptFn = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One ``[devices.NAME]`` section, validated."""

    name: str
    device_class: str
    driver: str
    port: str
    baudrate: int | None = None
    poll_interval_s: float = 5.0
    timeout_s: float = 1.0
    required: bool = True
    enabled: bool = True
    #: class-specific settings (e.g. bill acceptor ``denominations``), validated by config
    options: Mapping[str, Any] = field(default_factory=dict)


def _no_emit(kind: str, data: dict[str, Any]) -> int:
    return 0


def _no_prompt(message: str) -> Any:
    return None


def _no_batch() -> contextlib.AbstractContextManager[Any]:
    return contextlib.nullcontext()


@dataclass(slots=True)
class DriverContext:
    """What the agent gives a driver: where events go, the tokenising key, time, prompts."""

    emit: EmitFn = _no_emit
    batch: BatchFn = _no_batch
    #: key for keyed tokens (PAN HMAC); the journal key in the agent
    token_key: bytes = b"\x00" * 32
    clock: Clock = field(default_factory=SystemClock)
    prompt: PromptFn = _no_prompt
    #: pyusb backend override (tests and simulators present a USB device through it)
    usb_backend: Any = None


class DeviceDriver(ABC):
    """Base class of the five device drivers."""

    device_class: ClassVar[str] = ""

    def __init__(self, spec: DeviceSpec, ctx: DriverContext) -> None:
        self.spec = spec
        self.ctx = ctx
        self.lock = threading.RLock()
        self._counters: dict[str, int] = {}

    @property
    def name(self) -> str:
        return self.spec.name

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def poll(self) -> DeviceStatus: ...

    @abstractmethod
    def selftest(self, level: SelftestLevel) -> SelftestResult: ...

    def operation(self, op: str, args: Mapping[str, Any]) -> dict[str, Any]:
        raise UnsupportedCommand(f"{self.device_class} has no operation {op!r}")

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> list[str]:
        """Problems with the ``[devices.NAME.options]`` table, one message per bad key.

        Messages start with the key name (config check prefixes the section's key path).
        The default accepts no options at all.
        """
        return [f"{key}: unknown option for {cls.device_class}" for key in options]

    @property
    def poll_interval_s(self) -> float:
        """How long the poller waits before the next poll. A device in the middle of a
        transaction (a note in escrow) may ask for a shorter interval than configured."""
        return self.spec.poll_interval_s

    def counters(self) -> dict[str, int]:
        """UPOS-style statistics since the agent started (the agent persists lifetime sums)."""
        return dict(self._counters)

    def count(self, key: str, n: int = 1) -> None:
        self._counters[key] = self._counters.get(key, 0) + n
