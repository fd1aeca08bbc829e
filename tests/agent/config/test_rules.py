"""The validation rules that match the code's assumptions (issue 15, findings 4, 6, 7 and 11): one
test per rule, each naming the key path the operator has to fix."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.config import ConfigError, all_problems, config_warnings, load_config, parse_config
from agent.config.checkers import number
from agent.config.rules import UNIX_PATH_MAX
from agent.config.sections import DEVICE_KEYS, LIMIT_KEYS, SECTIONS
from tests.support.agent_proc import REPO


def _problems(doc: dict[str, Any]) -> list[str]:
    try:
        parse_config({"terminal": {"id": "T-1"}, **doc})
    except ConfigError as exc:
        return exc.problems
    return []


def _number_keys() -> list[tuple[str, str]]:
    """Every key whose checker is a number(), found by probing: a new number key is covered too."""
    out = []
    for section, (_, keys) in SECTIONS.items():
        for key, check in keys.items():
            if "expected a number" in (check("x") or ""):
                out.append((section, key))
    return out


@pytest.mark.parametrize(("section", "key"), _number_keys(), ids=lambda v: v)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_every_number_key_refuses_nan_and_infinity(section: str, key: str, value: float) -> None:
    assert f"{section}.{key}: must be a finite number, got {value}" in _problems({section: {key: value}})


def test_the_number_keys_found_are_the_ones_the_daemon_times_with() -> None:
    found = {f"{s}.{k}" for s, k in _number_keys()}
    assert {"mqtt.reconnect_min", "mqtt.start_delay_max", "mqtt.health_interval", "storage.retention_days",
            "mqtt.drain_rate", "mqtt.fleet_ack_timeout", "mqtt.connack_timeout"} <= found


def test_device_and_offline_limit_numbers_are_finite_too() -> None:
    cfg = parse_config({"terminal": {"id": "T-1"}, "devices": {
        "printer": {"class": "receipt_printer", "port": "/dev/null", "poll_interval": math.nan}}})
    assert cfg.device_problems["printer"] == ("devices.printer.poll_interval: must be a finite number, got nan",)
    assert "offline_limits.cash.max_age_s: must be a finite number, got inf" in _problems(
        {"offline_limits": {"cash": {"max_age_s": math.inf}}})
    for checker in (*DEVICE_KEYS.values(), *LIMIT_KEYS.values()):
        if "expected a number" in (checker("x") or ""):
            assert checker(math.nan) is not None


@pytest.mark.parametrize(("path", "value", "problem"), [
    ("storage.retention_days", 1e10, "must be <= 3650, got 10000000000.0"),
    ("storage.retention_days", 0, "must be > 0, got 0"),
    ("mqtt.reconnect_min", 1e9, "must be <= 3600.0, got 1000000000.0"),
    ("mqtt.health_interval", 1e12, "must be <= 86400.0, got 1000000000000.0"),
    ("mqtt.start_delay_max", 1e7, "must be <= 3600.0, got 10000000.0"),
    ("mqtt.fleet_ack_timeout", 1e6, "must be <= 86400.0, got 1000000.0"),
    ("mqtt.drain_rate", 1e300, "must be <= 1000000, got 1e+300"),
    ("mqtt.max_attempts", 2**62, f"must be <= 1000000, got {2**62}"),
    ("storage.max_pending", 2**62, f"must be <= 1000000000, got {2**62}"),
    ("storage.health_samples_max", 2**40, f"must be <= 10000000, got {2**40}"),
    ("storage.min_free_mb", 2**40, f"must be <= 1048576, got {2**40}"),
])
def test_absurd_values_are_refused_by_key_path(path: str, value: Any, problem: str) -> None:
    section, key = path.split(".")
    assert f"{path}: {problem}" in _problems({section: {key: value}})


def test_the_retention_bound_keeps_the_date_arithmetic_in_range() -> None:
    from datetime import UTC, datetime, timedelta
    assert number(0, 3650, lo_open=True)(3650) is None
    assert datetime(9000, 1, 1, tzinfo=UTC) - timedelta(days=3650) > datetime(1, 1, 1, tzinfo=UTC)
    assert not _problems({"storage": {"retention_days": 3650}, "mqtt": {"health_interval": 86400}})


@pytest.mark.parametrize(("tcp", "problem"), [
    ("127.0.0.1:99999", "api.tcp: the port must be 1-65535, got 99999"),
    ("127.0.0.1:0", "api.tcp: the port must be 1-65535, got 0"),
    ("kiosk.example:8470", "api.tcp: the host must be an IP address or localhost, got 'kiosk.example'"),
    ("127.0.0.1", "api.tcp: expected HOST:PORT, got '127.0.0.1'"),
])
def test_tcp_listener_address_is_checked(tcp: str, problem: str) -> None:
    assert problem in _problems({"api": {"tcp": tcp, "token_file": "/t"}})


@pytest.mark.parametrize("tcp", ["0.0.0.0:8470", "[::]:8470", "192.0.2.7:8470", ":::8470"])
def test_tcp_listener_is_loopback_only_unless_allowed(tcp: str) -> None:
    problems = _problems({"api": {"tcp": tcp, "token_file": "/t"}})
    assert len(problems) == 1 and problems[0].startswith("api.tcp: ")
    assert "is not a loopback address" in problems[0] and "api.tcp_allow_remote = true" in problems[0]
    assert _problems({"api": {"tcp": tcp, "token_file": "/t", "tcp_allow_remote": True}}) == []


@pytest.mark.parametrize("tcp", ["127.0.0.1:8470", "127.3.2.1:1", "localhost:65535", "[::1]:8470", "::1:8470"])
def test_loopback_listeners_pass(tcp: str) -> None:
    assert _problems({"api": {"tcp": tcp, "token_file": "/t"}}) == []
    cfg = parse_config({"terminal": {"id": "T"}, "api": {"tcp": tcp, "token_file": "/t"}})
    assert cfg.api.tcp_allow_remote is False


def test_tcp_allow_remote_is_a_boolean() -> None:
    assert "api.tcp_allow_remote: expected true or false, got an integer 1" in _problems(
        {"api": {"tcp_allow_remote": 1}})


def test_socket_on_the_journal_or_its_files_is_refused(tmp_path: Path) -> None:
    j = tmp_path / "journal.db"
    storage = {"path": str(j)}
    assert _problems({"storage": storage, "api": {"socket": str(j)}}) == [
        f"api.socket: {j} is also storage.path; each needs a file of its own"]
    assert _problems({"storage": storage, "api": {"socket": f"{j}-wal"}}) == [
        f"api.socket: {j}-wal is also storage.path's -wal file; each needs a file of its own"]
    assert _problems({"storage": storage, "api": {"socket": str(tmp_path / "journal.key")}}) == [
        f"api.socket: {tmp_path / 'journal.key'} is also storage.key_file (unset: journal.key beside the journal); "
        "each needs a file of its own"]
    # the same file by another name
    (tmp_path / "link").symlink_to(tmp_path)
    assert _problems({"storage": storage, "api": {"socket": str(tmp_path / "link" / "journal.db")}})[0].startswith(
        "api.socket: ")


def test_key_files_are_distinct(tmp_path: Path) -> None:
    k = str(tmp_path / "k")
    assert _problems({"storage": {"path": str(tmp_path / "j.db"), "key_file": k, "signing_key_file": k}}) == [
        f"storage.signing_key_file: {k} is also storage.key_file; each needs a file of its own"]
    assert _problems({"storage": {"path": str(tmp_path / "j.db"), "key_file": k},
                      "mqtt": {"tls_key": k, "tls_cert": "/c"}}) == [
        f"mqtt.tls_key: {k} is also storage.key_file; each needs a file of its own"]
    assert _problems({"storage": {"path": k}, "api": {"token_file": k}}) == [
        f"api.token_file: {k} is also storage.path; each needs a file of its own"]


def test_tls_cert_and_key_may_share_one_pem(tmp_path: Path) -> None:
    pem = str(tmp_path / "both.pem")
    assert _problems({"mqtt": {"tls_cert": pem, "tls_key": pem}}) == []


def test_socket_path_must_fit_a_unix_socket(tmp_path: Path) -> None:
    fits = "/" + "s" * (UNIX_PATH_MAX - 1)
    assert _problems({"api": {"socket": fits}}) == []
    long = fits + "x"
    assert _problems({"api": {"socket": long}}) == [
        f"api.socket: {UNIX_PATH_MAX + 1} bytes long, more than the {UNIX_PATH_MAX} a unix socket path may have; "
        "choose a shorter path"]


def _write(tmp_path: Path, api: str = "", mqtt: str = "") -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(f'[terminal]\nid = "T-1"\n[storage]\npath = "{tmp_path}/j.db"\n'
                    f'[seal]\nallow_clear = true\n[api]\nsocket = "{tmp_path}/a.sock"\n{api}\n[mqtt]\n{mqtt}\n',
                    encoding="utf-8")
    return path


def _token(tmp_path: Path, body: bytes, mode: int = 0o600) -> Path:
    token = tmp_path / "token"
    token.write_bytes(body)
    token.chmod(mode)
    return token


def _load_problems(path: Path) -> list[str]:
    try:
        load_config(path)
    except ConfigError as exc:
        return exc.problems
    return []


@pytest.mark.parametrize(("body", "mode", "problem"), [
    (b"", 0o600, "is empty: any client would be let in with an empty bearer token"),
    (b" \n\t\n", 0o600, "is empty: any client would be let in with an empty bearer token"),
    (b"s3cret\n", 0o644, "is readable by others (mode 0644); chmod 0600 it"),
    (b"s3cret\n", 0o640, "is readable by others (mode 0640); chmod 0600 it"),
])
def test_the_token_file_must_be_private_and_not_empty(tmp_path: Path, body: bytes, mode: int, problem: str) -> None:
    token = _token(tmp_path, body, mode)
    cfg = _write(tmp_path, f'tcp = "127.0.0.1:8470"\ntoken_file = "{token}"')
    assert _load_problems(cfg) == [f"api.token_file: {token} {problem}" + (
        "; put a long random token in it (e.g. openssl rand -hex 32)" if "empty" in problem else "")]


def test_the_token_file_must_exist_and_be_a_plain_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert _load_problems(_write(tmp_path, f'token_file = "{missing}"')) == [
        f"api.token_file: {missing} does not exist"]
    assert _load_problems(_write(tmp_path, f'token_file = "{tmp_path}"')) == [
        f"api.token_file: {tmp_path} is not a regular file"]
    real = _token(tmp_path, b"s3cret\n")
    (tmp_path / "link").symlink_to(real)
    assert _load_problems(_write(tmp_path, f'token_file = "{tmp_path / "link"}"')) == [
        f"api.token_file: {tmp_path / 'link'} is a symlink; point the setting at the real file"]
    assert _load_problems(_write(tmp_path, f'tcp = "127.0.0.1:8470"\ntoken_file = "{real}"')) == []


def _check_json(path: Path) -> tuple[int, dict[str, Any]]:
    r = subprocess.run([sys.executable, "-m", "agent", "-c", str(path), "config", "check", "--json"],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    return r.returncode, json.loads(r.stdout)


def test_config_check_names_missing_and_readable_mqtt_files(tmp_path: Path) -> None:
    key = tmp_path / "tls.key"
    key.write_text("KEY\n")
    key.chmod(0o644)
    ca = tmp_path / "ca.pem"
    ca.write_text("CA\n")
    ca.chmod(0o644)  # a certificate is public
    (tmp_path / "ca-link.pem").symlink_to(ca)  # and may be a symlink, as in /etc/ssl/certs
    cfg = _write(tmp_path, mqtt=f'tls_ca = "{tmp_path / "ca-link.pem"}"\ntls_cert = "{tmp_path / "c.pem"}"\n'
                                f'tls_key = "{key}"\nusername = "u"\npassword_file = "{tmp_path / "pw"}"')
    expected = [f"mqtt.tls_key: {key} is readable by others (mode 0644); chmod 0600 it"]
    missing = [f"mqtt.tls_cert: {tmp_path / 'c.pem'} does not exist: the uplink cannot connect until it is in place",
               f"mqtt.password_file: {tmp_path / 'pw'} does not exist: the uplink cannot connect until it is in "
               "place"]
    warned: list[str] = []
    assert all_problems(cfg, warn=warned.append) == expected
    code, doc = _check_json(cfg)
    assert (code, doc["ok"], doc["problems"]) == (2, False, expected)
    key.chmod(0o600)
    assert all_problems(cfg, warn=warned.append) == []
    assert [w for w in warned if w.startswith(("mqtt.tls_cert", "mqtt.password_file"))] == missing


def test_a_missing_tls_ca_is_named(tmp_path: Path) -> None:
    cfg = _write(tmp_path, mqtt='tls_ca = "/nonexistent/ca.pem"')
    warned: list[str] = []
    assert all_problems(cfg, warn=warned.append) == []
    assert ("mqtt.tls_ca: /nonexistent/ca.pem does not exist: the uplink cannot connect until it is in place"
            in warned)
    assert load_config(cfg).mqtt.tls_ca == "/nonexistent/ca.pem"  # the daemon starts and reports it in health


def test_password_without_tls_is_a_warning(tmp_path: Path) -> None:
    plain = parse_config({"terminal": {"id": "T-1"}, "mqtt": {"host": "mq.example", "username": "u",
                                                              "password_file": "/pw"}})
    assert ("mqtt.username: password authentication without TLS sends the password in clear to mq.example; "
            "set mqtt.tls_ca (and use the broker's TLS port)") in config_warnings(plain)
    tls = parse_config({"terminal": {"id": "T-1"}, "mqtt": {"username": "u", "password_file": "/pw",
                                                            "tls_ca": "/ca.pem"}})
    assert not [w for w in config_warnings(tls) if w.startswith("mqtt.username")]


def test_run_refuses_an_empty_token_before_starting(tmp_path: Path) -> None:
    token = _token(tmp_path, b"")
    cfg = _write(tmp_path, f'tcp = "127.0.0.1:8470"\ntoken_file = "{token}"')
    r = subprocess.run([sys.executable, "-m", "agent", "-c", str(cfg), "run"], capture_output=True, text=True,
                       timeout=60, cwd=REPO)
    assert r.returncode == 2 and f"api.token_file: {token} is empty" in r.stderr
    assert not os.path.exists(tmp_path / "a.sock") and not os.path.exists(tmp_path / "j.db")


def test_an_allowed_remote_address_must_be_one_of_this_machine(tmp_path: Path) -> None:
    token = _token(tmp_path, b"s3cret\n")
    foreign = _write(tmp_path, f'tcp = "192.0.2.7:8470"\ntcp_allow_remote = true\ntoken_file = "{token}"')
    problems = _load_problems(foreign)
    assert len(problems) == 1 and problems[0].startswith("api.tcp: cannot listen on 192.0.2.7 on this machine: ")
    ours = _write(tmp_path, f'tcp = "127.0.0.1:8470"\ntcp_allow_remote = true\ntoken_file = "{token}"')
    assert _load_problems(ours) == []


@pytest.mark.parametrize("good", ["127.0.0.1", "::1", "mqtt.fleet.example", "kiosk-broker.invalid", "broker.",
                                  "my_broker", "a" * 63 + ".example"])
def test_the_broker_host_is_a_name_or_an_address(good: str) -> None:
    assert _problems({"mqtt": {"host": good}}) == []


@pytest.mark.parametrize("bad", ["a" * 300, "a" * 64 + ".example", "a b", "x\x00y", "-lead.example", "a..b",
                                 "[::1]", "host:1883"])
def test_a_broker_host_that_is_neither_is_refused(bad: str) -> None:
    assert _problems({"mqtt": {"host": bad}}) == [f"mqtt.host: not a host name or IP address: {bad!r}"]
    assert _problems({"mqtt": {"host": ""}}) == ["mqtt.host: must not be empty"]
