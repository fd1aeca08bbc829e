"""Fixtures that run the real daemon against a real broker behind a fault proxy."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent_proc import AgentProcess, base_config, write_config
from tests.support.sims import SimBench
from tests.support.waiting import wait_until

#: poll interval of the simulated devices in the integration tests
SIM_POLL_S = 0.5

_ids = itertools.count(1)

#: the MQTT versions the agent supports; uplink tests run under each (ids: mqtt5, mqtt3.1.1)
PROTOCOLS = ("5", "3.1.1")


@pytest.fixture(params=PROTOCOLS, ids=lambda p: f"mqtt{p}")
def protocol(request: pytest.FixtureRequest) -> str:
    """The agent's ``mqtt.protocol`` for a test that must hold under both MQTT versions."""
    return str(request.param)


@pytest.fixture
def terminal_id() -> str:
    return f"T-IT-{next(_ids):04d}"


@pytest.fixture
def agent_factory(tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    """``agent_factory(mqtt_port, terminal_id=..., mqtt={...}, sections={...})`` -> an unstarted AgentProcess."""
    made: list[AgentProcess] = []

    def make(mqtt_port: int, *, terminal_id: str = "T-0001", mqtt: dict[str, Any] | None = None,
             sections: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> AgentProcess:
        workdir = tmp_path / f"agent-{len(made)}"
        workdir.mkdir()
        cfg = base_config(workdir, mqtt_port, terminal_id, **(mqtt or {}))
        for name, table in (sections or {}).items():
            cfg.setdefault(name, {}).update(table)
        proc = AgentProcess(write_config(workdir / "agent.toml", cfg), workdir, env=env)
        made.append(proc)
        return proc

    yield make
    for proc in made:
        proc.close()


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[SimBench]:
    """The simulated peripherals on real ptys."""
    bench = SimBench(tmp_path / "sims")
    yield bench
    bench.stop()


@pytest.fixture
def kiosk(sims: SimBench, agent_factory: Callable[..., AgentProcess], broker: Any, terminal_id: str) -> AgentProcess:
    """The real daemon against every simulator (debug logs, so the sensitive-data scan sees them all)."""
    if not sims.peers:
        pytest.skip("no simulator/driver pair is available")
    agent = agent_factory(broker.port, terminal_id=terminal_id,
                          sections={"devices": sims.devices_section(SIM_POLL_S), "log": {"level": "debug"}})
    agent.start()
    api = agent.client()

    def all_online() -> bool:
        return all(d["state"] == "online" for d in api.get("/v1/health")[1]["devices"].values())
    wait_until(all_online, 30, message=lambda: api.get("/v1/health")[1]["devices"])
    return agent
