"""Configuration: every problem by key path, unknown keys are errors, bad devices only disable themselves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import ConfigError, load_config, parse_config, resolve_path
from tests.support.agent_proc import REPO


def test_minimal_config_has_defaults_for_everything_but_terminal_id() -> None:
    cfg = parse_config({"terminal": {"id": "T-0001"}})
    assert cfg.mqtt.port == 1883 and cfg.mqtt.protocol == "5" and cfg.storage.max_pending == 1_000_000
    assert cfg.topic_root == "kiosk/v1/default/T-0001"
    with pytest.raises(ConfigError) as exc:
        parse_config({})
    assert any(p.startswith("terminal.id") for p in exc.value.problems)


def test_every_problem_is_listed_by_key_path() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"terminal": {"id": "bad id/"}, "mqtt": {"port": "x", "prot": 5, "settle": "maybe",
                                                              "reconnect_min": 20, "reconnect_max": 1},
                      "storage": {"max_pending": 0}, "extra": {}, "api": {"tcp": "127.0.0.1:8470"}})
    problems = exc.value.problems
    for expected in ("terminal.id", "mqtt.port: expected an integer", "mqtt.prot: unknown key", "mqtt.settle",
                     "mqtt.reconnect_min", "storage.max_pending", "extra: unknown section", "api.tcp"):
        assert any(p.startswith(expected) for p in problems), (expected, problems)


def test_bad_device_section_disables_only_that_device() -> None:
    cfg = parse_config({"terminal": {"id": "T"}, "devices": {
        "printer": {"class": "receipt_printer", "port": "/dev/null", "baudrate": "fast"},
        "scanner": {"class": "toaster", "port": "/dev/null"},
        "Bad-Name": {"class": "barcode_scanner", "port": "x"},
    }})
    assert cfg.devices == ()
    assert set(cfg.device_problems) == {"printer", "scanner", "Bad-Name"}
    assert any("devices.printer.baudrate" in p for p in cfg.device_problems["printer"])


def test_config_path_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIOSK_AGENT_CONFIG", raising=False)
    assert resolve_path(None) == "/etc/kiosk-agent/agent.toml"
    monkeypatch.setenv("KIOSK_AGENT_CONFIG", "/x.toml")
    assert resolve_path(None) == "/x.toml"
    assert resolve_path("/y.toml") == "/y.toml"


def test_unreadable_and_non_toml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[terminal\nid=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")
    (tmp_path / "latin.toml").write_bytes(b"[terminal]\nid = \"\xff\"\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(tmp_path / "latin.toml")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def test_config_check_command(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[terminal]\nid = "T-1"\n', encoding="utf-8")
    r = _cli("-c", str(good), "config", "check")
    assert r.returncode == 0 and "ok" in r.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[terminal]\nid = "T-1"\n[mqtt]\nprot = 5\n[devices.p]\nclass = "receipt_printer"\n',
                   encoding="utf-8")
    r = _cli("-c", str(bad), "config", "check", "--json")
    assert r.returncode == 2
    doc = json.loads(r.stdout)
    assert doc["ok"] is False
    assert "mqtt.prot: unknown key" in doc["problems"] and "devices.p.port: missing" in doc["problems"]


def test_shipped_configs_are_valid(tmp_path: Path) -> None:
    """The example names the terminal's TLS files where the operator puts them: until they are there,
    the check passes with a warning for each (a package's postinst checks it before they are in
    place); with them in place the warnings go."""
    for name in ("agent.toml", "demo.toml"):
        if not (REPO / "config" / name).exists():
            pytest.fail(f"config/{name} is missing")
    assert _cli("-c", str(REPO / "config" / "demo.toml"), "config", "check").returncode == 0
    example = REPO / "config" / "agent.toml"
    r = _cli("-c", str(example), "config", "check", "--json")
    tls = {"tls_ca": "ca.crt", "tls_cert": "terminal.crt", "tls_key": "terminal.key"}
    missing = [f"mqtt.{key}: /etc/kiosk-agent/tls/{file} does not exist: the uplink cannot connect until it is "
               "in place" for key, file in tls.items()]
    if not Path("/etc/kiosk-agent/tls").exists():
        doc = json.loads(r.stdout)
        assert (r.returncode, doc["problems"]) == (0, []), r.stdout
        assert [w for w in doc["warnings"] if w.startswith("mqtt.tls")] == missing
    text = example.read_text(encoding="utf-8").replace("/etc/kiosk-agent/tls/", f"{tmp_path}/")
    for file in tls.values():
        (tmp_path / file).write_text("PEM\n", encoding="utf-8")
        (tmp_path / file).chmod(0o600)
    (tmp_path / "agent.toml").write_text(text, encoding="utf-8")
    r = _cli("-c", str(tmp_path / "agent.toml"), "config", "check", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not [w for w in json.loads(r.stdout)["warnings"] if w.startswith("mqtt.tls")]


def test_run_refuses_an_invalid_config_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[terminal]\n", encoding="utf-8")
    r = _cli("-c", str(bad), "run")
    assert r.returncode == 2 and "terminal.id" in r.stderr


def test_run_refuses_a_key_file_readable_by_others(tmp_path: Path) -> None:
    key = tmp_path / "journal.key"
    key.write_bytes(b"k" * 32)
    key.chmod(0o644)
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f'[terminal]\nid = "T-1"\n[storage]\npath = "{tmp_path / "j.db"}"\nkey_file = "{key}"\n'
                   f'[api]\nsocket = "{tmp_path / "api.sock"}"\n', encoding="utf-8")
    r = _cli("-c", str(cfg), "run")
    assert r.returncode == 2 and "readable by others" in r.stderr and "chmod 0600" in r.stderr
    assert not (tmp_path / "j.db").exists()  # refused before anything was opened
    key.write_bytes(b"short")
    key.chmod(0o600)
    r = _cli("-c", str(cfg), "run")
    assert r.returncode == 2 and "exactly 32" in r.stderr
