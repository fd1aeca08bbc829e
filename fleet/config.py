"""The fleet's TOML config: every key has a default; every problem is listed by key path."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from configcheck import Checker, ConfigError, boolean, check_table, not_finite, paths, read_toml, type_name

DEFAULT_PATH = "/etc/kiosk-fleet/fleet.toml"
ENV_VAR = "KIOSK_FLEET_CONFIG"
DEFAULT_STORE = "sqlite:///var/lib/kiosk-fleet/fleet.db"


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    keepalive: int = 30
    topic_prefix: str = "kiosk/v1"
    protocol: str = "5"
    group: str = "kiosk-fleet"
    client_id: str = ""  # default: kiosk-fleet-<hostname>-<pid>; set it for a persistent session
    session_expiry: int = 3600  # seconds the broker keeps our session (and queued messages) when we are gone
    receive_maximum: int = 1000  # unacknowledged QoS 1 messages the broker may have in flight to us
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    username: str | None = None
    password_file: str | None = None


@dataclass(frozen=True)
class StoreConfig:
    url: str = DEFAULT_STORE


@dataclass(frozen=True)
class IngestConfig:
    ack: bool = False  # publish down/txn-ack after our own commit (terminals with settle = "fleet-ack")
    batch_max: int = 500
    batch_ms: float = 50.0
    health_interval: float = 60.0  # assumed until a terminal's health says otherwise
    offline_factor: float = 3.0
    check_interval: float = 5.0


@dataclass(frozen=True)
class SealConfig:
    #: the fleet's X25519 private key(s), PEM, 0600: a path or an array of paths (rotation: keep
    #: the old keys as long as records sealed to them may arrive or be opened)
    private_key_file: str | list[str] | None = None
    terminal_keys_dir: str | None = None  # the provisioned terminal keys (*.key, 32 raw bytes, 0600)


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"
    format: str = "auto"


@dataclass(frozen=True)
class FleetConfig:
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    seal: SealConfig = field(default_factory=SealConfig)
    log: LogConfig = field(default_factory=LogConfig)
    source: str | None = None


__all__ = ["ConfigError", "FleetConfig", "config_path", "load", "parse"]

def _str(pattern: re.Pattern[str] | None = None, choices: tuple[str, ...] = ()) -> Checker:
    def check(v: Any) -> str | None:
        if not isinstance(v, str):
            return f"expected a string, got {type_name(v)} {v!r}"
        if choices and v not in choices:
            return f"expected one of {', '.join(choices)}, got {v!r}"
        if pattern is not None and not pattern.match(v):
            return f"invalid value {v!r}"
        return None
    return check


def _num(lo: float, hi: float | None = None, integer: bool = False) -> Checker:
    def check(v: Any) -> str | None:
        kinds = (int,) if integer else (int, float)
        if isinstance(v, bool) or not isinstance(v, kinds):
            return f"expected {'an integer' if integer else 'a number'}, got {type_name(v)} {v!r}"
        if err := not_finite(v):
            return err
        if v < lo or (hi is not None and v > hi):
            return f"must be between {lo} and {hi}, got {v}" if hi is not None else f"must be >= {lo}, got {v}"
        return None
    return check


_bool = boolean(type_name)
_paths = paths(type_name)


def _url(v: Any) -> str | None:
    if not isinstance(v, str):
        return f"expected a string, got {type_name(v)} {v!r}"
    if not (v.startswith("sqlite:///") or v.startswith(("postgresql://", "postgres://"))):
        return f"expected sqlite:///PATH or postgresql://..., got {v!r}"
    return None


_TOPIC = re.compile(r"^[^#+\x00]+$")
_SECTIONS: dict[str, tuple[type, dict[str, Checker]]] = {
    "mqtt": (MqttConfig, {
        "host": _str(), "port": _num(1, 65535, True), "keepalive": _num(5, 3600, True),
        "topic_prefix": _str(_TOPIC), "protocol": _str(choices=("5",)),
        "group": _str(re.compile(r"^[A-Za-z0-9_.-]{1,64}$")), "client_id": _str(re.compile(r"^[\w.-]{0,64}$")),
        "session_expiry": _num(0, 2**32 - 1, True), "receive_maximum": _num(1, 65535, True),
        "tls_ca": _str(), "tls_cert": _str(), "tls_key": _str(), "username": _str(), "password_file": _str(),
    }),
    "store": (StoreConfig, {"url": _url}),
    "ingest": (IngestConfig, {"ack": _bool, "batch_max": _num(1, 100_000, True), "batch_ms": _num(1, 60_000),
                              "health_interval": _num(1), "offline_factor": _num(1),
                              "check_interval": _num(0.1)}),
    "seal": (SealConfig, {"private_key_file": _paths, "terminal_keys_dir": _str()}),
    "log": (LogConfig, {"level": _str(choices=("debug", "info", "warning", "error")),
                        "format": _str(choices=("auto", "json", "console"))}),
}


def parse(raw: dict[str, Any], source: str | None = None) -> FleetConfig:
    """Build a config from a parsed TOML table; raises ConfigError with every problem."""
    problems: list[str] = []
    built: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in _SECTIONS:
            problems.append(f"{name}: unknown section")
            continue
        cls, checkers = _SECTIONS[name]
        floats = frozenset(f.name for f in fields(cls) if f.type in ("float", float))
        kwargs = check_table(name, value, checkers, problems, describe=type_name, floats=floats)
        if kwargs is not None:
            built[name] = cls(**kwargs)
    mqtt = built.get("mqtt")
    if mqtt is not None and bool(mqtt.tls_cert) != bool(mqtt.tls_key):
        problems.append("mqtt.tls_cert: tls_cert and tls_key go together")
    if problems:
        raise ConfigError(problems)
    return FleetConfig(**built, source=source)


def config_path(explicit: str | None) -> str | None:
    """-c wins, then $KIOSK_FLEET_CONFIG, then the default path when it exists; None: all defaults."""
    if explicit:
        return explicit
    env = os.environ.get(ENV_VAR)
    if env:
        return env
    return DEFAULT_PATH if Path(DEFAULT_PATH).exists() else None


def load(explicit: str | None = None) -> FleetConfig:
    path = config_path(explicit)
    if path is None:
        return FleetConfig()
    return parse(read_toml(path), source=path)
