"""The agent's value checkers: each takes a TOML value and returns None or what is wrong with it.

The wording is the agent's (``expected an integer, got a string 'x'``, ``must be >= 1, got 0``);
the fleet words its own (``fleet/config.py``). Key paths are added by the caller.
"""

from __future__ import annotations

import re
from typing import Any

from configcheck import Checker, a_type_name, boolean, paths

__all__ = ["Checker", "boolean_value", "hostport", "integer", "number", "path_list", "string"]

#: ``true`` or ``false``
boolean_value: Checker = boolean(a_type_name)
#: a path, or a non-empty array of paths (``[seal] fleet_public_key``)
path_list: Checker = paths(a_type_name)

_HOSTPORT = re.compile(r"^[\w.\-\[\]:]+:\d{1,5}$")


def integer(lo: int | None = None, hi: int | None = None) -> Checker:
    """An integer (not a boolean) in ``[lo, hi]``; a bound that is None is open."""
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int):
            return f"expected an integer, got {a_type_name(v)} {v!r}"
        if lo is not None and v < lo:
            return f"must be >= {lo}, got {v}"
        if hi is not None and v > hi:
            return f"must be <= {hi}, got {v}"
        return None
    return check


def number(lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> Checker:
    """An integer or float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return f"expected a number, got {a_type_name(v)} {v!r}"
        if lo is not None and (v <= lo if lo_open else v < lo):
            return f"must be {'>' if lo_open else '>='} {lo}, got {v}"
        if hi is not None and v > hi:
            return f"must be <= {hi}, got {v}"
        return None
    return check


def string(pattern: re.Pattern[str] | None = None, choices: tuple[str, ...] = ()) -> Checker:
    """A non-empty string, one of ``choices`` when given, matching ``pattern`` when given."""
    def check(v: Any) -> str | None:
        if not isinstance(v, str):
            return f"expected a string, got {a_type_name(v)} {v!r}"
        if choices and v not in choices:
            return f"must be one of {', '.join(repr(c) for c in choices)}, got {v!r}"
        if pattern is not None and not pattern.match(v):
            return f"invalid value {v!r}"
        if not v:
            return "must not be empty"
        return None
    return check


def hostport(v: Any) -> str | None:
    """``HOST:PORT`` (``127.0.0.1:8470``, ``[::1]:8470``)."""
    if not isinstance(v, str) or not _HOSTPORT.match(v):
        return f"expected HOST:PORT, got {v!r}"
    return None
