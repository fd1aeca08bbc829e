"""What ``kiosk-agent config check`` reports beyond parsing: unreadable fleet keys (fatal),
per-device problems, and warnings about settings that work but can lose or stall data."""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

from agent.config.model import AgentConfig
from agent.config.parse import load_config
from agent.config.rules import file_problems, missing_files
from agent.config.sections import device
from configcheck import ConfigError


def seal_problems(cfg: AgentConfig) -> list[str]:
    """Fatal: a configured fleet key that cannot be read as an X25519 PEM public key."""
    # Imported here, not at the top: reading keys needs the cryptography stack (hpke), loading
    # the config must not (tests/test_systemd_unit.py imports agent.config in a venv without it).
    from agent.runtime.crypto import SealKeyError, load_fleet_key

    out = []
    for path in cfg.seal.fleet_public_key:
        try:
            load_fleet_key(path, cfg.seal.kem)
        except SealKeyError as exc:
            out.append(f"seal.fleet_public_key: {exc}")
    return out


def command_key_problems(cfg: AgentConfig) -> list[str]:
    """Fatal: a ``[commands] fleet_public_key`` that cannot be read as an Ed25519 PEM public key."""
    # Imported here, not at the top, for the reason seal_problems gives.
    from agent.runtime.verify import TrustKeyError, load_trusted_key

    out = []
    for path in cfg.commands.fleet_public_key:
        try:
            load_trusted_key(path)
        except TrustKeyError as exc:
            out.append(f"commands.fleet_public_key: {exc}")
    return out


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
    if m.username and not (m.tls_ca or m.tls_cert):
        out.append(f"mqtt.username: password authentication without TLS sends the password in clear to {m.host}; "
                   "set mqtt.tls_ca (and use the broker's TLS port)")
    if m.connack_timeout > m.keepalive:
        out.append(f"mqtt.connack_timeout: {m.connack_timeout:g} s exceeds mqtt.keepalive ({m.keepalive} s); "
                   "a silent broker is given up after the keepalive")
    out += missing_files(m)
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
                problems += device(name, raw)[1]
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
            pass
        return problems
    fatal = seal_problems(cfg) + command_key_problems(cfg) + file_problems(cfg.mqtt)
    if fatal:
        return fatal + [p for probs in cfg.device_problems.values() for p in probs]
    for warning in config_warnings(cfg):
        if warn is not None:
            warn(warning)
        else:
            print(f"{path}: warning: {warning}", file=sys.stderr)
    return [p for probs in cfg.device_problems.values() for p in probs]
