"""``config check`` warns (and still succeeds) about settings that work but can lose or stall data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent.config import config_warnings, parse_config
from tests.support.agent_proc import REPO


def _warnings(terminal: str = "T-1", **mqtt: object) -> list[str]:
    """The MQTT warnings alone: clear data is allowed, so the [seal] warning (no fleet key) stays out."""
    return config_warnings(parse_config({"terminal": {"id": terminal}, "mqtt": mqtt, "seal": {"allow_clear": True}}))


def test_3_1_1_with_puback_settling_warns_and_fleet_ack_does_not():
    (w,) = _warnings(protocol="3.1.1")
    assert w.startswith("mqtt.settle:") and 'settle = "fleet-ack"' in w and "PUBACKed and then dropped" in w
    assert _warnings(protocol="3.1.1", settle="fleet-ack") == []
    assert _warnings(protocol="5") == [] and _warnings() == []


def test_a_dot_in_the_topic_root_warns_under_3_1_1_only():
    (w,) = _warnings("kiosk.01", protocol="3.1.1", settle="fleet-ack")
    assert "'.' or ' '" in w and "NATS" in w
    assert _warnings("kiosk.01", protocol="5") == []


def test_a_connack_timeout_beyond_keepalive_warns():
    (w,) = _warnings(keepalive=5, connack_timeout=10)
    assert w.startswith("mqtt.connack_timeout:") and "keepalive (5 s)" in w


def _check(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", "-c", str(path), "config", "check", *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def test_config_check_prints_the_warning_and_succeeds(tmp_path):
    cfg = tmp_path / "agent.toml"
    cfg.write_text('[terminal]\nid = "T-1"\n[seal]\nallow_clear = true\n[mqtt]\nprotocol = "3.1.1"\n', encoding="utf-8")
    r = _check(cfg)
    assert r.returncode == 0 and r.stdout.startswith(f"{cfg}: ok, 1 warning(s)\n"), r
    assert "  warning: mqtt.settle:" in r.stdout and "fleet-ack" in r.stdout
    r = _check(cfg, "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["ok"] is True and doc["problems"] == []
    (w,) = doc["warnings"]
    assert w.startswith("mqtt.settle:") and "fleet-ack" in w
    cfg.write_text('[terminal]\nid = "T-1"\n[seal]\nallow_clear = true\n'
                   '[mqtt]\nprotocol = "3.1.1"\nsettle = "fleet-ack"\n', encoding="utf-8")
    r = _check(cfg)
    assert r.returncode == 0 and r.stdout == f"{cfg}: ok\n" and r.stderr == ""
    assert json.loads(_check(cfg, "--json").stdout)["warnings"] == []
