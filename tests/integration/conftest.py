"""Fixtures that run the real daemon against a real broker behind a fault proxy."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent_proc import AgentProcess, base_config, write_config

_ids = itertools.count(1)


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
