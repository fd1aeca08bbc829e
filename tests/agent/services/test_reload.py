"""Config reload: a bad file or a change outside devices and limits changes nothing; limits reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from agent.services.limits import OfflineLimits
from agent.services.reload import LiveConfig, Reloader
from agent.uplink.commands import CommandError


class Supervisor:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def remove(self, name: str) -> None:
        self.calls.append(("remove", name))

    def add(self, driver: Any) -> None:
        self.calls.append(("add", driver))

    def replace(self, name: str, driver: Any) -> None:
        self.calls.append(("replace", name))


class Health:
    cfg: Any = None


def _write(path: Path, port: int = 1, limit: str = "") -> Path:
    path.write_text(f'[terminal]\nid = "T-R"\nsite = "S"\n[storage]\npath = "{path.parent / "j.db"}"\n'
                    f'[api]\nsocket = "{path.parent / "api.sock"}"\n[mqtt]\nport = {port}\n{limit}')
    return path


def _reloader(path: Path) -> tuple[Reloader, LiveConfig, Supervisor, OfflineLimits, list[int]]:
    live, sup, changed = LiveConfig(load_config(path)), Supervisor(), []
    limits = OfflineLimits(live().offline_limits, journal=None)  # type: ignore[arg-type]
    reloader = Reloader(live, sup, Health(), limits, driver_context=lambda name: None,  # type: ignore[arg-type]
                        on_change=lambda: changed.append(1))
    return reloader, live, sup, limits, changed


def test_limits_reload_in_place(tmp_path: Path) -> None:
    path = _write(tmp_path / "agent.toml")
    reloader, live, sup, limits, changed = _reloader(path)
    _write(path, limit='[offline_limits.cash]\nmax_amount = 5000\n')
    assert reloader.reload() == {"added": [], "removed": [], "reopened": [], "unchanged": []}
    assert limits.by_method["cash"].max_amount == 5000 and live().offline_limits and changed == [1]
    assert sup.calls == []


@pytest.mark.parametrize(("text", "code"), [("[terminal\n", "bad_config"), (None, "restart_required")])
def test_a_refused_reload_changes_nothing(tmp_path: Path, text: str | None, code: str) -> None:
    path = _write(tmp_path / "agent.toml")
    reloader, live, _, _, changed = _reloader(path)
    before = live()
    if text is None:
        _write(path, port=2)
    else:
        path.write_text(text)
    with pytest.raises(CommandError) as err:
        reloader.reload()
    assert err.value.code == code and live() is before and changed == []
