"""Small real parts for the service tests: a config with two devices and one invalid section, and
a journal in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agent.config import AgentConfig, parse_config
from agent.journal import Journal
from drivers.base.device import DeviceSpec


@pytest.fixture
def cfg(tmp_path: Path) -> AgentConfig:
    base = parse_config({"terminal": {"id": "T-SVC", "site": "S-1"}, "storage": {"path": str(tmp_path / "j.db")},
                         "api": {"socket": str(tmp_path / "api.sock")}})
    return replace(base, devices=(DeviceSpec("printer", "receipt_printer", "escpos", "/dev/null"),
                                  DeviceSpec("scanner", "barcode_scanner", "serial", "/dev/null", enabled=False)),
                   device_problems={"acceptor": ("devices.acceptor.port: required",)})


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "j.db", b"k" * 32, terminal_id="T-SVC", site="S-1", boot_id="b", min_free_mb=0)
    yield j
    j.close()
