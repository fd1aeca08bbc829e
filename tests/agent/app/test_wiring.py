"""The composition root wires one set of services: the API, the fleet commands and the agent's
own names reach the same objects; health and the run loop read the injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.app import Agent
from agent.config import parse_config
from drivers.base.clock import FakeClock


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    clock = FakeClock(wall=datetime(2026, 5, 1, tzinfo=UTC))
    a = Agent(parse_config({"terminal": {"id": "T-W", "site": "S"}, "storage": {"path": str(tmp_path / "j.db")},
                            "mqtt": {"port": 1}, "api": {"socket": str(tmp_path / "api.sock")}}), clock=clock)
    yield a
    a.commands.close()
    a.journal.close()


def test_the_api_and_the_agent_share_the_services(agent: Agent) -> None:
    router = agent.api.router
    status, doc = router.handle("POST", "/v1/transactions", {}, {"kind": "payment", "amount": 1, "method": "cash",
                                                                 "txn_id": "w-1"})
    assert (status, doc["txn_id"]) == (201, "w-1")
    assert agent.transactions.get("w-1")["txn_id"] == "w-1"
    assert router.handle("GET", "/v1/queue", {}, None)[1]["pending"] == 1
    assert sorted(agent.commands.commands) == ["health", "inspect", "logs", "queue", "reload", "selftest"]


def test_health_reads_the_injected_clock(agent: Agent) -> None:
    assert agent.health.document()["ts"] == "2026-05-01T00:00:00.000Z"
    agent.clock.advance(5)  # type: ignore[attr-defined]
    assert agent.health.document()["agent"]["uptime_s"] == 5.0

