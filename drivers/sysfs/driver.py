"""The driver shape of a device the agent only watches through sysfs (a camera, a touch screen).

There is no line to open: ``open`` checks the sysfs tree is there, ``poll`` looks at it once
and returns the presence state (:mod:`drivers.sysfs.presence`); a missing device is a state the
driver reports (``noDevice`` with ``no_device`` or ``disconnected``), not an error, so the
poller publishes the driver's fault codes rather than its own ``port_gone``.

``spec.port`` is ``auto`` (any node of the class that matches the expected device: the node
number is not stable across reboots) or one node (``video0``, ``/dev/video0``, a udev link).
The sysfs and /dev roots are constructor arguments, ``/sys`` and ``/dev`` unless a test says
otherwise.

Self-test: ``internal`` is presence and identity; a subclass adds its ``external`` check.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from drivers.base.device import DeviceDriver, DeviceSpec, DriverContext
from drivers.base.errors import TransportError
from drivers.base.health import Action, DeviceState, DeviceStatus, SelftestLevel, SelftestOutcome, SelftestResult
from drivers.sysfs.expected import EXPECTED_OPTIONS, EXPECTED_RULES, Expected
from drivers.sysfs.presence import Found, Presence, PresenceCodes
from drivers.sysfs.tree import node_wanted

#: builds a SelftestResult: (outcome, reason, code, action, details) with the level and duration filled in
ResultFn = Callable[..., SelftestResult]


class SysfsPresenceDriver(DeviceDriver):
    """Presence and identity from sysfs; see the module docstring."""

    #: "camera", "touch screen" (fault texts)
    what: ClassVar[str] = "device"
    #: the class's presence fault codes (its health.py)
    presence_codes: ClassVar[PresenceCodes]
    options_schema = EXPECTED_OPTIONS
    option_rules = EXPECTED_RULES
    options_list_known = True

    def __init__(self, spec: DeviceSpec, ctx: DriverContext, *, sysfs_root: str | Path = "/sys",
                 dev_root: str | Path = "/dev") -> None:
        super().__init__(spec, ctx)
        self.root = Path(sysfs_root)
        self.dev_root = Path(dev_root)
        self.expected = Expected.from_options(spec.options)
        self.presence = Presence(self.expected, self.what, self.presence_codes)
        #: the node ``port`` pins, None for any
        self.only = node_wanted(spec.port)

    @abstractmethod
    def discover(self) -> list[Found]:
        """The device nodes of the class sysfs lists now (only ``self.only`` when set)."""

    def open(self) -> None:
        with self.lock:
            if not (self.root / "class").is_dir():
                raise TransportError(f"{self.root} is not a sysfs tree (no class/ directory)")

    def close(self) -> None:
        """Nothing is held between polls."""

    def poll(self) -> DeviceStatus:
        with self.lock:
            return self.presence.assess(self.discover())

    def selftest(self, level: SelftestLevel) -> SelftestResult:
        clock = self.ctx.clock
        t0 = clock.monotonic()

        def result(outcome: SelftestOutcome, reason: str, code: str = "", action: Action = Action.NONE,
                   **details: Any) -> SelftestResult:
            return SelftestResult(level, outcome, reason, code, action, round(clock.monotonic() - t0, 3), details)

        with self.lock:
            status = self.presence.assess(self.discover())
            if status.state is not DeviceState.ONLINE:
                fault = status.faults[0]
                return result(SelftestOutcome.FAIL, fault.text, fault.code, fault.action, **status.detail)
            found = self.presence.last
            assert found is not None  # set by assess whenever it answers online
            if level is SelftestLevel.INTERNAL:
                return result(SelftestOutcome.PASS, f"{self.what} present and identified", **status.detail)
            return self.external_check(found, result, status.detail)

    @abstractmethod
    def external_check(self, found: Found, result: ResultFn, detail: dict[str, Any]) -> SelftestResult:
        """The ``external`` (and ``interactive``) level once presence passed."""
