"""Presence of a sysfs-identified device, as a state and faults in the common vocabulary.

``Presence.assess`` turns what one look at sysfs found into a :class:`DeviceStatus`:

=====================  ==================  ==================  =======================
found                  state               fault               action
=====================  ==================  ==================  =======================
the expected device    ``online``          none                none
only other devices     ``hardwareError``   unexpected_device   maintenance
nothing, never seen    ``noDevice``        no_device           check_connection
nothing, seen before   ``noDevice``        disconnected        check_connection
=====================  ==================  ==================  =======================

"Seen before" means since this driver was built (the agent's start): a camera unplugged while
the agent was down reads ``no_device``, one unplugged while it ran reads ``disconnected``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drivers.base.health import Action, DeviceState, DeviceStatus, Fault, Severity
from drivers.sysfs.expected import Expected
from drivers.sysfs.tree import Identity


@dataclass(frozen=True, slots=True)
class PresenceCodes:
    """The fault codes of the three presence faults. Each device class declares its own (in its
    ``health.py``), so a class's fault codes are read from its package as for every other class."""

    no_device: str
    disconnected: str
    unexpected_device: str


@dataclass(frozen=True, slots=True)
class Found:
    """One device node of the class: its kernel name, device file, identity and extras."""

    node: str
    dev_path: str
    identity: Identity
    extra: dict[str, Any] = field(default_factory=dict)

    def detail(self) -> dict[str, Any]:
        return {"node": self.node, "dev": self.dev_path, **self.identity.as_dict(), **self.extra}


class Presence:
    """Remembers whether the expected device was ever seen, and judges each look at sysfs."""

    def __init__(self, expected: Expected, what: str, codes: PresenceCodes) -> None:
        self.expected = expected
        self.codes = codes
        #: "camera", "touch screen": used in the fault texts
        self.what = what
        self.seen = False
        self.last: Found | None = None

    def pick(self, found: list[Found]) -> Found | None:
        """The first device matching the expectation (nodes in kernel order), or None."""
        return next((f for f in found if self.expected.matches(f.identity)), None)

    def assess(self, found: list[Found]) -> DeviceStatus:
        expected = {"expected": self.expected.as_dict()} if not self.expected.anything else {}
        match = self.pick(found)
        if match is not None:
            self.seen, self.last = True, match
            return DeviceStatus(DeviceState.ONLINE, (), {**match.detail(), **expected})
        if found:
            others = ", ".join(f"{f.node}: {f.identity.describe()}" for f in found)
            fault = Fault(self.codes.unexpected_device, Action.MAINTENANCE, Severity.ERROR,
                          f"a {self.what} is connected but not the expected one ({others})")
            return DeviceStatus(DeviceState.HARDWARE_ERROR, (fault,),
                                {"found": [f.detail() for f in found], **expected})
        if self.seen:
            last = self.last.identity.describe() if self.last is not None else self.what
            fault = Fault(self.codes.disconnected, Action.CHECK_CONNECTION, Severity.ERROR,
                          f"the {self.what} {last} was connected and is gone")
            return DeviceStatus(DeviceState.NO_DEVICE, (fault,), expected)
        fault = Fault(self.codes.no_device, Action.CHECK_CONNECTION, Severity.ERROR, f"no {self.what} is connected")
        return DeviceStatus(DeviceState.NO_DEVICE, (fault,), expected)
