"""What every unit must do, whatever its class: the first run of a field engineer on a new model.

Each test runs against every simulated class in every run (``device``: in memory, virtual time;
``port_device``: a real pty), and against the one real unit ``--device-url`` names with
``-m hardware``. The tests that need a fault made on demand (``simulator_only``) skip on hardware.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from drivers.base.errors import DeviceTimeout, DriverError
from drivers.base.health import Action, DeviceState, DeviceStatus, SelftestLevel, SelftestOutcome
from tests.hardware.bench import Bench

SCHEMA = Path(__file__).resolve().parents[2] / "contract" / "schemas" / "common.schema.json"

#: counters a driver keeps for a reply it could not use the first time (any protocol)
LINE_ERRORS = ("communication_errors", "checksum_errors", "frame_errors", "link_errors", "timeouts", "naks",
               "ack_timeouts", "dropped_bytes", "stale_replies", "late_replies")


@cache
def fault_codes(device_class: str) -> frozenset[str]:
    """The fault codes the MQTT contract allows for ``device_class`` (contract/schemas/common.schema.json)."""
    defs = json.loads(SCHEMA.read_text())["$defs"]
    return frozenset(defs[f"faultCode.{device_class}"].get("enum", ())) | frozenset(defs["genericFaultCode"]["enum"])


def check_sane(device: Bench, status: DeviceStatus) -> None:
    """A status the agent can publish: a known state, faults of the class's contract with an action and
    words, a JSON-able detail."""
    assert isinstance(status, DeviceStatus)
    assert DeviceState(status.state) is status.state
    unknown = set(status.fault_codes) - fault_codes(device.target.device_class)
    assert not unknown, f"fault codes not in the contract: {sorted(unknown)}"
    for fault in status.faults:
        assert isinstance(fault.action, Action) and fault.text, fault
    json.dumps(status.detail)


def test_opens_and_closes(device: Bench) -> None:
    device.driver.open()
    device.driver.close()
    device.driver.close()  # closing twice is harmless (the poller does it on every reopen)


def test_poll_returns_a_sane_status_within_the_timeout(device: Bench) -> None:
    device.driver.open()
    check_sane(device, device.settle())
    timeout_s = device.driver.spec.timeout_s
    for _ in range(3):
        started = device.clock.monotonic()
        status = device.driver.poll()
        took = device.clock.monotonic() - started
        check_sane(device, status)
        assert took <= timeout_s, f"a poll of a settled unit took {took:.3f} s, more than the {timeout_s} s timeout"
    print(f"status: {status.state.value} faults={status.fault_codes} detail={status.detail}")


def test_every_reply_is_understood_the_first_time(device: Bench) -> None:
    """Nothing the unit sent was rejected by the codec, cut short or retried: the driver's line-error
    counters stay at zero over a settled unit's polls."""
    device.driver.open()
    device.settle()
    for _ in range(3):
        device.driver.poll()
    errors = {k: v for k, v in device.driver.counters().items() if k in LINE_ERRORS and v}
    rejected = [e for e in device.log if str(e.get("event", "")).endswith(("_bad_reply", "_bad_packet"))]
    assert not errors and not rejected, f"line errors {errors}, replies the codec rejected: {rejected}"


def test_the_unit_is_ready(device: Bench) -> None:
    device.driver.open()
    status = device.settle()
    check_sane(device, status)
    assert status.state.usable, (f"the unit reports {status.state.value}: "
                                 + "; ".join(f"{f.code} ({f.text}; action {f.action.value})" for f in status.faults)
                                 + ". Clear it (paper, cover, cassette, card) and run again.")


def test_internal_selftest_passes(device: Bench) -> None:
    device.driver.open()
    device.settle()
    result = device.driver.selftest(SelftestLevel.INTERNAL)
    print(f"selftest internal: {result}")
    assert result.level is SelftestLevel.INTERNAL
    assert result.result is SelftestOutcome.PASS, f"{result.reason} (code {result.code}, action {result.action.value})"


def test_reopens_after_close_on_the_real_port(port_device: Bench) -> None:
    driver = port_device.driver
    driver.open()
    assert port_device.settle().state.usable
    driver.close()
    with pytest.raises(DriverError):
        driver.poll()  # closed is closed: no answer from a port that is not open
    driver.open()
    status = port_device.settle()
    check_sane(port_device, status)
    assert status.state.usable, status
    assert any(way == "rx" for _, way, _ in port_device.trace)


def test_garbage_on_the_line_is_survived(simulator_only: Bench) -> None:
    """Random bytes before every reply: each poll answers or raises a DriverError (never anything else),
    and the unit is back to usable within three polls once the line is clean."""
    device = simulator_only
    assert device.peer is not None
    device.driver.open()
    device.settle()
    device.peer.set_fault("garbage")
    for _ in range(3):
        try:
            check_sane(device, device.driver.poll())
        except DriverError:
            pass
    device.peer.set_fault("garbage", False)
    states = []
    for _ in range(3):
        try:
            states.append(device.driver.poll().state)
        except DriverError as exc:
            states.append(type(exc).__name__)
        if states[-1] in (DeviceState.ONLINE, DeviceState.DEVICE_BUSY):
            break
    assert states[-1] in (DeviceState.ONLINE, DeviceState.DEVICE_BUSY), states


def test_a_mute_unit_is_a_timeout_not_a_status(simulator_only: Bench) -> None:
    device = simulator_only
    assert device.peer is not None
    device.driver.open()
    device.settle()
    device.peer.set_fault("mute")
    started = device.clock.monotonic()
    with pytest.raises(DeviceTimeout):
        device.driver.poll()
    took = device.clock.monotonic() - started
    assert took <= 10 * device.driver.spec.timeout_s, f"a mute unit held the poll {took:.1f} s"


#: a device fault the simulator makes, and the fault code the status must then carry
FAULTS = {"receipt_printer": ("paper_out", "paper_out"), "bill_acceptor": ("cassette_full", "cassette_full"),
          "card_reader": ("card_jam", "card_jam"), "id_reader": ("sam_failure", "sam_failure"),
          "coin_acceptor": ("jam", "coin_jam")}


def test_a_device_fault_shows_in_the_status_within_two_polls(simulator_only: Bench) -> None:
    device = simulator_only
    if device.target.device_class not in FAULTS:
        pytest.skip(f"{device.target.device_class} reports no device fault in its status")
    assert device.peer is not None
    fault, code = FAULTS[device.target.device_class]
    device.driver.open()
    device.settle()
    device.peer.set_device_fault(fault, True)
    seen = [device.driver.poll() for _ in range(2)]
    assert code in seen[-1].fault_codes, [s.fault_codes for s in seen]
    check_sane(device, seen[-1])
