"""Configuration: TOML (tomllib) into frozen, validated settings.

Every problem is reported with its key path (``mqtt.port: expected an integer, got "x"``);
unknown keys are errors so a typo never passes silently. A bad ``[devices.NAME]`` section
disables that device (reported in health) instead of stopping the daemon; every other problem
is fatal.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers import DEFAULT_DRIVER, DRIVERS
from drivers.base.device import DeviceSpec

DEFAULT_PATH = "/etc/kiosk-agent/agent.toml"
ENV_VAR = "KIOSK_AGENT_CONFIG"

_TERMINAL_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TOPIC_SAFE = re.compile(r"^[^/#+\x00]{1,64}$")


class ConfigError(Exception):
    """The configuration cannot be used. ``problems`` lists every one by key path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class TerminalConfig:
    id: str
    site: str = "default"


@dataclass(frozen=True, slots=True)
class StorageConfig:
    path: str = "/var/lib/kiosk-agent/journal.db"
    max_pending: int = 1_000_000
    min_free_mb: int = 64
    #: None: $CREDENTIALS_DIRECTORY/journal.key under systemd, else next to the journal
    key_file: str | None = None
    #: the Ed25519 report-signing key (agent/runtime/signing.py); default signing.key beside the journal
    signing_key_file: str | None = None
    retention_days: float = 30.0
    health_samples_max: int = 10_000


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    keepalive: int = 30
    topic_prefix: str = "kiosk/v1"
    protocol: str = "5"
    health_interval: float = 60.0
    reconnect_min: float = 0.5
    reconnect_max: float = 15.0
    settle: str = "puback"
    #: records handed to paho at once (paho's own queue is memory-only and unbounded)
    window: int = 20
    #: upper bound on records published per second while draining (0: unlimited)
    drain_rate: float = 0.0
    #: on reconnect, wait up to this many seconds (jitter seeded by the terminal id) before draining
    start_delay_max: float = 0.0
    #: attempts after which a record the fleet rejected finally goes to the dead letters
    max_attempts: int = 10
    #: seconds to wait for CONNACK after CONNECT before naming the broker silent (paho itself
    #: gives up after ``keepalive`` seconds, so the effective deadline is the smaller one)
    connack_timeout: float = 10.0
    #: settle = "fleet-ack": a transaction PUBACKed but not acked by the fleet within this many
    #: seconds is published again
    fleet_ack_timeout: float = 60.0
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    username: str | None = None
    password_file: str | None = None


@dataclass(frozen=True, slots=True)
class ApiConfig:
    socket: str = "/run/kiosk-agent/api.sock"
    socket_mode: int = 0o660
    tcp: str | None = None
    token_file: str | None = None


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: str = "info"
    #: auto: readable on a TTY, JSON lines otherwise
    format: str = "auto"


@dataclass(frozen=True, slots=True)
class SealConfig:
    """Sealing of a transaction's ``data`` to the fleet (contract/README.md)."""

    #: PEM X25519 public keys of the fleet; the FIRST seals new records, the others are the keys
    #: of a rotation that the fleet still opens (named here so ``config check`` reads them all)
    fleet_public_key: tuple[str, ...] = ()
    #: no fleet key: publish ``data`` in clear instead of refusing it (an explicit operator choice)
    allow_clear: bool = False
    #: x25519, or the hybrid post-quantum mlkem768-x25519 (each key file then holds both keys)
    kem: str = "x25519"


@dataclass(frozen=True, slots=True)
class OfflineLimit:
    """Ceilings for one payment method while the uplink is down (the practice of payment
    terminals: offline floor limits). None means no ceiling of that kind."""

    method: str
    #: largest single transaction, minor units
    max_amount: int | None = None
    #: sum of this method's unsettled offline transactions, minor units
    max_total: int | None = None
    #: age in seconds of the oldest unsettled offline transaction of this method
    max_age_s: float | None = None


@dataclass(frozen=True, slots=True)
class AgentConfig:
    terminal: TerminalConfig
    storage: StorageConfig = field(default_factory=StorageConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    log: LogConfig = field(default_factory=LogConfig)
    seal: SealConfig = field(default_factory=SealConfig)
    devices: tuple[DeviceSpec, ...] = ()
    offline_limits: tuple[OfflineLimit, ...] = ()
    #: device name -> problems; such devices are disabled, not fatal
    device_problems: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = ""

    @property
    def topic_root(self) -> str:
        return f"{self.mqtt.topic_prefix}/{self.terminal.site}/{self.terminal.id}"


def resolve_path(cli_path: str | None) -> str:
    """``-c`` beats ``$KIOSK_AGENT_CONFIG`` beats the default path."""
    return cli_path or os.environ.get(ENV_VAR) or DEFAULT_PATH


# -- field checkers ------------------------------------------------------------------------
Checker = Callable[[Any], str | None]


def _type_name(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            dict: "a table", list: "an array"}.get(type(v), type(v).__name__)


def _int(lo: int | None = None, hi: int | None = None) -> Checker:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int):
            return f"expected an integer, got {_type_name(v)} {v!r}"
        if lo is not None and v < lo:
            return f"must be >= {lo}, got {v}"
        if hi is not None and v > hi:
            return f"must be <= {hi}, got {v}"
        return None
    return check


def _num(lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> Checker:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return f"expected a number, got {_type_name(v)} {v!r}"
        if lo is not None and (v <= lo if lo_open else v < lo):
            return f"must be {'>' if lo_open else '>='} {lo}, got {v}"
        if hi is not None and v > hi:
            return f"must be <= {hi}, got {v}"
        return None
    return check


def _str(pattern: re.Pattern[str] | None = None, choices: tuple[str, ...] = ()) -> Checker:
    def check(v: Any) -> str | None:
        if not isinstance(v, str):
            return f"expected a string, got {_type_name(v)} {v!r}"
        if choices and v not in choices:
            return f"must be one of {', '.join(repr(c) for c in choices)}, got {v!r}"
        if pattern is not None and not pattern.match(v):
            return f"invalid value {v!r}"
        if not v:
            return "must not be empty"
        return None
    return check


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"expected true or false, got {_type_name(v)} {v!r}"


def _paths(v: Any) -> str | None:
    """A path, or a non-empty array of paths (``[seal] fleet_public_key``)."""
    items = v if isinstance(v, list) else [v]
    if not items or not all(isinstance(i, str) and i for i in items):
        return f"expected a path or an array of paths, got {_type_name(v)} {v!r}"
    return None


def _hostport(v: Any) -> str | None:
    if not isinstance(v, str) or not re.match(r"^[\w.\-\[\]:]+:\d{1,5}$", v):
        return f"expected HOST:PORT, got {v!r}"
    return None


_SECTIONS: dict[str, tuple[type, dict[str, Checker]]] = {
    "terminal": (TerminalConfig, {"id": _str(_TERMINAL_ID), "site": _str(_TOPIC_SAFE)}),
    "storage": (StorageConfig, {
        "path": _str(), "max_pending": _int(1), "min_free_mb": _int(0), "key_file": _str(),
        "signing_key_file": _str(), "retention_days": _num(0, lo_open=True), "health_samples_max": _int(10),
    }),
    "mqtt": (MqttConfig, {
        "host": _str(), "port": _int(1, 65535), "keepalive": _int(5, 3600),
        "topic_prefix": _str(re.compile(r"^[^#+\x00]+$")), "protocol": _str(choices=("5", "3.1.1")),
        "health_interval": _num(1), "reconnect_min": _num(0.05), "reconnect_max": _num(0.1),
        "settle": _str(choices=("puback", "fleet-ack")), "window": _int(1, 1000),
        "drain_rate": _num(0), "start_delay_max": _num(0), "max_attempts": _int(1),
        "connack_timeout": _num(1, 600), "fleet_ack_timeout": _num(1),
        "tls_ca": _str(), "tls_cert": _str(), "tls_key": _str(), "username": _str(),
        "password_file": _str(),
    }),
    "api": (ApiConfig, {"socket": _str(), "socket_mode": _int(0, 0o777), "tcp": _hostport,
                        "token_file": _str()}),
    "log": (LogConfig, {"level": _str(choices=("debug", "info", "warning", "error")),
                        "format": _str(choices=("auto", "json", "console"))}),
    "seal": (SealConfig, {"fleet_public_key": _paths, "allow_clear": _bool,
                          "kem": _str(choices=("x25519", "mlkem768-x25519"))}),
}

_DEVICE_KEYS: dict[str, Checker] = {
    "class": _str(choices=tuple(sorted({c for c, _ in DRIVERS}))),
    "driver": _str(), "port": _str(), "baudrate": _int(50, 4_000_000),
    "poll_interval": _num(0.05), "timeout": _num(0.01), "required": _bool, "enabled": _bool,
}


def _section(name: str, raw: Any, problems: list[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        problems.append(f"{name}: expected a table, got {_type_name(raw)}")
        return {}
    _cls, checkers = _SECTIONS[name]
    out: dict[str, Any] = {}
    for key, value in raw.items():
        check = checkers.get(key)
        if check is None:
            problems.append(f"{name}.{key}: unknown key")
            continue
        err = check(value)
        if err:
            problems.append(f"{name}.{key}: {err}")
        else:
            out[key] = float(value) if isinstance(getattr(_cls, key, None), float) else value
    return out


def _device(name: str, raw: Any) -> tuple[DeviceSpec | None, list[str]]:
    path = f"devices.{name}"
    problems: list[str] = []
    if not re.match(r"^[a-z][a-z0-9_]{0,31}$", name):
        problems.append(f"{path}: device names are lower-case letters, digits and _")
    if not isinstance(raw, dict):
        return None, [*problems, f"{path}: expected a table, got {_type_name(raw)}"]
    for key, value in raw.items():
        if key == "options":
            if not isinstance(value, dict):
                problems.append(f"{path}.options: expected a table")
            continue
        check = _DEVICE_KEYS.get(key)
        if check is None:
            problems.append(f"{path}.{key}: unknown key")
        elif err := check(value):
            problems.append(f"{path}.{key}: {err}")
    for required in ("class", "port"):
        if required not in raw:
            problems.append(f"{path}.{required}: missing")
    if problems:
        return None, problems
    device_class = raw["class"]
    driver = raw.get("driver", DEFAULT_DRIVER[device_class])
    if (device_class, driver) not in DRIVERS:
        known = sorted(d for c, d in DRIVERS if c == device_class)
        return None, [f"{path}.driver: no driver {driver!r} for {device_class} (known: {', '.join(known)})"]
    options = raw.get("options", {})
    try:
        module_name, _, attr = DRIVERS[(device_class, driver)].partition(":")
        driver_cls = getattr(importlib.import_module(module_name), attr)
    except Exception as exc:  # a broken driver module disables only its devices
        return None, [f"{path}.driver: driver {driver!r} cannot be loaded: {exc}"]
    problems += [f"{path}.options.{p}" for p in driver_cls.check_options(options)]
    if problems:
        return None, problems
    spec = DeviceSpec(
        name=name, device_class=device_class, driver=driver, port=raw["port"],
        baudrate=raw.get("baudrate"), poll_interval_s=float(raw.get("poll_interval", 5.0)),
        timeout_s=float(raw.get("timeout", 1.0)), required=raw.get("required", True),
        enabled=raw.get("enabled", True), options=dict(options),
    )
    return spec, []


_LIMIT_KEYS: dict[str, Checker] = {"max_amount": _int(0), "max_total": _int(0), "max_age_s": _num(0)}


def _offline_limits(raw: Any, problems: list[str]) -> tuple[OfflineLimit, ...]:
    if not isinstance(raw, dict):
        problems.append("offline_limits: expected a table of per-method tables")
        return ()
    out = []
    for method, table in raw.items():
        path = f"offline_limits.{method}"
        if not re.match(r"^[a-z][a-z0-9_]{0,31}$", method):
            problems.append(f"{path}: a method is a lower-case word (cash, unionpay, qr, ...)")
            continue
        if not isinstance(table, dict):
            problems.append(f"{path}: expected a table")
            continue
        ok = True
        for key, value in table.items():
            check = _LIMIT_KEYS.get(key)
            err = f"{path}.{key}: unknown key" if check is None else (
                f"{path}.{key}: {msg}" if (msg := check(value)) else None)
            if err:
                problems.append(err)
                ok = False
        if ok:
            out.append(OfflineLimit(method=method, **table))
    return tuple(out)


def parse_config(data: Mapping[str, Any], source: str = "<memory>") -> AgentConfig:
    """Validate a parsed TOML document. Raises ConfigError listing every fatal problem."""
    problems: list[str] = []
    values: dict[str, dict[str, Any]] = {}
    for key, raw in data.items():
        if key in _SECTIONS:
            values[key] = _section(key, raw, problems)
        elif key not in ("devices", "offline_limits"):
            problems.append(f"{key}: unknown section")
    limits = _offline_limits(data.get("offline_limits", {}), problems)
    terminal = data.get("terminal")
    if (isinstance(terminal, dict) and "id" not in terminal) or terminal is None:
        problems.append("terminal.id: missing (every key but terminal.id has a default)")
    mqtt = values.get("mqtt", {})
    if mqtt.get("reconnect_min", 0.5) > mqtt.get("reconnect_max", 15.0):
        problems.append("mqtt.reconnect_min: must not exceed mqtt.reconnect_max")
    tls = [k for k in ("tls_cert", "tls_key") if k in mqtt]
    if len(tls) == 1:
        problems.append(f"mqtt.{tls[0]}: tls_cert and tls_key go together")
    api = values.get("api", {})
    if "tcp" in api and "token_file" not in api:
        problems.append("api.tcp: a TCP listener needs api.token_file")

    devices: list[DeviceSpec] = []
    device_problems: dict[str, tuple[str, ...]] = {}
    raw_devices = data.get("devices", {})
    if not isinstance(raw_devices, dict):
        problems.append("devices: expected a table of device tables")
        raw_devices = {}
    for name, raw in raw_devices.items():
        spec, dev_problems = _device(name, raw)
        if spec is not None:
            devices.append(spec)
        else:
            device_problems[name] = tuple(dev_problems)
    if problems:
        raise ConfigError(problems)
    return AgentConfig(
        terminal=TerminalConfig(**values["terminal"]),
        storage=StorageConfig(**values.get("storage", {})),
        mqtt=MqttConfig(**mqtt),
        api=ApiConfig(**api),
        log=LogConfig(**values.get("log", {})),
        seal=_seal(values.get("seal", {})),
        devices=tuple(devices),
        offline_limits=limits,
        device_problems=device_problems,
        source=source,
    )


def _seal(values: Mapping[str, Any]) -> SealConfig:
    keys = values.get("fleet_public_key", [])
    return SealConfig(fleet_public_key=tuple(keys) if isinstance(keys, list) else (keys,),
                      allow_clear=values.get("allow_clear", False), kem=values.get("kem", "x25519"))


def seal_problems(cfg: AgentConfig) -> list[str]:
    """Fatal: a configured fleet key that cannot be read as an X25519 PEM public key."""
    from agent.runtime.crypto import SealKeyError, load_fleet_key
    out = []
    for path in cfg.seal.fleet_public_key:
        try:
            load_fleet_key(path, cfg.seal.kem)
        except SealKeyError as exc:
            out.append(f"seal.fleet_public_key: {exc}")
    return out


def load_config(path: str | Path) -> AgentConfig:
    """Read and validate a TOML file. Raises ConfigError (unreadable, not TOML, or invalid)."""
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{p}: not UTF-8: {exc}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{p}: not valid TOML: {exc}"]) from exc
    return parse_config(data, source=str(p))


def config_warnings(cfg: AgentConfig) -> list[str]:
    """Settings that work but can lose or stall data on some brokers: ``config check`` prints
    them (and still succeeds), the daemon logs them at start."""
    out = []
    m = cfg.mqtt
    if m.protocol == "3.1.1" and m.settle == "puback":
        out.append('mqtt.settle: under protocol = "3.1.1" a publish the broker\'s ACL denies is still '
                   'PUBACKed and then dropped, so settle = "puback" would delete a transaction the fleet never '
                   'received; use settle = "fleet-ack" (docs/mqtt.md) or protocol = "5"')
    if m.protocol == "3.1.1" and re.search(r"[. ]", cfg.topic_root):
        out.append(f"terminal: the topic root {cfg.topic_root!r} contains '.' or ' ': NATS's MQTT listener "
                   "(3.1.1 only) closes the connection on such topics")
    if not cfg.seal.fleet_public_key and not cfg.seal.allow_clear:
        out.append("seal: no fleet_public_key is configured, so a transaction carrying data is refused "
                   "(422); configure the fleet's X25519 public key, or set allow_clear = true to publish "
                   "data in clear")
    elif cfg.seal.fleet_public_key and cfg.seal.allow_clear:
        out.append("seal.allow_clear: ignored, data is sealed to the fleet key")
    if m.connack_timeout > m.keepalive:
        out.append(f"mqtt.connack_timeout: {m.connack_timeout:g} s exceeds mqtt.keepalive ({m.keepalive} s); "
                   "a silent broker is given up after the keepalive")
    return out


def all_problems(path: str | Path, warn: Callable[[str], None] | None = None) -> list[str]:
    """Every problem, fatal or per-device, for ``config check``.

    Warnings (``config_warnings``) are not problems: they go to ``warn``, by default one line
    each on stderr, so the check still succeeds and its stdout (text or JSON) is unchanged.
    """
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        # still report device problems alongside the fatal ones
        problems = list(exc.problems)
        try:
            data = tomllib.loads(Path(path).read_text("utf-8"))
            for name, raw in (data.get("devices") or {}).items():
                problems += _device(name, raw)[1]
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
            pass
        return problems
    fatal = seal_problems(cfg)
    if fatal:
        return fatal + [p for probs in cfg.device_problems.values() for p in probs]
    for warning in config_warnings(cfg):
        if warn is not None:
            warn(warning)
        else:
            print(f"{path}: warning: {warning}", file=sys.stderr)
    return [p for probs in cfg.device_problems.values() for p in probs]
