"""The touch screen: presence and identity from sysfs.

Self-test levels: ``internal`` is presence and identity (:mod:`drivers.sysfs.driver`), with the
touch capability read from the device's bitmaps; ``external`` (and ``interactive``) also checks
that the device node the kiosk application reads (``/dev/input/eventN``) exists, which fails
when udev did not create it. The agent never reads touches: that is the application's input.
"""

from __future__ import annotations

from typing import Any

from drivers.base.health import Action, SelftestOutcome, SelftestResult
from drivers.sysfs.driver import ResultFn, SysfsPresenceDriver
from drivers.sysfs.presence import Found
from drivers.touch_screen.health import PRESENCE_CODES
from drivers.touch_screen.sysfs import touch_screens


class TouchScreenDriver(SysfsPresenceDriver):
    device_class = "touch_screen"
    what = "touch screen"
    presence_codes = PRESENCE_CODES

    def discover(self) -> list[Found]:
        return touch_screens(self.root, self.dev_root, self.only)

    def external_check(self, found: Found, result: ResultFn, detail: dict[str, Any]) -> SelftestResult:
        node = self.dev_root / "input" / found.node
        if not node.exists():
            return result(SelftestOutcome.FAIL, f"{node} does not exist (udev created no device node)",
                          "dev_node_missing", Action.MAINTENANCE, **detail)
        return result(SelftestOutcome.PASS, f"touch screen present, identified, {node} exists",
                      char_device=node.is_char_device(), **detail)
