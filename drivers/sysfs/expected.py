"""The device a kiosk expects (``[devices.NAME.options]``: ``vid``/``pid``, ``name``, ``serial``).

Every key is optional; an empty table accepts any device of the class. ``vid``/``pid`` are the
USB (or input ``id/``) vendor and product ids as 4 hex digits, ``name`` a case-insensitive
substring of the product or device name, ``serial`` the exact serial number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drivers.base.options import Option, Rule
from drivers.sysfs.tree import Identity

_HEX4 = re.compile(r"^(0x)?[0-9a-fA-F]{4}$")


def _hex4(value: Any) -> bool:
    return bool(_HEX4.match(value))


def _nonempty(value: Any) -> bool:
    return bool(value.strip())


#: the options every sysfs-identified device class takes (a driver adds its own to these)
EXPECTED_OPTIONS: dict[str, Option] = {
    "vid": Option(str, _hex4, "a vendor id of 4 hex digits, e.g. \"046d\""),
    "pid": Option(str, _hex4, "a product id of 4 hex digits, e.g. \"0825\""),
    "name": Option(str, _nonempty, "a non-empty part of the device name"),
    "serial": Option(str, _nonempty, "a non-empty serial number"),
}


def _pid_needs_vid(options: Mapping[str, Any], owner: type) -> list[str]:
    return ["pid: needs vid (a product id means nothing without its vendor)"] \
        if "pid" in options and "vid" not in options else []


#: option rules of the expected-device keys
EXPECTED_RULES: tuple[Rule, ...] = (_pid_needs_vid,)


@dataclass(frozen=True, slots=True)
class Expected:
    """What the configured device must look like; empty fields match anything."""

    vid: str = ""
    pid: str = ""
    name: str = ""
    serial: str = ""

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Expected:
        def ident(key: str) -> str:
            return str(options.get(key, "")).lower().removeprefix("0x")

        return cls(vid=ident("vid"), pid=ident("pid"), name=str(options.get("name", "")),
                   serial=str(options.get("serial", "")))

    @property
    def anything(self) -> bool:
        return not (self.vid or self.pid or self.name or self.serial)

    def matches(self, ident: Identity) -> bool:
        if self.vid and ident.vid != self.vid:
            return False
        if self.pid and ident.pid != self.pid:
            return False
        if self.name and self.name.casefold() not in ident.name.casefold():
            return False
        return not self.serial or ident.serial == self.serial

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("vid", self.vid), ("pid", self.pid), ("name", self.name),
                                  ("serial", self.serial)) if v}
