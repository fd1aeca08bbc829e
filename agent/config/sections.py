"""What each section of ``agent.toml`` may hold, and the validation of one section at a time.

``SECTIONS`` maps a fixed section to its settings class and a checker per key. The two open
sections have their own validators: ``[devices.NAME]`` (problems there disable that device
only) and ``[offline_limits.METHOD]``.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from agent.config.checkers import Checker, boolean_value, host, hostport, integer, number, path_list, string
from agent.config.model import (
    ApiConfig,
    CommandsConfig,
    LogConfig,
    MqttConfig,
    OfflineLimit,
    SealConfig,
    StorageConfig,
    TerminalConfig,
)
from configcheck import a_type_name, check_table
from drivers import DEFAULT_DRIVER, DRIVERS
from drivers.base.device import DeviceDriver, DeviceSpec

_TERMINAL_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TOPIC_SAFE = re.compile(r"^[^/#+\x00]{1,64}$")
#: a device name or a payment method: a lower-case word
_WORD = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

#: upper bounds where the code assumes sane values: an interval longer than a day is a typo, and
#: ``timedelta(days=retention_days)`` subtracted from now must stay after the year 1
DAY_S = 86_400.0
HOUR_S = 3_600.0
MAX_RETENTION_DAYS = 3_650

SECTIONS: dict[str, tuple[type, dict[str, Checker]]] = {
    "terminal": (TerminalConfig, {"id": string(_TERMINAL_ID), "site": string(_TOPIC_SAFE)}),
    "storage": (StorageConfig, {
        "path": string(), "max_pending": integer(1, 1_000_000_000), "min_free_mb": integer(0, 1 << 20),
        "key_file": string(), "signing_key_file": string(),
        "retention_days": number(0, MAX_RETENTION_DAYS, lo_open=True),
        "health_samples_max": integer(10, 10_000_000),
    }),
    "mqtt": (MqttConfig, {
        "host": host, "port": integer(1, 65535), "keepalive": integer(5, 3600),
        "topic_prefix": string(re.compile(r"^[^#+\x00]+$")), "protocol": string(choices=("5", "3.1.1")),
        "health_interval": number(1, DAY_S), "reconnect_min": number(0.05, HOUR_S),
        "reconnect_max": number(0.1, HOUR_S),
        "settle": string(choices=("puback", "fleet-ack")), "window": integer(1, 1000),
        "drain_rate": number(0, 1_000_000), "start_delay_max": number(0, HOUR_S), "max_attempts": integer(1, 1_000_000),
        "connack_timeout": number(1, 600), "fleet_ack_timeout": number(1, DAY_S),
        "tls_ca": string(), "tls_cert": string(), "tls_key": string(), "username": string(),
        "password_file": string(),
    }),
    "api": (ApiConfig, {"socket": string(), "socket_mode": integer(0, 0o777), "tcp": hostport,
                        "tcp_allow_remote": boolean_value, "token_file": string()}),
    "log": (LogConfig, {"level": string(choices=("debug", "info", "warning", "error")),
                        "format": string(choices=("auto", "json", "console"))}),
    "seal": (SealConfig, {"fleet_public_key": path_list, "allow_clear": boolean_value,
                          "kem": string(choices=("x25519", "mlkem768-x25519"))}),
    "commands": (CommandsConfig, {"max_age_s": number(1, DAY_S), "clock_skew_s": number(0, DAY_S),
                                  "require_ts": boolean_value, "fleet_public_key": path_list,
                                  "remember_ids": integer(100, 10_000_000),
                                  "remember_days": number(1, MAX_RETENTION_DAYS)}),
}


def _table(v: Any) -> str | None:
    return None if isinstance(v, dict) else "expected a table"


DEVICE_KEYS: dict[str, Checker] = {
    "class": string(choices=tuple(sorted({c for c, _ in DRIVERS}))),
    "driver": string(), "port": string(), "baudrate": integer(50, 4_000_000),
    "poll_interval": number(0.05, DAY_S), "timeout": number(0.01, HOUR_S), "required": boolean_value,
    "enabled": boolean_value,
    # checked by the driver's check_options once the driver is known
    "options": _table,
}

LIMIT_KEYS: dict[str, Checker] = {"max_amount": integer(0), "max_total": integer(0),
                                  "max_age_s": number(0, MAX_RETENTION_DAYS * DAY_S)}


def section(name: str, raw: Any, problems: list[str]) -> dict[str, Any]:
    """The valid keys of the fixed section ``name`` (values as TOML typed them); problems appended."""
    return check_table(name, raw, SECTIONS[name][1], problems, describe=a_type_name) or {}


def device(name: str, raw: Any) -> tuple[DeviceSpec | None, list[str]]:
    """``[devices.NAME]`` as a DeviceSpec, or None and every problem found (the device is then
    disabled, the daemon still runs)."""
    path = f"devices.{name}"
    problems = [] if _WORD.match(name) else [f"{path}: device names are lower-case letters, digits and _"]
    if check_table(path, raw, DEVICE_KEYS, problems, describe=a_type_name) is None:
        return None, problems
    problems += [f"{path}.{key}: missing" for key in ("class", "port") if key not in raw]
    if problems:
        return None, problems
    driver_cls, problem = _driver_class(path, raw)
    if driver_cls is None:
        return None, [problem]
    options = raw.get("options", {})
    problems = [f"{path}.options.{p}" for p in driver_cls.check_options(options)]
    if problems:
        return None, problems
    return DeviceSpec(
        name=name, device_class=raw["class"], driver=raw.get("driver", DEFAULT_DRIVER[raw["class"]]),
        port=raw["port"], baudrate=raw.get("baudrate"), poll_interval_s=float(raw.get("poll_interval", 5.0)),
        timeout_s=float(raw.get("timeout", 1.0)), required=raw.get("required", True),
        enabled=raw.get("enabled", True), options=dict(options),
    ), []


def _driver_class(path: str, raw: dict[str, Any]) -> tuple[type[DeviceDriver] | None, str]:
    """The driver class a valid device table names, or None and why it cannot be had."""
    device_class = raw["class"]
    driver = raw.get("driver", DEFAULT_DRIVER[device_class])
    if (device_class, driver) not in DRIVERS:
        known = sorted(d for c, d in DRIVERS if c == device_class)
        return None, f"{path}.driver: no driver {driver!r} for {device_class} (known: {', '.join(known)})"
    try:
        module_name, _, attr = DRIVERS[(device_class, driver)].partition(":")
        return getattr(importlib.import_module(module_name), attr), ""
    except Exception as exc:  # a broken driver module disables only its devices
        return None, f"{path}.driver: driver {driver!r} cannot be loaded: {exc}"


def offline_limits(raw: Any, problems: list[str]) -> tuple[OfflineLimit, ...]:
    """``[offline_limits.METHOD]`` tables; a method with any problem is left out (the problems
    are fatal: the caller refuses the whole config)."""
    if not isinstance(raw, dict):
        problems.append("offline_limits: expected a table of per-method tables")
        return ()
    out = []
    for method, table in raw.items():
        path = f"offline_limits.{method}"
        if not _WORD.match(method):
            problems.append(f"{path}: a method is a lower-case word (cash, unionpay, qr, ...)")
            continue
        if not isinstance(table, dict):
            problems.append(f"{path}: expected a table")
            continue
        before = len(problems)
        check_table(path, table, LIMIT_KEYS, problems, describe=a_type_name)
        if len(problems) == before:
            out.append(OfflineLimit(method=method, **table))
    return tuple(out)
