"""Findings 4, 6 and 7 of issue 15, against the real daemon: configurations that passed ``config check``
and then broke the daemon (or opened it up) are refused at start, exit 2, with the key path on stderr.

Before the fix: an empty ``token_file`` let any ``Authorization: Bearer `` in on TCP; ``api.tcp`` on
0.0.0.0 passed; port 99999 passed and crashed the daemon at bind; ``reconnect_min = nan`` reconnected
72,000 times in 5 s, ``start_delay_max = nan`` never drained, ``health_interval = nan`` and
``retention_days = 1e10`` (crash at start) passed; ``api.socket`` on the journal deleted it.
"""

from __future__ import annotations

import http.client
import math
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.support.broker import free_port


def _refused(agent: Any, *needles: str) -> str:
    assert agent.proc is not None
    code = agent.proc.wait(30)
    text = agent.log_text()
    assert code == 2, f"the daemon started (exit {code}):\n{text[-2000:]}"
    assert "invalid configuration" in text
    for needle in needles:
        assert needle in text, (needle, text[-2000:])
    return text


def _token(dir_: Path, body: bytes) -> Path:
    dir_.mkdir(mode=0o700, exist_ok=True)
    token = dir_ / "token"
    token.write_bytes(body)
    token.chmod(0o600)
    return token


def _tcp_get(port: int, token: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/v1/health", headers={"Authorization": f"Bearer {token}"})
        return conn.getresponse().status
    finally:
        conn.close()


def test_an_empty_token_file_refuses_the_start_instead_of_letting_anyone_in(daemon, short_dir: Path) -> None:
    port = free_port()
    token = _token(short_dir / "secrets", b"\n")
    agent = daemon(sections={"api": {"tcp": f"127.0.0.1:{port}", "token_file": str(token)}}, wait=False)
    _refused(agent, f"api.token_file: {token} is empty")
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def test_a_good_token_still_serves_and_an_empty_bearer_is_refused(daemon, short_dir: Path) -> None:
    port = free_port()
    token = _token(short_dir / "secrets", b"s3cret-token\n")
    daemon(sections={"api": {"tcp": f"127.0.0.1:{port}", "token_file": str(token)}})
    assert _tcp_get(port, "s3cret-token") == 200
    assert _tcp_get(port, "") == 401


def test_a_token_file_readable_by_others_is_refused(daemon, short_dir: Path) -> None:
    token = _token(short_dir / "secrets", b"s3cret-token\n")
    token.chmod(0o644)
    agent = daemon(sections={"api": {"tcp": f"127.0.0.1:{free_port()}", "token_file": str(token)}}, wait=False)
    _refused(agent, f"api.token_file: {token} is readable by others (mode 0644)")


@pytest.mark.parametrize(("api", "needle"), [
    ({"tcp": "0.0.0.0:{port}"}, "api.tcp: 0.0.0.0 is not a loopback address"),
    ({"tcp": "127.0.0.1:99999"}, "api.tcp: the port must be 1-65535, got 99999"),
], ids=["all-interfaces", "port-99999"])
def test_tcp_listeners_that_passed_the_check(daemon, short_dir: Path, api: dict[str, str], needle: str) -> None:
    token = _token(short_dir / "secrets", b"s3cret-token\n")
    table = {k: v.format(port=free_port()) for k, v in api.items()}
    agent = daemon(sections={"api": {**table, "token_file": str(token)}}, wait=False)
    _refused(agent, needle)


@pytest.mark.parametrize(("section", "key", "value", "needle"), [
    ("mqtt", "start_delay_max", math.nan, "mqtt.start_delay_max: must be a finite number, got nan"),
    ("mqtt", "reconnect_min", math.nan, "mqtt.reconnect_min: must be a finite number, got nan"),
    ("mqtt", "reconnect_max", math.inf, "mqtt.reconnect_max: must be a finite number, got inf"),
    ("mqtt", "health_interval", math.nan, "mqtt.health_interval: must be a finite number, got nan"),
    ("mqtt", "drain_rate", -math.inf, "mqtt.drain_rate: must be a finite number, got -inf"),
    ("storage", "retention_days", 1e10, "storage.retention_days: must be <= 3650, got 10000000000.0"),
    ("storage", "retention_days", math.inf, "storage.retention_days: must be a finite number, got inf"),
])
def test_numbers_that_broke_the_daemon(daemon, section: str, key: str, value: float, needle: str) -> None:
    # reconnect_min is set by the fixture: the problem is the one named, nothing else
    agent = daemon(sections={section: {key: value}}, wait=False)
    _refused(agent, needle)


def test_the_socket_on_the_journal_is_refused_before_anything_is_opened(daemon) -> None:
    first = daemon()
    assert first.client().post("/v1/transactions", {"kind": "payment", "amount": 5, "method": "cash",
                                                   "txn_id": "keep-me"})[0] == 201
    assert first.terminate() == 0
    journal = first.workdir / "journal.db"
    second = daemon(sections={"storage": {"path": str(journal)}, "api": {"socket": str(journal)}}, wait=False)
    _refused(second, f"api.socket: {journal} is also storage.path; each needs a file of its own")
    with sqlite3.connect(journal) as db:
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0, "the journal is gone"


def test_a_socket_path_on_a_file_the_config_does_not_name_is_never_removed(daemon) -> None:
    """What config validation cannot know (any other file at the socket's path) the server still
    refuses to replace: the defence behind the check."""
    agent = daemon(start=False)
    precious = agent.workdir / "precious.db"
    precious.write_bytes(b"not a socket")
    agent.config_path.write_text(agent.config_path.read_text().replace(
        f'socket = "{agent.workdir / "api.sock"}"', f'socket = "{precious}"'))
    agent.start(wait=False)
    assert agent.proc is not None
    assert agent.proc.wait(30) != 0, "the daemon served a socket in place of a file"
    assert "is not a socket" in agent.log_text()
    assert precious.read_bytes() == b"not a socket"
