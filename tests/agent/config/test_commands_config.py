"""The ``[commands]`` section: defaults, ranges, a fleet key that must be an Ed25519 public key
(``config check`` names it), and an id memory at least as long as the freshness window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent.config import CommandsConfig, ConfigError, command_key_problems, parse_config


def _cfg(commands: dict[str, Any]) -> Any:
    return parse_config({"terminal": {"id": "T-1"}, "commands": commands})


def test_defaults() -> None:
    cfg = parse_config({"terminal": {"id": "T-1"}})
    assert cfg.commands == CommandsConfig() and not cfg.commands.signed
    assert (cfg.commands.max_age_s, cfg.commands.clock_skew_s, cfg.commands.remember_ids) == (300.0, 300.0, 10_000)


@pytest.mark.parametrize(("commands", "problem"), [
    ({"max_age_s": float("nan")}, "commands.max_age_s"),
    ({"max_age_s": 0}, "commands.max_age_s"),
    ({"clock_skew_s": -1}, "commands.clock_skew_s"),
    ({"require_ts": "yes"}, "commands.require_ts"),
    ({"remember_ids": 5}, "commands.remember_ids"),
    ({"remember_days": 1, "max_age_s": 86_400, "clock_skew_s": 3_600}, "commands.remember_days"),
    ({"fleet_public_key": []}, "commands.fleet_public_key"),
    ({"sign": True}, "commands.sign"),
])
def test_bad_values_are_named_by_key_path(commands: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _cfg(commands)
    assert any(p.startswith(problem) for p in exc.value.problems), exc.value.problems


def test_the_fleet_key_must_be_an_ed25519_public_key(tmp_path: Path) -> None:
    good, wrong = tmp_path / "fleet.pub", tmp_path / "x25519.pub"
    good.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    wrong.write_bytes(X25519PrivateKey.generate().public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    cfg = _cfg({"fleet_public_key": [str(good), str(wrong), str(tmp_path / "missing.pub")]})
    assert cfg.commands.signed and cfg.commands.fleet_public_key[0] == str(good)
    problems = command_key_problems(cfg)
    assert len(problems) == 2 and "not an Ed25519 public key" in problems[0] and "cannot be read" in problems[1]
    assert command_key_problems(_cfg({"fleet_public_key": str(good)})) == []
