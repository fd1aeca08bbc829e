"""Helpers for the bill-acceptor tests: a recording journal and condition-based polling."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from drivers.base.health import DeviceStatus
from drivers.bill_acceptor.id003.driver import Id003Driver
from tests.support.waiting import wait_until


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


def poll_until(driver: Id003Driver, predicate: Callable[[DeviceStatus], bool], timeout_s: float = 5.0,
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
