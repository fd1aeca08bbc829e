"""The common health vocabulary (pure data), after XFS4IoT device states and UPOS results.

Each device package maps its own wire status onto these types; the agent never sees a
protocol-specific status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class DeviceState(StrEnum):
    """XFS4IoT ``common.status.device`` vocabulary."""

    ONLINE = "online"
    OFFLINE = "offline"
    POWER_OFF = "powerOff"
    NO_DEVICE = "noDevice"
    HARDWARE_ERROR = "hardwareError"
    USER_ERROR = "userError"
    DEVICE_BUSY = "deviceBusy"
    FRAUD_ATTEMPT = "fraudAttempt"
    STARTING = "starting"

    @property
    def usable(self) -> bool:
        """Whether a customer transaction can use the device in this state."""
        return self in (DeviceState.ONLINE, DeviceState.DEVICE_BUSY)


class Action(StrEnum):
    """Who must act on a fault (XFS4IoT-style "action required")."""

    NONE = "none"
    #: staff at the site can clear it (paper jam, note jam, card left in the slot)
    CLEAR = "clear"
    #: consumables: paper, empty the cassette
    REPLENISH = "replenish"
    #: the agent or staff resets the device; usually clears by itself
    RESET = "reset"
    #: an engineer must come (hardware failure, SAM failure)
    MAINTENANCE = "maintenance"
    #: cable, port or power: check the connection
    CHECK_CONNECTION = "check_connection"


def worst_action(actions: Iterable[Action | str]) -> Action:
    """The most demanding of ``actions``, in the order :class:`Action` declares them (``NONE`` for
    none); strings are action values."""
    order = list(Action)
    worst = Action.NONE
    for raw in actions:
        action = Action(str(raw))
        if order.index(action) > order.index(worst):
            worst = action
    return worst


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Fault:
    """One active fault. ``code`` is a stable snake_case identifier per device class."""

    code: str
    action: Action
    severity: Severity = Severity.ERROR
    text: str = ""


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """The result of one poll, in the common model.

    ``state`` is never guessed: a device that did not answer is ``offline`` (the poller decides
    that after its failure threshold), not "online with unknown paper".
    """

    state: DeviceState
    faults: tuple[Fault, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def fault_codes(self) -> list[str]:
        return [f.code for f in self.faults]

    @property
    def action(self) -> Action:
        """The most demanding action among the faults."""
        return worst_action(f.action for f in self.faults)


class SelftestLevel(StrEnum):
    """UPOS ``checkHealth`` levels."""

    INTERNAL = "internal"
    EXTERNAL = "external"
    INTERACTIVE = "interactive"


class SelftestOutcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class SelftestResult:
    """One device's self-test outcome (``selftest --json`` ``results[]`` entry, minus device name)."""

    level: SelftestLevel
    result: SelftestOutcome
    reason: str = ""
    #: the raw device code (status byte, SW3, error code) in hex or the device's notation
    code: str = ""
    action: Action = Action.NONE
    duration_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
