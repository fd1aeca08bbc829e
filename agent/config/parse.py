"""From a TOML file (or a parsed document) to a validated :class:`AgentConfig`.

Every fatal problem is collected before ``ConfigError`` is raised, so one run of
``kiosk-agent config check`` names them all; a bad ``[devices.NAME]`` only disables that device.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.config.model import (
    AgentConfig,
    ApiConfig,
    CommandsConfig,
    LogConfig,
    MqttConfig,
    SealConfig,
    StorageConfig,
    TerminalConfig,
)
from agent.config.rules import address_problems, distinct_path_problems, listener_problems, token_problems
from agent.config.sections import SECTIONS, device, offline_limits, section
from configcheck import ConfigError, read_toml
from drivers.base.device import DeviceSpec

DEFAULT_PATH = "/etc/kiosk-agent/agent.toml"
ENV_VAR = "KIOSK_AGENT_CONFIG"


def resolve_path(cli_path: str | None) -> str:
    """``-c`` beats ``$KIOSK_AGENT_CONFIG`` beats the default path."""
    return cli_path or os.environ.get(ENV_VAR) or DEFAULT_PATH


def parse_config(data: Mapping[str, Any], source: str = "<memory>") -> AgentConfig:
    """Validate a parsed TOML document. Raises ConfigError listing every fatal problem."""
    problems: list[str] = []
    values: dict[str, dict[str, Any]] = {}
    for key, raw in data.items():
        if key in SECTIONS:
            values[key] = section(key, raw, problems)
        elif key not in ("devices", "offline_limits"):
            problems.append(f"{key}: unknown section")
    limits = offline_limits(data.get("offline_limits", {}), problems)
    _cross_checks(data, values, problems)
    devices, device_problems = _devices(data.get("devices", {}), problems)
    if problems:
        raise ConfigError(problems)
    return AgentConfig(
        terminal=TerminalConfig(**values["terminal"]),
        storage=StorageConfig(**values.get("storage", {})),
        mqtt=MqttConfig(**values.get("mqtt", {})),
        api=ApiConfig(**values.get("api", {})),
        log=LogConfig(**values.get("log", {})),
        seal=_seal(values.get("seal", {})),
        commands=_commands(values.get("commands", {})),
        devices=devices,
        offline_limits=limits,
        device_problems=device_problems,
        source=source,
    )


def _cross_checks(data: Mapping[str, Any], values: Mapping[str, dict[str, Any]], problems: list[str]) -> None:
    """The rules that tie keys together (and the one key without a default)."""
    terminal = data.get("terminal")
    if (isinstance(terminal, dict) and "id" not in terminal) or terminal is None:
        problems.append("terminal.id: missing (every key but terminal.id has a default)")
    mqtt = values.get("mqtt", {})
    if mqtt.get("reconnect_min", 0.5) > mqtt.get("reconnect_max", 15.0):
        problems.append("mqtt.reconnect_min: must not exceed mqtt.reconnect_max")
    tls = [k for k in ("tls_cert", "tls_key") if k in mqtt]
    if len(tls) == 1:
        problems.append(f"mqtt.{tls[0]}: tls_cert and tls_key go together")
    if "tcp" in values.get("api", {}) and "token_file" not in values.get("api", {}):
        problems.append("api.tcp: a TCP listener needs api.token_file")
    commands = CommandsConfig(**{**values.get("commands", {}), "fleet_public_key": ()})
    if commands.remember_days * 86_400 < commands.max_age_s + 2 * commands.clock_skew_s:
        problems.append("commands.remember_days: must cover commands.max_age_s + 2 x clock_skew_s (a command "
                        "still fresh must still be remembered)")
    # the valid keys of each section over the defaults: the rules see what the daemon would run with
    storage = StorageConfig(**values.get("storage", {}))
    api = ApiConfig(**values.get("api", {}))
    problems += listener_problems(api)
    problems += distinct_path_problems(storage, MqttConfig(**values.get("mqtt", {})), api)


def _devices(raw: Any, problems: list[str]) -> tuple[tuple[DeviceSpec, ...], dict[str, tuple[str, ...]]]:
    """The valid devices, and the problems of each invalid one (disabled, not fatal)."""
    if not isinstance(raw, dict):
        problems.append("devices: expected a table of device tables")
        return (), {}
    devices: list[DeviceSpec] = []
    device_problems: dict[str, tuple[str, ...]] = {}
    for name, table in raw.items():
        spec, dev_problems = device(name, table)
        if spec is not None:
            devices.append(spec)
        else:
            device_problems[name] = tuple(dev_problems)
    return tuple(devices), device_problems


def _seal(values: Mapping[str, Any]) -> SealConfig:
    keys = values.get("fleet_public_key", [])
    return SealConfig(fleet_public_key=tuple(keys) if isinstance(keys, list) else (keys,),
                      allow_clear=values.get("allow_clear", False), kem=values.get("kem", "x25519"))


def _commands(values: Mapping[str, Any]) -> CommandsConfig:
    keys = values.get("fleet_public_key", [])
    return CommandsConfig(**{**values, "fleet_public_key": tuple(keys) if isinstance(keys, list) else (keys,)})


def load_config(path: str | Path) -> AgentConfig:
    """Read and validate a TOML file. Raises ConfigError (unreadable, not TOML, or invalid).

    Beyond the document, the TCP listener's address and the token file are checked here (the daemon
    would fail to bind an address that is not this machine's, start a listener that lets anyone in
    with an empty token, or fail on a missing one, without saying which key)."""
    p = Path(path)
    cfg = parse_config(read_toml(p), source=str(p))
    problems = address_problems(cfg.api) + token_problems(cfg.api)
    if problems:
        raise ConfigError(problems)
    return cfg
