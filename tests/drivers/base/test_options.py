"""The one check_options mechanism: a schema of Option per key plus cross-key rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from drivers.base.device import DeviceDriver, DeviceSpec, DriverContext
from drivers.base.health import DeviceState, DeviceStatus, SelftestLevel, SelftestOutcome, SelftestResult
from drivers.base.io import given
from drivers.base.loopback import RecordingTransport
from drivers.base.options import Option, in_range, one_of, positive


def _both_or_neither(options: Mapping[str, Any], driver: type) -> list[str]:
    return [] if ("lo" in options) == ("hi" in options) else ["lo: needs hi (and hi needs lo)"]


class _Scale(DeviceDriver):
    """A driver whose only interesting part is its options; it answers polls and self-tests as a
    healthy device would, so it is a complete DeviceDriver."""

    device_class = "scale"
    options_schema: ClassVar[Mapping[str, Option]] = {
        "unit": Option(str, one_of("g", "kg"), "one of g, kg"),
        "timeout_s": Option(float, positive, "must be > 0"),
        "address": Option(int, in_range(0, 15), "must be 0..15"),
        "beep": Option(bool),
        "lo": Option(int), "hi": Option(int),
    }
    option_rules = (_both_or_neither,)

    def open(self) -> None: ...

    def close(self) -> None: ...

    def poll(self) -> DeviceStatus:
        return DeviceStatus(DeviceState.ONLINE, detail={"unit": self.spec.options.get("unit", "g")})

    def selftest(self, level: SelftestLevel) -> SelftestResult:
        return SelftestResult(level, SelftestOutcome.PASS)


def test_good_options_pass() -> None:
    assert _Scale.check_options({}) == []
    assert _Scale.check_options({"unit": "kg", "timeout_s": 2, "address": 15, "beep": False}) == []


def test_each_problem_is_reported_under_its_key_in_order() -> None:
    assert _Scale.check_options({"colour": "red", "unit": "lb", "timeout_s": 0, "address": True,
                                 "beep": 1, "lo": 1}) == [
        "colour: unknown option for scale",
        "unit: one of g, kg",
        "timeout_s: must be > 0",
        "address: must be int",  # a bool is never an int
        "beep: must be bool",
        "lo: needs hi (and hi needs lo)",
    ]


def test_known_keys_listed_on_request() -> None:
    class Listed(_Scale):
        options_list_known = True

    assert Listed.check_options({"x": 1}) == ["x: unknown option for scale (known: address, beep, hi, lo, "
                                              "timeout_s, unit)"]


def test_default_driver_takes_no_options() -> None:
    class Bare(_Scale):
        options_schema: ClassVar[Mapping[str, Option]] = {}
        option_rules = ()

    assert Bare.check_options({"a": 1}) == ["a: unknown option for scale"]


def test_new_transport_comes_from_the_context() -> None:
    t = RecordingTransport()
    factory = given(t)
    drv = _Scale(DeviceSpec("s", "scale", "x", "/dev/ttyS9"), DriverContext(open_transport=factory))
    assert drv.new_transport({"baudrate": 9600}) is t
    assert factory.settings == {"baudrate": 9600}  # type: ignore[attr-defined]


def test_the_scale_is_a_whole_driver_its_options_reach() -> None:
    drv = _Scale(DeviceSpec("s", "scale", "x", "/dev/ttyS9", options={"unit": "kg"}), DriverContext())
    assert drv.poll() == DeviceStatus(DeviceState.ONLINE, detail={"unit": "kg"})
    assert drv.selftest(SelftestLevel.INTERNAL).result is SelftestOutcome.PASS
