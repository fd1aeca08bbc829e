"""The health document on a fake clock over a real journal: time from the clock, the worst action,
the terminal state, the availability cache."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent.config import AgentConfig, parse_config
from agent.health.document import HealthModel
from agent.journal import Journal
from drivers.base.clock import FakeClock
from drivers.base.health import Action, DeviceState, Fault, worst_action


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=500.0, wall=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def journal(tmp_path: Path, clock: FakeClock) -> Iterator[Journal]:
    j = Journal(tmp_path / "j.db", b"k" * 32, terminal_id="T-H", site="S", boot_id="b", min_free_mb=0, clock=clock)
    yield j
    j.close()


@pytest.fixture
def cfg(tmp_path: Path) -> AgentConfig:
    return parse_config({"terminal": {"id": "T-H", "site": "S"}, "storage": {"path": str(tmp_path / "j.db")},
                         "devices": {"printer": {"class": "receipt_printer", "driver": "escpos",
                                                 "port": "/dev/null"}}})


def _snap(*faults: Fault, state: DeviceState = DeviceState.ONLINE) -> Any:
    return SimpleNamespace(state=state, faults=faults, since=None, detail={}, last_error=None)


def _model(cfg: AgentConfig, journal: Journal, clock: FakeClock, snaps: dict[str, Any],
           faults: list[dict[str, str]] | None = None) -> HealthModel:
    return HealthModel(cfg, journal, boot_id="b", snapshots=lambda: snaps,
                       connectivity=lambda: {"online": True}, uplink_faults=lambda: list(faults or []),
                       clock=clock, contract_version=1)


def test_time_comes_from_the_clock(cfg: AgentConfig, journal: Journal, clock: FakeClock) -> None:
    model = _model(cfg, journal, clock, {"printer": _snap()})
    clock.advance(42.0)
    doc = model.document()
    assert doc["ts"] == "2026-03-01T12:00:42.000Z" and doc["agent"]["uptime_s"] == 42.0
    assert (doc["v"], doc["state"]) == (1, "ok")


def test_a_device_shows_its_most_demanding_action(cfg: AgentConfig, journal: Journal, clock: FakeClock) -> None:
    faults = (Fault("paper_low", Action.REPLENISH), Fault("cover_open", Action.CLEAR))
    doc = _model(cfg, journal, clock, {"printer": _snap(*faults)}).document()
    assert doc["devices"]["printer"]["action"] == "replenish"
    assert doc["state"] == "degraded"


def test_a_required_device_down_is_out_of_service(cfg: AgentConfig, journal: Journal, clock: FakeClock) -> None:
    doc = _model(cfg, journal, clock, {"printer": _snap(state=DeviceState.OFFLINE)}).document()
    assert doc["state"] == "out_of_service"


def test_storage_and_uplink_faults_are_terminal_faults(cfg: AgentConfig, journal: Journal, clock: FakeClock) -> None:
    model = _model(cfg, journal, clock, {"printer": _snap()},
                   faults=[{"code": "offline", "action": "none", "text": "away", "severity": "warning"}])
    assert model.document()["state"] == "ok"  # the network being away is not a fault
    model.storage_fault = "disk full"
    doc = model.document()
    assert [f["code"] for f in doc["faults"]] == ["offline", "storage_full"] and doc["state"] == "degraded"


def test_availability_is_recomputed_a_minute_later_or_when_invalidated(cfg: AgentConfig, journal: Journal,
                                                                        clock: FakeClock) -> None:
    model = _model(cfg, journal, clock, {"printer": _snap()})
    first = model._availability()
    assert model._availability() is first
    clock.advance(61)
    second = model._availability()
    assert second is not first
    model.invalidate_availability()
    assert model._availability() is not second


def test_worst_action_ranks_in_the_declared_order() -> None:
    assert worst_action([]) is Action.NONE
    assert worst_action(["clear", Action.CHECK_CONNECTION, "maintenance"]) is Action.CHECK_CONNECTION
    assert worst_action(list(Action)) is list(Action)[-1]
