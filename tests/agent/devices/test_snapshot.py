"""agent/devices/snapshot.py: the snapshot, the poller's own faults, the port and status checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.devices.snapshot import (
    FAULT_DRIVER_ERROR,
    FAULT_NO_RESPONSE,
    FAULT_PORT_GONE,
    FAULT_WORKER_CRASHED,
    UNREACHABLE,
    DeviceSnapshot,
    DeviceUnavailable,
    check_status,
    poller_fault,
    port_missing,
    unreachable_state,
)
from drivers.base.errors import DriverError
from drivers.base.health import Action, DeviceState, DeviceStatus, Fault, Severity


def test_health_entry_and_fault_codes() -> None:
    since = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    faults = (Fault("paper_out", Action.REPLENISH), Fault("cover_open", Action.MAINTENANCE))
    snap = DeviceSnapshot("printer", "receipt_printer", True, DeviceState.HARDWARE_ERROR, faults,
                          {"paper": "out"}, since)
    assert snap.fault_codes == {"paper_out", "cover_open"} and not snap.usable
    entry = snap.health_entry()
    assert entry == {"class": "receipt_printer", "state": "hardwareError", "faults": ["cover_open", "paper_out"],
                     "since": "2026-03-01T12:00:00+00:00", "detail": {"paper": "out"}}
    entry["detail"]["paper"] = "ok"
    assert snap.detail == {"paper": "out"}  # the entry is a copy


def test_poller_faults_name_the_action() -> None:
    for code in (FAULT_NO_RESPONSE, FAULT_PORT_GONE):
        assert poller_fault(code).action is Action.CHECK_CONNECTION
    for code in (FAULT_DRIVER_ERROR, FAULT_WORKER_CRASHED):
        assert poller_fault(code).action is Action.MAINTENANCE
    fault = poller_fault(FAULT_NO_RESPONSE)
    assert (fault.code, fault.severity, fault.text) == ("no_response", Severity.ERROR, "the device does not answer")
    with pytest.raises(KeyError):
        poller_fault("paper_out")


def test_port_missing_only_for_local_paths(tmp_path: Path) -> None:
    assert port_missing(str(tmp_path / "nope"))
    assert not port_missing(str(tmp_path))
    dangling = tmp_path / "link"
    dangling.symlink_to(tmp_path / "target-gone")
    assert port_missing(str(dangling))
    assert not port_missing("socket://127.0.0.1:1")
    assert not port_missing("usb:04b8:0202")


def test_unreachable_state_by_port(tmp_path: Path) -> None:
    assert unreachable_state(str(tmp_path / "ttyGONE")) is DeviceState.NO_DEVICE
    assert unreachable_state(str(tmp_path)) is DeviceState.OFFLINE
    assert unreachable_state("socket://10.0.0.1:9100") is DeviceState.OFFLINE
    assert {DeviceState.NO_DEVICE, DeviceState.OFFLINE} == UNREACHABLE


@pytest.mark.parametrize("bad", [None, {"state": "online"}, DeviceStatus("online"),  # type: ignore[arg-type]
                                 DeviceStatus(DeviceState.ONLINE, ("paper_out",)),  # type: ignore[arg-type]
                                 DeviceStatus(DeviceState.ONLINE, (), ["detail"])])  # type: ignore[arg-type]
def test_check_status_refuses_malformed_results(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"poll\(\) returned"):
        check_status(bad)


def test_check_status_accepts_a_good_status() -> None:
    check_status(DeviceStatus(DeviceState.ONLINE, (Fault("paper_near_end", Action.REPLENISH),), {"a": 1}))


def test_device_unavailable_is_a_driver_error() -> None:
    assert issubclass(DeviceUnavailable, DriverError)
