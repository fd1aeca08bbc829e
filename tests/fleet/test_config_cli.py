"""The config (every problem by key path) and the CLI grammar (-c before or after the command)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fleet.config import ConfigError, load, parse


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleet", *args], capture_output=True, text=True, timeout=60,
                          env=env, check=False)


def test_every_problem_is_listed_by_key_path() -> None:
    with pytest.raises(ConfigError) as err:
        parse({"mqtt": {"port": 70000, "protocol": "3.1.1", "bogus": 1, "tls_cert": "c.pem"},
               "store": {"url": "mysql://x"}, "ingest": {"ack": "yes", "batch_max": 0}, "extra": {}})
    problems = err.value.problems
    for path in ("mqtt.port", "mqtt.protocol", "mqtt.bogus: unknown key", "store.url", "ingest.ack",
                 "ingest.batch_max", "extra: unknown section", "mqtt.tls_cert: tls_cert and tls_key go together"):
        assert any(p.startswith(path) for p in problems), (path, problems)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_numbers_are_finite(value: float) -> None:
    """nan passes every range check (each comparison is false): it is named, like the agent's config."""
    with pytest.raises(ConfigError) as err:
        parse({"ingest": {"health_interval": value}})
    assert err.value.problems == [f"ingest.health_interval: must be a finite number, got {value}"]


def test_defaults_and_values(tmp_path: Path) -> None:
    cfg = parse({})
    assert cfg.store.url == "sqlite:///var/lib/kiosk-fleet/fleet.db" and cfg.mqtt.topic_prefix == "kiosk/v1"
    p = tmp_path / "f.toml"
    p.write_text('[mqtt]\ngroup = "g1"\nport = 1999\n[ingest]\nack = true\nbatch_ms = 20\n')
    cfg = load(str(p))
    assert (cfg.mqtt.group, cfg.mqtt.port, cfg.ingest.ack, cfg.ingest.batch_ms) == ("g1", 1999, True, 20.0)


def test_config_before_or_after_the_command_and_from_the_environment(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/f.db"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('[mqtt]\nport = "x"\n')
    assert run("-c", str(good), "config", "check").returncode == 0
    assert run("config", "check", "-c", str(good)).returncode == 0
    r = run("config", "check", "-c", str(bad))
    assert r.returncode == 2 and "mqtt.port" in r.stderr
    env = {"KIOSK_FLEET_CONFIG": str(good), "PATH": "/usr/bin:/bin"}
    r = run("terminals", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
    r = run("--json", "sites", "--set", "BJ-1", "Haidian branch", "urban", env=env)
    assert r.returncode == 0 and json.loads(r.stdout) == [{"code": "BJ-1", "name": "Haidian branch", "class": "urban"}]
    r = run("sites", "--set", "BJ-2", "x", "rural", env=env)
    assert r.returncode == 2 and "urban, suburban" in r.stderr
    r = run("report", "--month", "2026-13", env=env)
    assert r.returncode == 2 and "YYYY-MM" in r.stderr


def test_unreadable_non_utf8_and_non_toml_files_are_config_problems(tmp_path: Path) -> None:
    (tmp_path / "bin.toml").write_bytes(b'[store]\nurl = "\xff"\n')
    (tmp_path / "bad.toml").write_text("[mqtt\n")
    for name, text in (("missing.toml", "cannot read"), ("bin.toml", "not UTF-8"), ("bad.toml", "not valid TOML")):
        with pytest.raises(ConfigError) as err:
            load(str(tmp_path / name))
        assert err.value.problems[0].startswith(f"{tmp_path / name}: {text}"), err.value.problems
    r = run("config", "check", "-c", str(tmp_path / "bin.toml"))
    assert r.returncode == 2 and "not UTF-8" in r.stderr and "Traceback" not in r.stderr
