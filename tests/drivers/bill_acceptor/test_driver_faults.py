"""Every simulator fault, device and link, against Id003Driver in memory on a fake clock."""

from __future__ import annotations

import pytest

from drivers.base.errors import DeviceRefused, DeviceTimeout, DriverError, FrameError, TransportError
from drivers.base.health import Action, DeviceState
from drivers.bill_acceptor.id003.driver import Id003Driver
from simulators.base.loopback import LoopbackPeerLink
from simulators.bill_acceptor_id003 import Id003Peer
from tests.drivers.bill_acceptor.conftest import DriverFactory
from tests.drivers.bill_acceptor.support import Journal, acceptor_status, idle, poll_until


@pytest.fixture
def ready(driver: Id003Driver) -> Id003Driver:
    """A driver past the power-up sequence, accepting notes."""
    driver.operation("enable", {})
    poll_until(driver, acceptor_status("IDLING"))
    return driver


DEVICE_FAULTS = [
    # sim fault, acceptor status, state, fault code, action, counter
    ("jam", "ACCEPTOR_JAM", DeviceState.HARDWARE_ERROR, "jam", Action.CLEAR, "jams"),
    ("stacker_jam", "STACKER_JAM", DeviceState.HARDWARE_ERROR, "jam", Action.CLEAR, "jams"),
    ("cassette_full", "STACKER_FULL", DeviceState.USER_ERROR, "cassette_full", Action.REPLENISH, "cassette_full"),
    ("cassette_removed", "STACKER_OPEN", DeviceState.USER_ERROR, "cassette_removed", Action.CLEAR,
     "cassette_removals"),
    ("fraud_attempt", "CHEATED", DeviceState.FRAUD_ATTEMPT, "fraud_attempt", Action.MAINTENANCE, "fraud_attempts"),
    ("failure", "FAILURE", DeviceState.HARDWARE_ERROR, "failure", Action.MAINTENANCE, "failures"),
]


@pytest.mark.parametrize(("fault", "wire", "state", "code", "action", "counter"), DEVICE_FAULTS,
                         ids=[f[0] for f in DEVICE_FAULTS])
def test_device_fault(ready: Id003Driver, peer: Id003Peer, fault: str, wire: str, state: DeviceState, code: str,
                      action: Action, counter: str) -> None:
    peer.set_fault(fault)
    status = ready.poll()
    assert status.detail["acceptor_status"] == wire
    assert status.state is state and status.fault_codes == [code] and status.action is action
    assert not state.usable
    ready.poll()  # still on: counted once, on entry
    assert ready.counters()[counter] == 1
    assert ready.operation("status", {})["accepting"] is False
    with pytest.raises(DeviceRefused) as refused:
        ready.operation("enable", {})
    assert refused.value.code == code
    assert peer.act("insert_note", ["50"])["accepted"] is False
    peer.set_fault(fault, False)
    back = poll_until(ready, acceptor_status("IDLING"), what="recovery")
    assert back.state is DeviceState.ONLINE and back.faults == ()


def test_failure_reports_its_code(ready: Id003Driver, peer: Id003Peer) -> None:
    peer.failure_code = 0xA6
    peer.set_fault("failure")
    status = ready.poll()
    assert status.detail["failure_code"] == "0xA6" and status.detail["failure"] == "TRANS_MOTOR_FAULT"
    assert status.detail["vendor_code"] == "id003:0x49/0xA6"


def test_pause_does_not_refuse(ready: Id003Driver, peer: Id003Peer) -> None:
    peer.set_fault("pause")
    status = ready.poll()
    assert status.fault_codes == ["paused"] and status.state is DeviceState.DEVICE_BUSY
    assert ready.operation("enable", {})["enabled"] is True
    peer.set_fault("pause", False)
    poll_until(ready, acceptor_status("IDLING"))


def test_cassette_full_by_count_then_replenished(make_driver: DriverFactory, peer: Id003Peer,
                                                 journal: Journal) -> None:
    peer.capacity = 2
    drv = make_driver()
    assert drv.operation("enable", {})["state"] == "starting"  # enabled once the init sequence is done
    poll_until(drv, acceptor_status("IDLING"))
    for value in ("10", "20"):
        assert peer.act("insert_note", [value])["accepted"]
        poll_until(drv, lambda s: s.detail["acceptor_status"] in ("IDLING", "STACKER_FULL"))
    full = poll_until(drv, acceptor_status("STACKER_FULL"))
    assert full.fault_codes == ["cassette_full"] and full.action is Action.REPLENISH
    assert [e["value_fen"] for e in journal.of("note_stacked")] == [1000, 2000]
    assert peer.act("empty_cassette", []) == {"emptied": 2}
    poll_until(drv, acceptor_status("IDLING"))


@pytest.mark.parametrize("fault", ["jam", "stacker_jam", "cassette_removed"])
def test_note_lost_mid_stack_is_reconciled_not_credited(ready: Id003Driver, peer: Id003Peer, journal: Journal,
                                                        fault: str) -> None:
    peer.act("insert_note", ["50"])
    poll_until(ready, acceptor_status("STACKING"))
    peer.set_fault(fault)  # the note jams (or the box is pulled) before VEND_VALID
    assert ready.poll().fault_codes
    assert ready.note_in_flight
    peer.set_fault(fault, False)
    poll_until(ready, idle)
    assert journal.of("note_stacked") == []
    (reconcile,) = journal.of("note_reconcile")
    assert reconcile["reason"] == "stack_not_confirmed" and reconcile["value_fen"] == 5000
    assert reconcile["note_id"] == journal.of("note_escrowed")[0]["note_id"]
    assert peer.stacked == []


def test_power_up_with_bill_in_stacker(ready: Id003Driver, peer: Id003Peer, journal: Journal) -> None:
    peer.act("insert_note", ["100"])
    poll_until(ready, acceptor_status("STACKING"))
    peer.set_fault("power_up_with_bill")  # power cut while the note is being stacked
    status = ready.poll()
    assert status.detail["acceptor_status"] == "POWER_UP_WITH_BILL_IN_STACKER"
    assert status.state is DeviceState.STARTING and status.fault_codes == ["power_up_with_bill"]
    (reconcile,) = journal.of("note_reconcile")
    assert reconcile["reason"] == "power_up_with_bill_in_stacker"
    assert reconcile["value_fen"] == 10000 and reconcile["credited"] is False
    poll_until(ready, acceptor_status("IDLING"), what="re-initialised and re-enabled")
    assert journal.of("note_stacked") == []  # never credited blindly
    assert peer.stacked == [100]  # RESET stacked it: the reconcile record says which note
    assert ready.counters()["power_up_with_bill"] == 1


def test_reconcile_not_journalled_is_retried_before_reset(ready: Id003Driver, peer: Id003Peer,
                                                          journal: Journal) -> None:
    peer.act("insert_note", ["50"])
    poll_until(ready, acceptor_status("STACKING"))
    peer.set_fault("power_up_with_bill")
    journal.fail["note_reconcile"] = 1
    status = ready.poll()
    assert "event_pending" in status.fault_codes
    assert peer.state.name == "POWER_UP_WITH_BILL_IN_STACKER"  # no RESET before the record is durable
    poll_until(ready, acceptor_status("IDLING"))
    assert len(journal.of("note_reconcile")) == 1
    assert peer.stacked == [50] and journal.of("note_stacked") == []


def test_power_up_with_bill_in_acceptor(ready: Id003Driver, peer: Id003Peer, journal: Journal) -> None:
    peer.act("insert_note", ["20"])
    peer.set_fault("power_up_with_bill")
    status = ready.poll()
    assert status.detail["acceptor_status"] == "POWER_UP_WITH_BILL_IN_ACCEPTOR"
    assert journal.of("note_reconcile")[0]["reason"] == "power_up_with_bill_in_acceptor"
    poll_until(ready, acceptor_status("IDLING"))
    assert peer.returned == 1 and peer.stacked == []
    assert journal.of("note_stacked") == []


# -- link faults -------------------------------------------------------------------------------
def test_mute_is_a_timeout_then_recovers(ready: Id003Driver, peer: Id003Peer) -> None:
    peer.set_fault("mute")
    with pytest.raises(DeviceTimeout):
        ready.poll()
    with pytest.raises(DeviceTimeout):
        ready.operation("enable", {})
    assert ready.counters()["communication_errors"] >= 3
    peer.set_fault("mute", False)
    assert ready.poll().detail["acceptor_status"] == "IDLING"


def test_slow_is_a_timeout_then_recovers(make_driver: DriverFactory, peer: Id003Peer) -> None:
    drv = make_driver(timeout_s=0.1)
    poll_until(drv, idle)
    peer.slow_delay_s = 0.5
    peer.set_fault("slow")
    with pytest.raises(DeviceTimeout):
        drv.poll()
    peer.set_fault("slow", False)
    # late answers to the timed-out requests may still arrive; they are real statuses, and the
    # driver settles back on the true one
    status = poll_until(drv, acceptor_status("DISABLE"))
    assert status.state is DeviceState.ONLINE


def test_garbage_before_replies_is_skipped(ready: Id003Driver, peer: Id003Peer, journal: Journal) -> None:
    peer.set_fault("garbage")
    for _ in range(20):
        try:
            status = ready.poll()
        except DriverError:
            continue  # a clear error is allowed; a wrong status is not
        assert status.detail["acceptor_status"] == "IDLING"
    peer.act("insert_note", ["50"])
    poll_until(ready, lambda s: s.detail["acceptor_status"] == "IDLING" and bool(journal.of("note_stacked")),
               what="note stacked through garbage")
    assert [e["value_fen"] for e in journal.of("note_stacked")] == [5000]


@pytest.mark.parametrize("fault", ["bad_checksum", "truncated"])
def test_corrupt_replies_are_a_clear_error(ready: Id003Driver, peer: Id003Peer, fault: str) -> None:
    peer.set_fault(fault)
    with pytest.raises(FrameError):
        ready.poll()
    assert ready.counters()["communication_errors"] >= 3
    peer.set_fault(fault, False)
    assert ready.poll().detail["acceptor_status"] == "IDLING"


def test_corrupt_reply_during_credit_never_double_credits(ready: Id003Driver, peer: Id003Peer,
                                                          journal: Journal) -> None:
    peer.act("insert_note", ["10"])
    poll_until(ready, acceptor_status("STACKING"))
    peer.set_fault("bad_checksum")
    with pytest.raises(FrameError):
        ready.poll()
    peer.set_fault("bad_checksum", False)
    poll_until(ready, idle)
    assert [e["value_fen"] for e in journal.of("note_stacked")] == [1000]


def test_disconnect_then_reopen(ready: Id003Driver, peer: Id003Peer, link: LoopbackPeerLink) -> None:
    link.disconnect()
    with pytest.raises(TransportError):
        for _ in range(5):
            ready.poll()
    with pytest.raises(TransportError):
        ready.open()  # the port is gone
    link.reconnect()
    ready.open()
    assert ready.poll().detail["acceptor_status"] == "IDLING"
