"""Helpers for the bill-acceptor tests: a recording journal and condition-based polling."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.health import DeviceStatus
from drivers.bill_acceptor.api import BillAcceptor
from simulators.base.link import PtyLink
from simulators.base.peer import DevicePeer
from tests.support.waiting import wait_until

D = TypeVar("D", bound=BillAcceptor)


class Journal:
    """An ``emit`` that records what was journalled and can fail on demand (a crash before ACK)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.attempts: list[tuple[str, dict[str, Any]]] = []
        #: kind -> how many of the next emits of that kind raise
        self.fail: dict[str, int] = {}
        self._lock = threading.Lock()

    def emit(self, kind: str, data: dict[str, Any]) -> int:
        with self._lock:
            self.attempts.append((kind, dict(data)))
            if self.fail.get(kind, 0) > 0:
                self.fail[kind] -= 1
                raise OSError("database is locked")
            self.events.append((kind, dict(data)))
            return len(self.events)

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [d for k, d in self.events if k == kind]

    def kinds(self) -> list[str]:
        with self._lock:
            return [k for k, _ in self.events]


def poll_until(driver: BillAcceptor, predicate: Callable[[DeviceStatus], bool], timeout_s: float = 5.0,
               what: str = "status") -> DeviceStatus:
    """Poll the driver (real I/O) until ``predicate(status)`` holds."""
    seen: list[str] = []

    def attempt() -> DeviceStatus | None:
        status = driver.poll()
        seen.append(str(status.detail.get("acceptor_status")))
        return status if predicate(status) else None

    result = wait_until(attempt, timeout_s, interval_s=0.01, message=lambda: f"{what} not reached; saw {seen[-12:]}")
    assert result is not None
    return result


def acceptor_status(name: str) -> Callable[[DeviceStatus], bool]:
    return lambda status: status.detail.get("acceptor_status") == name


def idle(status: DeviceStatus) -> bool:
    return status.detail.get("acceptor_status") in ("IDLING", "DISABLE")


@contextmanager
def pty_link(peer: DevicePeer, path: Path) -> Iterator[PtyLink]:
    """``peer`` served on a real pty at ``path`` for the duration."""
    link = PtyLink(peer, path)
    link.start()
    try:
        yield link
    finally:
        link.stop()


class DriverMaker(Generic[D]):
    """Builds and opens ``driver_cls`` instances on ``link``, journalled in ``journal``; closes them all."""

    def __init__(self, driver_cls: type[D], driver: str, link: PtyLink, journal: Journal) -> None:
        self.driver_cls, self.driver, self.link, self.journal = driver_cls, driver, link, journal
        self.made: list[D] = []

    def __call__(self, url: str | None = None, *, timeout_s: float = 0.25,
                 prompt: Callable[[str], None] | None = None, **options: Any) -> D:
        spec = DeviceSpec(name="bill_acceptor", device_class="bill_acceptor", driver=self.driver,
                          port=url or self.link.url, baudrate=9600, poll_interval_s=5.0, timeout_s=timeout_s,
                          options=options)
        ctx = DriverContext(emit=self.journal.emit)
        if prompt is not None:
            ctx.prompt = prompt
        drv = self.driver_cls(spec, ctx)
        drv.open()
        self.made.append(drv)
        return drv

    def close_all(self) -> None:
        for drv in self.made:
            drv.close()
