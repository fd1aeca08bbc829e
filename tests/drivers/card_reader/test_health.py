"""Table: module status -> DeviceStatus (the common health model)."""

from __future__ import annotations

import pytest

from drivers.base.health import Action, DeviceState
from drivers.card_reader import health
from drivers.card_reader.health import CardPosition, RetainBin
from drivers.card_reader.messages import ModuleStatus


@pytest.mark.parametrize(("st", "chip", "count", "state", "faults", "position", "bin_state"), [
    ("000", False, 0, DeviceState.ONLINE, [], "none", "ok"),
    ("100", False, 0, DeviceState.ONLINE, [], "at_gate", "ok"),
    ("200", False, 3, DeviceState.ONLINE, [], "inside", "ok"),
    ("200", True, 3, DeviceState.ONLINE, [], "chip_contact", "ok"),
    ("001", False, 3, DeviceState.ONLINE, ["retain_bin_full"], "none", "full"),
    ("000", False, 40, DeviceState.ONLINE, ["retain_bin_high"], "none", "high"),
    ("000", False, 50, DeviceState.ONLINE, ["retain_bin_full"], "none", "full"),
    ("000", False, None, DeviceState.ONLINE, [], "none", "ok"),
    ("900", False, 0, DeviceState.HARDWARE_ERROR, ["status_unknown"], "unknown", "ok"),
])
def test_positive_status(st: str, chip: bool, count: int | None, state: DeviceState, faults: list[str],
                         position: str, bin_state: str) -> None:
    status = ModuleStatus(*st.encode())
    bins = health.retain_bin(status, count, capacity=50, high_pct=80)
    result = health.status_ok(status, chip, bins, count)
    assert result.state is state
    assert result.fault_codes == faults
    assert result.detail["card_position"] == position
    assert result.detail["retain_bin"] == bin_state


@pytest.mark.parametrize(("code", "state", "fault", "action"), [
    ("10", DeviceState.HARDWARE_ERROR, "card_jam", Action.CLEAR),
    ("A1", DeviceState.ONLINE, "retain_bin_full", Action.REPLENISH),
    ("50", DeviceState.ONLINE, "retain_bin_full", Action.REPLENISH),
    ("51", DeviceState.HARDWARE_ERROR, "hardware_failure", Action.MAINTENANCE),
    ("12", DeviceState.HARDWARE_ERROR, "hardware_failure", Action.MAINTENANCE),
    ("60", DeviceState.HARDWARE_ERROR, "hardware_failure", Action.MAINTENANCE),
    ("45", DeviceState.USER_ERROR, "card_moved_manually", Action.RESET),
    ("B0", DeviceState.HARDWARE_ERROR, "not_initialised", Action.RESET),
    ("99", DeviceState.HARDWARE_ERROR, "device_error", Action.RESET),
])
def test_negative_status(code: str, state: DeviceState, fault: str, action: Action) -> None:
    result = health.status_error(code, RetainBin.OK)
    assert result.state is state
    assert result.fault_codes == [fault]
    assert result.action is action
    assert result.detail == {"card_position": "unknown", "retain_bin": "ok", "error": code}


def test_jam_keeps_a_known_full_bin() -> None:
    result = health.status_error("10", RetainBin.FULL)
    assert result.fault_codes == ["card_jam", "retain_bin_full"]


def test_unknown_bin_without_status() -> None:
    assert health.retain_bin(None, None, 50, 80) is RetainBin.UNKNOWN
    assert health.card_position(ModuleStatus(0x32, 0x30, 0x30), False) is CardPosition.INSIDE
