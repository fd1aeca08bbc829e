"""agent/devices/publisher.py: snapshot replacement, since stamps, transition logs, listener calls."""

from __future__ import annotations

import structlog
from structlog.testing import capture_logs

from agent.devices.publisher import SnapshotPublisher, describe
from agent.devices.snapshot import DeviceSnapshot
from drivers.base.clock import FakeClock
from drivers.base.health import Action, DeviceState, Fault

Calls = list[tuple[DeviceSnapshot, DeviceSnapshot | None]]
PAPER = Fault("paper_near_end", Action.REPLENISH, text="a")
NO_RESPONSE = Fault("no_response", Action.CHECK_CONNECTION)


def board(clock: FakeClock) -> tuple[SnapshotPublisher, Calls]:
    calls: Calls = []
    first = DeviceSnapshot("dev", "fake", True, DeviceState.STARTING, (), {}, clock.now())
    pub = SnapshotPublisher(first, clock=clock, listener=lambda new, old: calls.append((new, old)),
                            log=structlog.get_logger("test").bind(device="dev"))
    return pub, calls


def publish(pub: SnapshotPublisher, state: DeviceState, *faults: Fault, down_since: float | None = None) -> None:
    pub.publish(state, faults, {"n": len(faults)}, last_ok_mono=None, consecutive_failures=0, last_error=None,
                down_since_mono=down_since)


def test_announce_hands_the_first_snapshot_over(fake_clock: FakeClock) -> None:
    pub, calls = board(fake_clock)
    pub.announce()
    assert calls == [(pub.current, None)] and pub.current.state is DeviceState.STARTING


def test_only_a_change_of_state_or_fault_set_is_announced_and_stamped(fake_clock: FakeClock) -> None:
    pub, calls = board(fake_clock)
    publish(pub, DeviceState.ONLINE)
    first_since = pub.current.since
    fake_clock.advance(10)
    publish(pub, DeviceState.ONLINE)  # same state, same faults
    assert len(calls) == 1 and pub.current.since == first_since
    publish(pub, DeviceState.ONLINE, PAPER)
    changed = pub.current
    assert changed.since == fake_clock.now() != first_since and len(calls) == 2
    fake_clock.advance(10)
    publish(pub, DeviceState.ONLINE, Fault("paper_near_end", Action.REPLENISH, text="other text"))
    # a new fault text is not a new fault set: the snapshot is replaced, nobody is told
    assert len(calls) == 2 and pub.current.since == changed.since and pub.current.faults[0].text == "other text"
    assert calls[1] == (changed, calls[0][0])


def test_transitions_are_logged_by_kind(fake_clock: FakeClock) -> None:
    pub, _ = board(fake_clock)
    with capture_logs() as logs:
        publish(pub, DeviceState.ONLINE)
        publish(pub, DeviceState.OFFLINE, NO_RESPONSE)
        down_since = fake_clock.monotonic()
        publish(pub, DeviceState.NO_DEVICE, NO_RESPONSE)
        fake_clock.advance(42)
        publish(pub, DeviceState.ONLINE, down_since=down_since)
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("device_state_changed", "info"), ("device_offline", "warning"), ("device_state_changed", "info"),
        ("device_recovered", "info")]
    assert logs[1]["faults"] == ["no_response"] and logs[3]["down_s"] == 42
    assert all(e["device"] == "dev" for e in logs)


def test_a_raising_listener_is_logged_and_the_snapshot_still_replaced(fake_clock: FakeClock) -> None:
    def listener(new: DeviceSnapshot, old: DeviceSnapshot | None) -> None:
        raise OSError("database is locked")

    first = DeviceSnapshot("dev", "fake", True, DeviceState.STARTING, (), {}, fake_clock.now())
    pub = SnapshotPublisher(first, clock=fake_clock, listener=listener, log=structlog.get_logger("test"))
    with capture_logs() as logs:
        publish(pub, DeviceState.ONLINE)
    assert pub.current.state is DeviceState.ONLINE
    failed = [e for e in logs if e["event"] == "device_listener_failed"]
    assert len(failed) == 1 and failed[0]["error"] == "OSError: database is locked"


def test_describe() -> None:
    assert describe(ValueError("bad baudrate")) == "ValueError: bad baudrate"
