"""Configuration: TOML (tomllib) into frozen, validated settings.

Every problem is reported with its key path (``mqtt.port: expected an integer, got "x"``);
unknown keys are errors so a typo never passes silently. A bad ``[devices.NAME]`` section
disables that device (reported in health) instead of stopping the daemon; every other problem
is fatal.

The modules, bottom up: ``model`` (the settings dataclasses), ``checkers`` (value checkers),
``sections`` (what each section may hold, with the ranges the code assumes; devices and offline
limits), ``rules`` (across keys and about the named files: loopback listener, distinct paths, the
token file), ``parse`` (document and file to AgentConfig), ``report`` (what ``config check``
adds: key files, MQTT credential files, warnings). The key-path engine they share with the
fleet's config is the top-level ``configcheck`` package.
"""

from agent.config.model import (
    AgentConfig,
    ApiConfig,
    CommandsConfig,
    LogConfig,
    MqttConfig,
    OfflineLimit,
    SealConfig,
    StorageConfig,
    TerminalConfig,
)
from agent.config.parse import DEFAULT_PATH, ENV_VAR, load_config, parse_config, resolve_path
from agent.config.report import all_problems, command_key_problems, config_warnings, seal_problems
from configcheck import ConfigError

__all__ = [
    "DEFAULT_PATH",
    "ENV_VAR",
    "AgentConfig",
    "ApiConfig",
    "CommandsConfig",
    "ConfigError",
    "LogConfig",
    "MqttConfig",
    "OfflineLimit",
    "SealConfig",
    "StorageConfig",
    "TerminalConfig",
    "all_problems",
    "command_key_problems",
    "config_warnings",
    "load_config",
    "parse_config",
    "resolve_path",
    "seal_problems",
]
