"""Helpers for the bill-acceptor tests: a recording journal, polling to a condition, and drivers
built on a peer's link: in memory (``LoopbackPeerLink`` on a ``FakeClock``: byte-exact, no
real waiting) or on a real pty (the end-to-end tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest

from drivers.base.clock import FakeClock
from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import DeviceRefused
from drivers.base.health import DeviceStatus
from drivers.bill_acceptor.api import BillAcceptor
from drivers.bill_acceptor.ccnet.driver import CcnetDriver
from drivers.bill_acceptor.id003.driver import Id003Driver
from drivers.bill_acceptor.ssp.driver import SspDriver
from simulators.base.link import PtyLink
from simulators.base.loopback import LoopbackPeerLink
from simulators.base.peer import DevicePeer
from simulators.bill_acceptor_ccnet import CcnetPeer
from simulators.bill_acceptor_id003 import Id003Peer
from simulators.bill_acceptor_ssp import SspPeer

D = TypeVar("D", bound=BillAcceptor)


@dataclass(frozen=True)
class Proto:
    """One protocol's driver and simulator, for the tests that run against every protocol."""

    name: str
    peer: type[DevicePeer]
    driver: type[BillAcceptor]
    #: the acceptor status that means "enabled, waiting for a note"
    accepting: str
    options: tuple[tuple[str, Any], ...] = ()


ID003 = Proto("id003", Id003Peer, Id003Driver, "IDLING")
CCNET = Proto("ccnet", CcnetPeer, CcnetDriver, "IDLING")
SSP = Proto("ssp", SspPeer, SspDriver, "IDLE")
ESSP = Proto("ssp", SspPeer, SspDriver, "IDLE", (("encrypted", True),))


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


def poll_until(driver: BillAcceptor, predicate: Callable[[DeviceStatus], bool], max_polls: int = 300,
               what: str = "status") -> DeviceStatus:
    """Poll the driver until ``predicate(status)`` holds; each poll is one full exchange (or its
    timeout), so the bound is a number of polls, not a time."""
    seen: list[str] = []
    for _ in range(max_polls):
        status = driver.poll()
        seen.append(str(status.detail.get("acceptor_status")))
        if predicate(status):
            return status
    raise AssertionError(f"{what} not reached in {max_polls} polls; saw {seen[-12:]}")


def assert_device_fault_round_trip(ready: BillAcceptor, peer: DevicePeer, fault: str, wire: str, state: Any,
                                   code: str, action: Any, counter: str, idle_status: str) -> None:
    """A device fault shows in health at the next poll (the protocol's ``wire`` status, the class's
    ``code`` and ``action``), is counted once, refuses enabling, and clears with the fault."""
    peer.set_fault(fault)
    status = ready.poll()
    assert status.detail["acceptor_status"] == wire
    assert status.state is state and status.fault_codes == [code] and status.action is action
    ready.poll()
    assert ready.counters()[counter] == 1
    with pytest.raises(DeviceRefused) as refused:
        ready.operation("enable", {})
    assert refused.value.code == code
    peer.set_fault(fault, False)
    assert poll_until(ready, acceptor_status(idle_status)).faults == ()


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


def loop_link(peer: DevicePeer) -> LoopbackPeerLink:
    """``peer`` on an in-memory link in virtual time (a fresh ``FakeClock``)."""
    return LoopbackPeerLink(peer, FakeClock())


class DriverMaker(Generic[D]):
    """Builds and opens ``driver_cls`` instances on ``link``, journalled in ``journal``; closes them all.

    On a :class:`LoopbackPeerLink` the driver gets the link's host end and its clock."""

    def __init__(self, driver_cls: type[D], driver: str, link: PtyLink | LoopbackPeerLink, journal: Journal) -> None:
        self.driver_cls, self.driver, self.link, self.journal = driver_cls, driver, link, journal
        self.made: list[D] = []

    def __call__(self, url: str | None = None, *, timeout_s: float = 0.25,
                 prompt: Callable[[str], None] | None = None, **options: Any) -> D:
        spec = DeviceSpec(name="bill_acceptor", device_class="bill_acceptor", driver=self.driver,
                          port=url or self.link.url, baudrate=9600, poll_interval_s=5.0, timeout_s=timeout_s,
                          options=options)
        ctx = DriverContext(emit=self.journal.emit)
        if isinstance(self.link, LoopbackPeerLink):
            ctx = DriverContext(emit=self.journal.emit, clock=self.link.link.clock, open_transport=self.link.opener())
        if prompt is not None:
            ctx.prompt = prompt
        drv = self.driver_cls(spec, ctx)
        drv.open()
        self.made.append(drv)
        return drv

    def close_all(self) -> None:
        for drv in self.made:
            drv.close()
