"""agent/config/report.py: what ``config check`` lists besides the parse problems."""

from __future__ import annotations

from pathlib import Path

from agent.config import all_problems, load_config, seal_problems

BAD_DEVICE = '[devices.p]\nclass = "receipt_printer"\n'


def test_fatal_problems_come_with_the_device_problems(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text('[terminal]\nid = "T"\n[mqtt]\nport = 0\n' + BAD_DEVICE, encoding="utf-8")
    assert all_problems(path) == ["mqtt.port: must be >= 1, got 0", "devices.p.port: missing"]


def test_a_file_that_is_not_toml_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text("[terminal\n", encoding="utf-8")
    problems = all_problems(path)
    assert len(problems) == 1 and problems[0].startswith(f"{path}: not valid TOML")


def test_warnings_go_to_the_callback_not_the_problems(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text('[terminal]\nid = "T"\n' + BAD_DEVICE, encoding="utf-8")
    warned: list[str] = []
    assert all_problems(path, warn=warned.append) == ["devices.p.port: missing"]
    assert warned and warned[0].startswith("seal: no fleet_public_key is configured")


def test_an_unreadable_fleet_key_is_fatal_and_skips_the_warnings(tmp_path: Path) -> None:
    key = tmp_path / "fleet.pem"
    key.write_text("not a key", encoding="utf-8")
    path = tmp_path / "a.toml"
    path.write_text(f'[terminal]\nid = "T"\n[seal]\nfleet_public_key = "{key}"\n' + BAD_DEVICE,
                    encoding="utf-8")
    fatal = seal_problems(load_config(path))
    assert len(fatal) == 1 and fatal[0].startswith("seal.fleet_public_key: ")
    warned: list[str] = []
    assert all_problems(path, warn=warned.append) == [*fatal, "devices.p.port: missing"]
    assert warned == []
