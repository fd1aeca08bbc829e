"""PolledAcceptor: what the host-polled bill-acceptor drivers (ID003, CCNET, SSP) share above the
wire: the enable/disable rule and the hooks the self-test levels use (:mod:`.selftest`)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from drivers.base.errors import DeviceRefused, DriverError
from drivers.base.framing import StreamDecoder
from drivers.base.health import Action, DeviceState, DeviceStatus, Fault, Severity
from drivers.bill_acceptor.api import (
    FAST_POLL_INTERVAL_S,
    FAULT_CREDIT_PENDING,
    FAULT_EVENT_PENDING,
    FAULT_PAUSED,
    BillAcceptor,
)
from drivers.bill_acceptor.polled_link import PolledLink

__all__ = ["PolledAcceptor"]

F = TypeVar("F")

#: faults that do not forbid enabling acceptance
_HARMLESS_FAULTS = frozenset({FAULT_PAUSED})
_CAN_ACCEPT = (DeviceState.ONLINE, DeviceState.DEVICE_BUSY, DeviceState.STARTING)


class PolledAcceptor(BillAcceptor):
    """Base of the polled protocol drivers."""

    #: protocol name, the prefix of vendor codes (``id003``, ``ccnet``, ``ssp``)
    protocol: str
    #: the serial line: baudrate, bytesize, parity, stopbits (``open_transport`` keywords)
    line: ClassVar[Mapping[str, Any]]
    #: how long the external self-test waits for the acceptor to come back from a reset
    reset_timeout_s: float = 15.0
    _log: Any
    #: the serial request/reply link, built by the protocol driver
    link: PolledLink[Any]

    def _new_link(self, decoder: StreamDecoder[F]) -> PolledLink[F]:
        """The link for this device's port, line settings (``line_settings()``) and timeout."""
        return PolledLink(self.spec.port, self.line_settings(), decoder, new_transport=self.new_transport,
                          clock=self.ctx.clock, timeout_s=self.spec.timeout_s, log=self._log, count=self.count,
                          protocol=self.protocol)

    def line_settings(self) -> dict[str, Any]:
        """The serial line the protocol needs (``line``), at the configured baud rate if any."""
        return {**self.line, "baudrate": self.spec.baudrate or self.line["baudrate"]}

    def _entered(self, previous: str | None, current: str, health: DeviceStatus, counter: str | None) -> bool:
        """Count (``counter``) and log the acceptor entering a new status; False if it did not change."""
        if previous == current:
            return False
        if counter is not None:
            self.count(counter)
        (self._log.warning if health.faults else self._log.info)(
            "acceptor_status", status=current, previous=previous, faults=health.fault_codes)
        return True

    def _not_journalled(self, health: DeviceStatus, exc: Exception, *, credit: bool, **context: Any) -> DeviceStatus:
        """``emit`` failed, so nothing was acknowledged to the device and it will report the event
        again: the status gets a ``credit_pending`` (a credit) or ``event_pending`` fault meanwhile."""
        self._log.error("note_event_not_journalled", error=repr(exc), **context)
        fault = Fault(FAULT_CREDIT_PENDING if credit else FAULT_EVENT_PENDING, Action.NONE, Severity.ERROR,
                      f"note event not journalled yet: {exc}")
        return DeviceStatus(health.state, (*health.faults, fault), health.detail)

    def open(self) -> None:
        with self.lock:
            self.link.open()
            self._opened()

    def _opened(self) -> None:
        """The port was (re)opened: forget what a session with the unit had set up, if anything."""

    def close(self) -> None:
        with self.lock:
            self.link.close()

    def poll(self) -> DeviceStatus:
        with self.lock:
            return self._refresh()

    @abstractmethod
    def version_request(self) -> str:
        """The unit's identification (firmware, part or serial number)."""

    @abstractmethod
    def reset(self) -> None:
        """Reset the unit; the next polls run the initialisation again."""

    @property
    @abstractmethod
    def status_name(self) -> str | None:
        """The last status the acceptor reported, by name (None before the first)."""

    @property
    @abstractmethod
    def is_idle(self) -> bool:
        """The acceptor is idle (enabled or inhibited), initialised and with no note inside."""

    @property
    @abstractmethod
    def starting(self) -> bool:
        """The unit is powering up or initialising: it is polled fast until it is ready."""

    @property
    def poll_interval_s(self) -> float:
        if self.starting:
            return min(FAST_POLL_INTERVAL_S, self.spec.poll_interval_s)
        return super().poll_interval_s

    def _refused(self) -> None:
        """Enabling was refused after the device may have been enabled: inhibit it again."""

    def _set_acceptance(self, enabled: bool) -> DeviceStatus:
        """Record the host's wish, apply it through one status exchange, refuse it in a fault."""
        previous, self.wants_accepting = self.wants_accepting, enabled
        try:
            status = self._refresh()
        except DriverError:
            if enabled:
                self.wants_accepting = previous
            raise
        blocking = [f for f in status.faults if f.code not in _HARMLESS_FAULTS]
        if enabled and (blocking or status.state not in _CAN_ACCEPT):
            self.wants_accepting = previous
            fault = blocking[0] if blocking else None
            self._refused()
            raise DeviceRefused(fault.code if fault else status.state.value,
                                f"cannot accept notes: {fault.text if fault else status.state.value}")
        if previous != enabled:
            self._log.info("acceptance_changed", accepting=enabled)
        return status
