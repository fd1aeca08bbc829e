"""``kiosk-agent logs`` on the installed unit under a real systemd (tests/systemd/conftest.py): what
journald records of the unit's output is what agent/cli/logs.py parses (``journalctl -u kiosk-agent
-o json``: MESSAGE is the agent's structlog JSON line), ``auto`` picks journald there, and a card
number the agent was handed comes back masked, in the journal and through the command."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.cli.logs import journal_event
from tests.support.waiting import wait_until
from tests.systemd.conftest import SITE, TERMINAL_ID, Live

pytestmark = pytest.mark.timeout(600)

PAN = "6212345678901232"  # Luhn-valid test PAN
KIOSK_AGENT = "/opt/kiosk-agent/venv/bin/kiosk-agent"


def _journal(live: Live) -> list[dict[str, Any]]:
    out = live.ct.run(["journalctl", "-u", "kiosk-agent", "-o", "json", "--no-pager"]).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_the_units_journald_entries_are_the_agents_json_lines(live: Live) -> None:
    def started() -> list[dict[str, Any]] | None:
        events = [journal_event(e) for e in _journal(live)]
        return events if any(e.get("event") == "agent_started" for e in events) else None
    events = wait_until(started, 60, interval_s=0.5, message=lambda: _journal(live)[-5:])
    entries = [e for e in _journal(live) if e.get("_COMM") != "systemd" and "MESSAGE" in e]
    agent_lines = [e for e in entries if isinstance(e["MESSAGE"], str) and e["MESSAGE"].startswith("{")]
    assert agent_lines, entries[-5:]
    for entry in agent_lines:
        doc = json.loads(entry["MESSAGE"])
        assert journal_event(entry) == doc and {"event", "level", "timestamp"} <= set(doc)
    started_event = next(e for e in events if e.get("event") == "agent_started")
    assert started_event["level"] == "info" and started_event["terminal"] == TERMINAL_ID


def test_kiosk_agent_logs_reads_journald_masked(live: Live) -> None:
    ct = live.ct
    topic = f"kiosk/v1/{SITE}/{TERMINAL_ID}/down/cmd"

    def logged() -> list[dict[str, Any]] | None:
        # sent again until it is logged: a command published before the agent subscribed is not kept
        ct.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", "1883", "-q", "1", "-t", topic,
                "-m", json.dumps({"id": PAN, "cmd": "health"})])
        r = ct.run([KIOSK_AGENT, "logs", "--json", "-n", "200"], check=False)
        assert r.returncode == 0, r.stderr
        assert PAN not in r.stdout
        events = [json.loads(line) for line in r.stdout.splitlines()]
        return events if any(e["event"] == "command_received" for e in events) else None
    events = wait_until(logged, 60, interval_s=0.5)
    received = [e for e in events if e["event"] == "command_received"]
    assert received[-1]["id"] == "621234******1232" and received[-1]["cmd"] == "health"
    assert PAN not in ct.run(["journalctl", "-u", "kiosk-agent", "-o", "json", "--no-pager"]).stdout
    text = ct.run([KIOSK_AGENT, "logs", "--level", "warning", "-n", "5"]).stdout
    assert "command_received" not in text
