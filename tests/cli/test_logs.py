"""``kiosk-agent logs``: from journald (a fake ``journalctl`` on PATH serving entries in journald's
``-o json`` format) and from the running daemon's memory (``GET /v1/logs``), masked either way.

tests/cli/data/journald-kiosk-agent*.jsonl are entries written in the format ``journalctl -o json``
prints (the JSON form of the journal export format, https://systemd.io/JOURNAL_EXPORT_FORMATS/):
every field a string, ``MESSAGE`` the agent's structlog JSON line as the unit's stdout carried it
(or an array of byte values when it is not valid UTF-8), ``__CURSOR`` and ``__REALTIME_TIMESTAMP``
(microseconds) as journald writes them.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import tomllib
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.cli.logs import format_event, journal_event
from tests.cli.conftest import Terminal, console_script, run_cli
from tests.support.agent_proc import base_config, write_config
from tests.support.waiting import wait_until

DATA = Path(__file__).parent / "data"
JOURNAL = DATA / "journald-kiosk-agent.jsonl"
PAN = "6212345678901232"  # Luhn-valid test PAN
ID_NUMBER = "11010519491231002X"  # valid check digit


def _entries() -> list[dict[str, Any]]:
    return [json.loads(line) for line in JOURNAL.read_text().splitlines()]


@pytest.fixture
def fake_journal(tmp_path: Path) -> dict[str, Any]:
    """PATH with the fake journalctl first, its journal, and where it records its arguments."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "journalctl"
    script.write_text(f"#!{sys.executable}\n" + (Path(__file__).parent / "fake_journalctl.py").read_text())
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    journal = tmp_path / "journal.jsonl"
    journal.write_bytes(JOURNAL.read_bytes())
    (tmp_path / "journal.jsonl.new").write_bytes((DATA / "journald-kiosk-agent.new.jsonl").read_bytes())
    config = write_config(tmp_path / "agent.toml", base_config(tmp_path, 1))
    return {"env": {"PATH": f"{bindir}:{os.environ['PATH']}", "FAKE_JOURNAL": str(journal),
                    "FAKE_JOURNAL_ARGV": str(tmp_path / "argv.jsonl")},
            "config": config, "argv": tmp_path / "argv.jsonl"}


def _calls(fake: dict[str, Any]) -> list[list[str]]:
    return [json.loads(line) for line in fake["argv"].read_text().splitlines()]


# -- parsing journald entries -----------------------------------------------------------------------

def test_the_message_of_an_entry_is_the_agents_json_line() -> None:
    entry = _entries()[3]
    assert journal_event(entry) == json.loads(entry["MESSAGE"])
    assert journal_event(entry)["event"] == "device_fault"


def test_text_from_outside_the_logger_is_masked_with_the_entrys_priority_and_time() -> None:
    event = journal_event(_entries()[0])
    assert event["level"] == "error" and event["event"].startswith("Traceback")
    assert PAN not in event["event"] and "621234******1232" in event["event"]
    assert event["timestamp"].startswith("2025-12-02T") or event["timestamp"].startswith("2025-12-01T")


def test_a_message_journald_kept_as_bytes_is_decoded_and_masked() -> None:
    entry = _entries()[-1]
    assert isinstance(entry["MESSAGE"], list)
    event = journal_event(entry)
    assert event["event"] == "odd_bytes" and event["level"] == "warning"
    assert PAN not in event["detail"] and "\ufffd" in event["detail"]


@pytest.mark.parametrize(("priority", "level"), [("2", "critical"), ("3", "error"), ("4", "warning"), ("6", "info"),
                                                 ("7", "debug"), (None, "info")])
def test_a_text_entrys_level_comes_from_its_syslog_priority(priority: str | None, level: str) -> None:
    entry = {"MESSAGE": "plain text", "__REALTIME_TIMESTAMP": "1764669600000000"}
    if priority is not None:
        entry["PRIORITY"] = priority
    assert journal_event(entry)["level"] == level


def test_the_text_form_of_an_event() -> None:
    assert format_event({"timestamp": "T", "level": "warning", "event": "e", "device": "printer", "n": 2}) == \
        'T warning  e  device="printer" n=2'


# -- kiosk-agent logs on journald -------------------------------------------------------------------

def _logs(fake: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("kiosk-agent", "logs", "-c", str(fake["config"]), "--source", "journald", *args, env=fake["env"])


def test_the_last_lines_oldest_first_read_newest_first_from_journald(fake_journal: dict[str, Any]) -> None:
    r = _logs(fake_journal, "-n", "3", "--json")
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert [e["event"] for e in events] == ["uplink_lost", "command_received", "odd_bytes"]
    (call,) = _calls(fake_journal)
    assert call[:4] == ["-u", "kiosk-agent", "-o", "json"] and "--reverse" in call
    assert PAN not in r.stdout


def test_level_and_since_filter_journald_lines(fake_journal: dict[str, Any]) -> None:
    r = _logs(fake_journal, "--level", "warning", "--since", "2025-12-02T10:02:00Z")
    assert r.returncode == 0, r.stderr
    assert [line.split()[2] for line in r.stdout.splitlines()] == [
        "device_fault", "command_failed", "uplink_lost", "odd_bytes"]
    assert r.stdout.splitlines()[0].split()[1] == "warning"
    (call,) = _calls(fake_journal)
    assert "--since=@1764669720.000000" in call


def test_every_journald_line_comes_out_masked(fake_journal: dict[str, Any]) -> None:
    r = _logs(fake_journal, "-n", "1000")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == len(_entries())
    assert PAN not in r.stdout and "621234******1232" in r.stdout


def test_follow_continues_after_the_last_line_shown(fake_journal: dict[str, Any]) -> None:
    proc = subprocess.Popen([str(console_script("kiosk-agent")), "-c", str(fake_journal["config"]), "logs",
                             "--source", "journald", "-f", "-n", "2", "--level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **fake_journal["env"]})
    lines: list[str] = []
    assert proc.stdout is not None

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_until(lambda: len(lines) >= 3, 30, message=lambda: lines)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    assert [line.split()[2] for line in lines] == ["uplink_lost", "odd_bytes", "uplink_lost"]
    assert "follow me" in lines[2] and "quiet_one" not in "".join(lines)
    _backlog, follow = _calls(fake_journal)
    assert "--follow" in follow and f"--after-cursor={_entries()[-1]['__CURSOR']}" in follow


def test_wrong_options_exit_2(fake_journal: dict[str, Any]) -> None:
    for args in (["--since", "yesterday"], ["--since", "2025-12-02T10:00:00"], ["-n", "0"]):
        r = _logs(fake_journal, *args)
        assert r.returncode == 2 and "kiosk-agent:" in r.stderr, (args, r.stderr)
    r = run_cli("kiosk-agent", "logs", "-c", str(fake_journal["config"]), "--source", "daemon", "-f")
    assert r.returncode == 2 and "--follow reads journald" in r.stderr


def test_no_daemon_and_no_journald_exits_3(fake_journal: dict[str, Any]) -> None:
    r = run_cli("kiosk-agent", "logs", "-c", str(fake_journal["config"]), "--source", "daemon")
    assert r.returncode == 3 and "no agent is serving" in r.stderr


# -- kiosk-agent logs from the running daemon -------------------------------------------------------

def _publish_command(terminal: Terminal, broker: Any, payload: dict[str, Any]) -> None:
    cfg = tomllib.loads(terminal.config.read_text())
    root = f"kiosk/v1/{cfg['terminal']['site']}/{cfg['terminal']['id']}"
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    try:
        c.publish(f"{root}/down/cmd", json.dumps(payload), qos=1).wait_for_publish(10)
    finally:
        c.disconnect()
        c.loop_stop()


def test_the_daemons_memory_serves_masked_lines(terminal: Terminal, broker: Any) -> None:
    # a fleet command whose id is a card number: the daemon logs the id it received (masked)
    _publish_command(terminal, broker, {"id": PAN, "cmd": "health"})
    _publish_command(terminal, broker, {"id": ID_NUMBER, "cmd": "queue"})

    def logged() -> list[dict[str, Any]] | None:
        r = run_cli("kiosk-agent", "logs", "-c", str(terminal.config), "--json", "--source", "daemon", "-n", "1000")
        assert r.returncode == 0, r.stderr
        assert PAN not in r.stdout and ID_NUMBER not in r.stdout
        events = [json.loads(line) for line in r.stdout.splitlines()]
        got = [e for e in events if e["event"] == "command_received" and e.get("cmd") in ("health", "queue")]
        return got if len(got) >= 2 else None
    got = wait_until(logged, 30, interval_s=0.5)
    assert {e["id"] for e in got} >= {"621234******1232"}
    assert any(e["cmd"] == "queue" and e["id"] != ID_NUMBER for e in got)
    r = run_cli("kiosk-agent", "logs", "-c", str(terminal.config), "--source", "daemon", "--level", "error")
    assert r.returncode == 0 and "command_received" not in r.stdout


def test_a_failing_journalctl_is_a_failure_not_an_empty_log(fake_journal: dict[str, Any]) -> None:
    env = {**fake_journal["env"], "FAKE_JOURNAL": "/nonexistent/journal.jsonl"}
    r = run_cli("kiosk-agent", "logs", "-c", str(fake_journal["config"]), "--source", "journald", env=env)
    assert r.returncode == 1 and "journalctl exited" in r.stderr and r.stdout == ""
