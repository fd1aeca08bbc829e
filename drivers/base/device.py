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

What arrives by injection, never built inside a driver from globals:

* the transport: ``self.new_transport(line_settings)`` asks ``ctx.open_transport`` (a
  :data:`~drivers.base.io.TransportFactory`) for one; the default opens the real port the spec
  names (pyserial / pyusb, :mod:`drivers.base.transport`); a test passes
  ``open_transport=given(RecordingTransport(...))`` or a loopback end;
* time: ``ctx.clock``; every wait goes through :func:`drivers.base.io.read_until` with a
  ``Deadline(ctx.clock, timeout_s)`` (``self.deadline(timeout_s)``);
* options: declared in ``options_schema`` / ``option_rules`` (:mod:`drivers.base.options`);
  ``check_options`` is not overridden.

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
from drivers.base.io import Deadline, Transport, TransportFactory
from drivers.base.options import Option, Rule, check_options

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
    #: where the driver's transport comes from; None: the real port (see DeviceDriver.new_transport)
    open_transport: TransportFactory | None = None


class DeviceDriver(ABC):
    """Base class of the five device drivers."""

    device_class: ClassVar[str] = ""
    #: the ``[devices.NAME.options]`` keys this driver takes (see drivers.base.options)
    options_schema: ClassVar[Mapping[str, Option]] = {}
    #: checks that span keys, run after the per-key ones
    option_rules: ClassVar[tuple[Rule, ...]] = ()
    #: unknown-key messages list the known keys
    options_list_known: ClassVar[bool] = False

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
        Declared by ``options_schema`` and ``option_rules``; a driver does not override this.
        """
        return check_options(options, cls.options_schema, owner=cls, device_class=cls.device_class,
                             rules=cls.option_rules, list_known=cls.options_list_known)

    # -- the I/O seam -------------------------------------------------------------------------
    def new_transport(self, settings: Mapping[str, Any]) -> Transport:
        """A transport (built, not opened) for ``spec.port`` with the line ``settings``
        (baudrate, bytesize, parity, stopbits): from ``ctx.open_transport`` when injected,
        else the real port."""
        if self.ctx.open_transport is not None:
            return self.ctx.open_transport(self.spec.port, settings)
        # imported here, not at the top: pyserial and pyusb load only when a real port is opened,
        # so codecs, simulators and tests that inject a transport never import them
        from drivers.base.transport import open_transport

        return open_transport(self.spec.port, usb_backend=self.ctx.usb_backend, **settings)

    def deadline(self, timeout_s: float) -> Deadline:
        """``timeout_s`` from now on the injected clock (for :func:`drivers.base.io.read_until`)."""
        return Deadline(self.ctx.clock, timeout_s)

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
