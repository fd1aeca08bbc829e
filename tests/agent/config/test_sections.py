"""agent/config/sections.py: one section at a time, devices and offline limits in detail."""

from __future__ import annotations

from typing import Any

import pytest

from agent.config.model import OfflineLimit
from agent.config.sections import DEVICE_KEYS, SECTIONS, device, offline_limits, section
from drivers import DRIVERS

PRINTER = {"class": "receipt_printer", "port": "/dev/ttyUSB0"}


def test_every_section_key_is_a_field_of_its_settings_class() -> None:
    for name, (cls, checkers) in SECTIONS.items():
        assert set(checkers) <= set(cls.__dataclass_fields__), name


def test_section_keeps_values_as_toml_typed_them() -> None:
    problems: list[str] = []
    assert section("mqtt", {"health_interval": 60, "port": 1884}, problems) == {"health_interval": 60,
                                                                                "port": 1884}
    assert problems == []
    assert section("mqtt", "x", problems) == {}
    assert problems == ["mqtt: expected a table, got a string"]


def test_a_valid_device_becomes_a_spec_with_defaults() -> None:
    spec, problems = device("printer", dict(PRINTER))
    assert problems == [] and spec is not None
    assert (spec.name, spec.device_class, spec.driver, spec.port) == ("printer", "receipt_printer", "escpos",
                                                                      "/dev/ttyUSB0")
    assert (spec.baudrate, spec.poll_interval_s, spec.timeout_s, spec.required, spec.enabled) == (
        None, 5.0, 1.0, True, True)
    spec, _ = device("p", {**PRINTER, "poll_interval": 2, "timeout": 3, "required": False, "baudrate": 9600,
                           "options": {}})
    assert spec is not None and type(spec.poll_interval_s) is float and spec.timeout_s == 3.0
    assert (spec.required, spec.baudrate) == (False, 9600)


def test_device_table_problems_come_in_key_order_then_the_missing_keys() -> None:
    spec, problems = device("Bad-Name", {"class": "toaster", "baudrate": "fast", "options": 3, "typo": 1})
    assert spec is None
    assert problems[0] == "devices.Bad-Name: device names are lower-case letters, digits and _"
    assert problems[1].startswith("devices.Bad-Name.class: must be one of ")
    assert problems[2:] == ["devices.Bad-Name.baudrate: expected an integer, got a string 'fast'",
                            "devices.Bad-Name.options: expected a table", "devices.Bad-Name.typo: unknown key",
                            "devices.Bad-Name.port: missing"]


def test_a_device_that_is_not_a_table() -> None:
    assert device("x", "oops") == (None, ["devices.x: expected a table, got a string"])
    assert device("X", 1) == (None, ["devices.X: device names are lower-case letters, digits and _",
                                     "devices.X: expected a table, got an integer"])


def test_unknown_driver_lists_the_known_ones() -> None:
    assert device("p", {**PRINTER, "driver": "nope"}) == (
        None, ["devices.p.driver: no driver 'nope' for receipt_printer (known: escpos)"])


def test_a_driver_that_cannot_be_loaded_disables_only_its_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(DRIVERS, ("receipt_printer", "broken"), "no_such_module_here:Driver")
    spec, problems = device("p", {**PRINTER, "driver": "broken"})
    assert spec is None and len(problems) == 1
    assert problems[0].startswith("devices.p.driver: driver 'broken' cannot be loaded: No module named")
    assert device("q", dict(PRINTER))[0] is not None


def test_options_are_checked_by_the_driver_under_their_key_path() -> None:
    assert device("p", {**PRINTER, "options": {"zz": 1}}) == (
        None, ["devices.p.options.zz: unknown option for receipt_printer"])


def test_device_keys_cover_every_device_setting() -> None:
    assert set(DEVICE_KEYS) == {"class", "driver", "port", "baudrate", "poll_interval", "timeout", "required",
                                "enabled", "options"}


@pytest.mark.parametrize(("raw", "expected"), [
    ("x", ["offline_limits: expected a table of per-method tables"]),
    ({"Cash": {}}, ["offline_limits.Cash: a method is a lower-case word (cash, unionpay, qr, ...)"]),
    ({"cash": 5}, ["offline_limits.cash: expected a table"]),
    ({"cash": {"max_amount": -1, "x": 1}}, ["offline_limits.cash.max_amount: must be >= 0, got -1",
                                            "offline_limits.cash.x: unknown key"]),
])
def test_offline_limit_problems(raw: Any, expected: list[str]) -> None:
    problems: list[str] = []
    assert offline_limits(raw, problems) == ()
    assert problems == expected


def test_offline_limits_keep_the_good_methods() -> None:
    problems: list[str] = []
    limits = offline_limits({"cash": {"max_amount": 500, "max_age_s": 60}, "qr": {"max_total": "x"},
                             "card": {}}, problems)
    assert limits == (OfflineLimit("cash", max_amount=500, max_age_s=60), OfflineLimit("card"))
    assert problems == ["offline_limits.qr.max_total: expected an integer, got a string 'x'"]
