"""Agent tests. ``ScriptedDriver`` is the fake device the poller and supervisor tests share."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

from drivers.base.clock import Clock, SystemClock
from drivers.base.device import DeviceDriver, DeviceSpec, DriverContext
from drivers.base.errors import DeviceTimeout, TransportError
from drivers.base.health import (
    DeviceState,
    DeviceStatus,
    SelftestLevel,
    SelftestOutcome,
    SelftestResult,
)

ONLINE = DeviceStatus(DeviceState.ONLINE, (), {"paper": "ok"})
BUSY = DeviceStatus(DeviceState.DEVICE_BUSY, (), {"escrow": 50})


class Hang:
    """Script item: poll() blocks until ``driver.release`` is set (a wedged driver call)."""


HANG = Hang()


class WorkerKiller(BaseException):
    """Not an Exception: escapes every ``except Exception`` and kills the worker thread."""


class ScriptedDriver(DeviceDriver):
    """A DeviceDriver whose poll() follows a script.

    Script items: a ``DeviceStatus`` to return, an exception instance to raise, or ``HANG``.
    When the script runs out, ``default`` is used for every further poll. ``open_errors`` are
    raised by successive open() calls (None = that open succeeds).
    """

    device_class = "fake"

    def __init__(self, name: str = "dev", *, script: Iterable[Any] = (), default: Any = ONLINE,
                 port: str = "socket://127.0.0.1:9", clock: Clock | None = None,
                 poll_interval_s: float = 5.0, busy_interval_s: float | None = None,
                 poll_cost_s: float = 0.0, open_errors: Iterable[BaseException | None] = (),
                 required: bool = True) -> None:
        spec = DeviceSpec(name=name, device_class="fake", driver="scripted", port=port,
                          poll_interval_s=poll_interval_s, required=required)
        super().__init__(spec, DriverContext())
        self.clock = clock or SystemClock()
        self.script: deque[Any] = deque(script)
        self.default = default
        self.open_errors: deque[BaseException | None] = deque(open_errors)
        self.busy_interval_s = busy_interval_s
        self.poll_cost_s = poll_cost_s
        self.is_open = False
        self.opens = 0
        self.closes = 0
        self.polls = 0
        self.poll_times: list[float] = []
        self.last: DeviceStatus | None = None
        self.hanging = threading.Event()
        self.release = threading.Event()

    def open(self) -> None:
        with self.lock:
            self.opens += 1
            err = self.open_errors.popleft() if self.open_errors else None
            if err is not None:
                raise err
            self.is_open = True

    def close(self) -> None:
        with self.lock:
            self.closes += 1
            self.is_open = False

    def poll(self) -> DeviceStatus:
        with self.lock:
            if not self.is_open:
                raise TransportError(f"{self.name} is not open")
            self.polls += 1
            self.poll_times.append(self.clock.monotonic())
            item = self.script.popleft() if self.script else self.default
            if self.poll_cost_s:
                self.clock.sleep(self.poll_cost_s)
            if isinstance(item, Hang):
                self.hanging.set()
                released = self.release.wait(30.0)
                self.hanging.clear()
                raise DeviceTimeout("hung call released" if released else "hung call gave up")
            if isinstance(item, BaseException):
                raise item
            self.last = item
            return item

    def selftest(self, level: SelftestLevel) -> SelftestResult:
        with self.lock:
            return SelftestResult(level, SelftestOutcome.PASS)

    @property
    def poll_interval_s(self) -> float:
        """Like a bill acceptor: shorter while the last status was ``deviceBusy``."""
        if (self.busy_interval_s is not None and self.last is not None
                and self.last.state is DeviceState.DEVICE_BUSY):
            return self.busy_interval_s
        return self.spec.poll_interval_s
