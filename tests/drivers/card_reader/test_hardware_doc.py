"""The card-reader configuration docs/hardware.md shows is one the agent accepts, and a wrong
``link`` (or an address on the CRT-310 link) is a clear config problem (the agent's own
validator, on a real file)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from agent.config import all_problems
from tests.support.agent_proc import REPO, base_config, write_config

DOC = REPO / "docs" / "hardware.md"


def _doc_devices() -> dict[str, Any]:
    section = DOC.read_text(encoding="utf-8").split("# Card readers:", 1)[1]
    block = section.split("```toml", 1)[1].split("```", 1)[0]
    devices: dict[str, Any] = tomllib.loads(block)["devices"]
    return devices


def test_documented_crt310_section_is_valid(tmp_path: Path) -> None:
    cfg = base_config(tmp_path, 1883, "T-DOC-0002")
    cfg["devices"] = _doc_devices()
    assert cfg["devices"]["card_reader"]["options"]["link"] == "crt310"
    assert all_problems(write_config(tmp_path / "agent.toml", cfg)) == []


def test_bad_link_options_are_named(tmp_path: Path) -> None:
    cfg = base_config(tmp_path, 1883, "T-DOC-0002")
    devices = _doc_devices()
    devices["card_reader"]["options"].update(link="crt320")
    cfg["devices"] = devices
    assert all_problems(write_config(tmp_path / "agent.toml", cfg)) == [
        "devices.card_reader.options.link: one of crt591, crt310"]
    devices["card_reader"]["options"].update(link="crt310", address=1)
    assert all_problems(write_config(tmp_path / "agent.toml", cfg)) == [
        "devices.card_reader.options.address: the CRT-310 link has no address byte"]
