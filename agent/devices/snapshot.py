"""The state model of one device: the immutable snapshot the poller publishes, and the faults
the poller raises itself when the device does not answer (offline, noDevice) or the driver fails.

States are XFS4IoT's device states (``drivers/base/health.py``); a snapshot's
:meth:`DeviceSnapshot.health_entry` is its entry in the health document
(``contract/schemas/health.schema.json``, ``devices``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drivers.base.errors import DriverError
from drivers.base.health import Action, DeviceState, DeviceStatus, Fault, Severity

#: states in which the poller considers the device unreachable (it set them itself)
UNREACHABLE = frozenset({DeviceState.OFFLINE, DeviceState.NO_DEVICE})

#: fault codes the poller itself raises
FAULT_NO_RESPONSE = "no_response"
FAULT_PORT_GONE = "port_gone"
FAULT_DRIVER_ERROR = "driver_error"
FAULT_WORKER_CRASHED = "worker_crashed"

_FAULT_TEXT = {
    FAULT_NO_RESPONSE: "the device does not answer",
    FAULT_PORT_GONE: "the port cannot be opened or vanished",
    FAULT_DRIVER_ERROR: "the driver failed unexpectedly",
    FAULT_WORKER_CRASHED: "the device worker stopped unexpectedly",
}


class DeviceUnavailable(DriverError):
    """A device operation was refused because the device is not open and answering."""


@dataclass(frozen=True, slots=True)
class DeviceSnapshot:
    """What the agent knows about one device right now (immutable; replaced, never edited)."""

    name: str
    device_class: str
    required: bool
    state: DeviceState
    faults: tuple[Fault, ...]
    #: the driver's detail from the last good poll; empty while the poller has it offline
    detail: dict[str, Any]
    #: UTC wall time of the last change of state or fault set
    since: datetime
    #: monotonic time of the last good poll
    last_ok_mono: float | None = None
    consecutive_failures: int = 0
    #: ``ClassName: message`` of the last failure, None after a good poll
    last_error: str | None = None

    @property
    def fault_codes(self) -> frozenset[str]:
        return frozenset(f.code for f in self.faults)

    @property
    def usable(self) -> bool:
        return self.state.usable

    def health_entry(self) -> dict[str, Any]:
        """This device's entry in the health document's ``devices`` map
        (``contract/schemas/health.schema.json``), without the availability figures, which come
        from the journal's ledger."""
        return {"class": self.device_class, "state": self.state.value,
                "faults": sorted(self.fault_codes), "since": self.since.isoformat(),
                "detail": dict(self.detail)}


#: called with ``(new, old)`` on a change of state or fault set (``old`` is None once, first)
Listener = Callable[[DeviceSnapshot, DeviceSnapshot | None], None]


def check_status(status: object) -> None:
    """Refuse a malformed ``poll()`` result (a driver bug) with TypeError, so it counts as a
    failed poll now instead of crashing the worker later, while publishing."""
    if not isinstance(status, DeviceStatus) or not isinstance(status.state, DeviceState):
        raise TypeError(f"poll() returned {status!r}, not a DeviceStatus")
    if not all(isinstance(f, Fault) for f in status.faults) or not isinstance(status.detail, dict):
        raise TypeError(f"poll() returned malformed faults or detail: {status!r}")


def poller_fault(code: str) -> Fault:
    """The fault the poller reports for one of its own codes (``FAULT_*``): a connection to
    check when the device is silent or gone, maintenance when the driver or worker failed."""
    action = Action.CHECK_CONNECTION if code in (FAULT_NO_RESPONSE, FAULT_PORT_GONE) else Action.MAINTENANCE
    return Fault(code, action, Severity.ERROR, _FAULT_TEXT[code])


def port_missing(port: str) -> bool:
    """True when ``port`` names a local device path that does not exist (or a dangling link).

    URLs (``socket://``, ``rfc2217://``) and ``usb:VID:PID`` are never "missing" here: their
    absence is indistinguishable from a dead peer, so it reads ``offline``.
    """
    if "://" in port or port.startswith("usb:"):
        return False
    return not os.path.exists(port)


def unreachable_state(port: str) -> DeviceState:
    """``noDevice`` when the port's path is gone (unplugged), else ``offline``."""
    return DeviceState.NO_DEVICE if port_missing(port) else DeviceState.OFFLINE
