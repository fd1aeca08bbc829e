"""One mechanism for checking a ``[devices.NAME.options]`` table.

A driver declares its options instead of writing a ``check_options`` loop::

    class ScaleDriver(DeviceDriver):
        device_class = "scale"
        options_schema = {
            "unit": Option(str, one_of("g", "kg"), "one of g, kg"),
            "interactive_timeout_s": Option(float, positive, "must be > 0"),
        }
        option_rules = (lambda options, cls: [...],)   # checks that span keys (optional)

``DeviceDriver.check_options`` (which ``kiosk-agent config check`` calls) returns, in order: one
message per unknown key, one per key of the wrong type, one per value its check refuses, then
what the rules report. Every message starts with the key (``"unit: one of g, kg"``).

Types: ``bool`` matches only ``True``/``False`` (never an ``int``), ``int`` never matches a
bool, ``float`` also takes an ``int``. A value of the wrong type is not passed to ``check``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Option", "Rule", "check_options", "in_range", "one_of", "positive"]

#: (options, the driver class) -> problems; for checks that span more than one key
Rule = Callable[[Mapping[str, Any], type], list[str]]


@dataclass(frozen=True, slots=True)
class Option:
    """One key: its type, an optional check of the value, and the messages for each failure."""

    type: type | tuple[type, ...] = object
    check: Callable[[Any], bool] | None = None
    #: the message (after ``"key: "``) when ``check`` refuses the value
    problem: str = "invalid value"
    #: the message when the type is wrong; ``{type}`` and ``{got}`` are filled in
    type_problem: str = "must be {type}"

    def problems(self, key: str, value: Any) -> list[str]:
        if not _type_ok(value, self.type):
            names = "/".join(t.__name__ for t in (self.type if isinstance(self.type, tuple) else (self.type,)))
            return [f"{key}: {self.type_problem.format(type=names, got=type(value).__name__)}"]
        if self.check is not None and not self.check(value):
            return [f"{key}: {self.problem}"]
        return []


def _type_ok(value: Any, want: type | tuple[type, ...]) -> bool:
    wants = want if isinstance(want, tuple) else (want,)
    if object in wants:
        return True
    if isinstance(value, bool):
        return bool in wants
    if float in wants and isinstance(value, int):
        return True
    return isinstance(value, wants)


def check_options(options: Mapping[str, Any], schema: Mapping[str, Option], *, owner: type,
                  device_class: str, rules: Iterable[Rule] = (), list_known: bool = False) -> list[str]:
    """The problems with ``options`` under ``schema`` (see the module docstring)."""
    known = f" (known: {', '.join(sorted(schema))})" if list_known and schema else ""
    out = [f"{key}: unknown option for {device_class}{known}" for key in options if key not in schema]
    for key, option in schema.items():
        if key in options:
            out += option.problems(key, options[key])
    for rule in rules:
        out += rule(options, owner)
    return out


# -- common checks ----------------------------------------------------------------------------
def positive(value: Any) -> bool:
    return bool(value > 0)


def in_range(lo: float, hi: float) -> Callable[[Any], bool]:
    return lambda value: bool(lo <= value <= hi)


def one_of(*allowed: Any) -> Callable[[Any], bool]:
    return lambda value: value in allowed
