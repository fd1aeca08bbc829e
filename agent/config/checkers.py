"""The agent's value checkers: each takes a TOML value and returns None or what is wrong with it.

The wording is the agent's (``expected an integer, got a string 'x'``, ``must be >= 1, got 0``);
the fleet words its own (``fleet/config.py``). Key paths are added by the caller.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from configcheck import Checker, a_type_name, boolean, not_finite, paths

__all__ = ["Checker", "boolean_value", "host", "hostport", "integer", "is_loopback", "number", "path_list",
           "split_hostport", "string"]

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
    """A finite integer or float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``).

    TOML has ``nan`` and ``inf``; every comparison with nan is false, so an interval of nan passed
    every bound and made a loop spin (``reconnect_min = nan``) or never run (``start_delay_max``).
    """
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return f"expected a number, got {a_type_name(v)} {v!r}"
        if err := not_finite(v):
            return err
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


_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def host(v: Any) -> str | None:
    """A host to connect to: an IP address, or a DNS name of labels of 1-63 letters, digits, ``-``
    (and ``_``), 253 characters at most (RFC 1123 section 2.1). A longer name made every connect
    attempt end in a traceback from the IDNA codec instead of a named failure."""
    if not isinstance(v, str):
        return f"expected a string, got {a_type_name(v)} {v!r}"
    if not v:
        return "must not be empty"
    try:
        ipaddress.ip_address(v)
        return None
    except ValueError:
        pass
    name = v[:-1] if v.endswith(".") else v
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        return f"not a host name or IP address: {v!r}"
    return None


def split_hostport(v: str) -> tuple[str, int]:
    """``HOST:PORT`` as the API server splits it (the last colon; brackets around IPv6 removed)."""
    host, _, port = v.rpartition(":")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); any other name is not known to be."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def hostport(v: Any) -> str | None:
    """``HOST:PORT`` to listen on (``127.0.0.1:8470``, ``[::1]:8470``): the port 1-65535, the host an
    IP address or ``localhost`` (a listener binds an address; a name resolved at start could fail or
    change). Whether it may be other than loopback is the caller's rule (``api.tcp_allow_remote``)."""
    if not isinstance(v, str) or not _HOSTPORT.match(v):
        return f"expected HOST:PORT, got {v!r}"
    host, port = split_hostport(v)
    if not 1 <= port <= 65535:
        return f"the port must be 1-65535, got {port}"
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return f"the host must be an IP address or localhost, got {host!r}"
    return None
