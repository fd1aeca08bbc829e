"""The camera and touch-screen configuration docs/hardware.md shows is one the drivers accept."""

from __future__ import annotations

import tomllib
from pathlib import Path

from drivers.camera.driver import CameraDriver
from drivers.sysfs.tree import node_wanted
from drivers.touch_screen.driver import TouchScreenDriver

DOC = Path(__file__).resolve().parents[3] / "docs" / "hardware.md"
DRIVERS = {("camera", "v4l2"): CameraDriver, ("touch_screen", "input"): TouchScreenDriver}


def test_the_documented_sections_are_valid() -> None:
    section = DOC.read_text(encoding="utf-8").split("# Camera and touch screen", 1)[1]
    devices = tomllib.loads(section.split("```toml", 1)[1].split("```", 1)[0])["devices"]
    assert {d["class"] for d in devices.values()} == {"camera", "touch_screen"}
    for table in devices.values():
        driver = next(cls for (klass, _), cls in DRIVERS.items() if klass == table["class"])
        assert driver.check_options(table.get("options", {})) == []
        assert node_wanted(table["port"]) is None
    assert "| `camera` | `v4l2` |" in section and "| `touch_screen` | `input` |" in section
