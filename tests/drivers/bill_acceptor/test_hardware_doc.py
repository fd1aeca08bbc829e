"""The configuration docs/hardware.md shows is one the agent accepts, and a wrong SSP option is
a clear config problem (checked by the agent's own validator, on a real file)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from agent.config import all_problems
from tests.support.agent_proc import REPO, base_config, write_config

DOC = REPO / "docs" / "hardware.md"


def _doc_devices() -> dict[str, object]:
    block = DOC.read_text(encoding="utf-8").split("```toml", 1)[1].split("```", 1)[0]
    devices: dict[str, object] = tomllib.loads(block)["devices"]
    return devices


def test_documented_ssp_section_is_valid(tmp_path: Path) -> None:
    cfg = base_config(tmp_path, 1883, "T-DOC-0001")
    cfg["devices"] = _doc_devices()
    assert all_problems(write_config(tmp_path / "agent.toml", cfg)) == []


def test_bad_ssp_options_are_named(tmp_path: Path) -> None:
    cfg = base_config(tmp_path, 1883, "T-DOC-0001")
    devices = _doc_devices()
    devices["bill_acceptor"]["options"].update(encrypted="yes", fixed_key="12")  # type: ignore[index]
    cfg["devices"] = devices
    problems = all_problems(write_config(tmp_path / "agent.toml", cfg))
    assert problems == ["devices.bill_acceptor.options.encrypted: must be true or false",
                        "devices.bill_acceptor.options.fixed_key: must be 16 hex digits"]
