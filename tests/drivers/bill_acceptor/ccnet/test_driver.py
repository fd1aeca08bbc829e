"""CcnetDriver against CcnetPeer in memory on a fake clock: session, notes, faults, link faults, restarts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from drivers import build_driver
from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.health import Action, DeviceState, DeviceStatus, SelftestLevel, SelftestOutcome
from drivers.bill_acceptor.ccnet.constants import Command
from drivers.bill_acceptor.ccnet.driver import CcnetDriver
from simulators.base.loopback import LoopbackPeerLink
from simulators.bill_acceptor_ccnet import CcnetPeer
from tests.drivers.bill_acceptor.ccnet.conftest import CcnetFactory
from tests.drivers.bill_acceptor.support import Journal, acceptor_status, assert_device_fault_round_trip, poll_until


def idle(status: DeviceStatus) -> bool:
    return status.detail.get("acceptor_status") in ("IDLING", "UNIT_DISABLED")


def stacked(journal: Journal, n: int = 1) -> Callable[[DeviceStatus], bool]:
    return lambda s: idle(s) and len(journal.of("note_stacked")) >= n


@pytest.fixture
def ready(driver: CcnetDriver) -> CcnetDriver:
    driver.operation("enable", {})
    poll_until(driver, acceptor_status("IDLING"))
    return driver


def test_registered_in_driver_registry(link: LoopbackPeerLink) -> None:
    assert isinstance(build_driver(DeviceSpec("ba", "bill_acceptor", "ccnet", link.url), DriverContext()),
                      CcnetDriver)


def test_power_up_reset_settings_then_disabled(driver: CcnetDriver, peer: CcnetPeer) -> None:
    status = poll_until(driver, acceptor_status("UNIT_DISABLED"))
    assert status.state is DeviceState.ONLINE and status.detail["accepting"] is False
    assert peer.commands[:2] == [Command.POLL, Command.ACK] and Command.RESET in peer.commands
    assert {Command.SET_SECURITY, Command.GET_BILL_TABLE, Command.ENABLE_BILL_TYPES} <= set(peer.commands)
    assert driver.bill_table is not None and driver.bill_table.used()[5].value == 100.0


def test_note_is_credited_once_at_bill_stacked(ready: CcnetDriver, peer: CcnetPeer, journal: Journal) -> None:
    assert peer.act("insert_note", ["50"])["accepted"]
    poll_until(ready, stacked(journal), what="note stacked")
    (escrowed,) = journal.of("note_escrowed")
    (credit,) = journal.of("note_stacked")
    assert credit == {**escrowed, "value_fen": 5000} and credit["denomination_code"] == "0x04"
    assert journal.kinds() == ["note_escrowed", "note_stacked"] and peer.stacked == [50]
    assert ready.counters()["notes_stacked_50"] == 1


def test_disabled_denomination_is_returned(make_driver: CcnetFactory, peer: CcnetPeer, journal: Journal) -> None:
    drv = make_driver(accept=[10, 20])
    drv.operation("enable", {})
    poll_until(drv, acceptor_status("IDLING"))
    assert peer.enabled == frozenset({2, 3})
    peer.act("insert_note", ["100"])
    poll_until(drv, lambda s: idle(s) and bool(journal.of("note_rejected")))
    assert journal.of("note_rejected")[0]["reason"] == "inhibit" and peer.stacked == []
    peer.enabled = frozenset(peer.denominations)  # a unit that ignores the inhibit: the host returns at escrow
    peer.act("insert_note", ["100"])
    poll_until(drv, lambda s: idle(s) and bool(journal.of("note_returned")))
    assert journal.of("note_returned")[0]["reason"] == "denomination_disabled"
    assert peer.returned == 1 and journal.of("note_stacked") == []


def test_journal_failure_at_credit_means_no_ack_and_the_same_note_id(ready: CcnetDriver, peer: CcnetPeer,
                                                                      journal: Journal) -> None:
    journal.fail["note_stacked"] = 2
    peer.act("insert_note", ["20"])
    poll_until(ready, lambda s: "credit_pending" in s.fault_codes, what="credit pending")
    assert peer.state.name == "BILL_STACKED"  # not acknowledged: reported again
    poll_until(ready, stacked(journal))
    attempts = [d for k, d in journal.attempts if k == "note_stacked"]
    assert len(attempts) == 3 and len({a["note_id"] for a in attempts}) == 1
    assert len(journal.of("note_stacked")) == 1 and peer.stacked == [20] and peer.stacked_reports >= 3


def test_restart_mid_note_reconciles_never_credits_blindly(ready: CcnetDriver, peer: CcnetPeer,
                                                            make_driver: CcnetFactory, journal: Journal) -> None:
    peer.act("insert_note", ["10"])
    poll_until(ready, acceptor_status("STACKING"))
    ready.close()  # the agent dies with the note in flight; a new one attaches
    fresh = make_driver()
    poll_until(fresh, idle)
    (reconcile,) = journal.of("note_reconcile")
    assert reconcile["reason"] == "credit_without_escrow" and reconcile["value_fen"] == 1000
    assert journal.of("note_stacked") == [] and peer.stacked == [10]


DEVICE_FAULTS = [
    ("jam", "VALIDATOR_JAMMED", DeviceState.HARDWARE_ERROR, "jam", Action.CLEAR, "jams"),
    ("stacker_jam", "DROP_CASSETTE_JAMMED", DeviceState.HARDWARE_ERROR, "jam", Action.CLEAR, "jams"),
    ("cassette_full", "DROP_CASSETTE_FULL", DeviceState.USER_ERROR, "cassette_full", Action.REPLENISH,
     "cassette_full"),
    ("cassette_removed", "DROP_CASSETTE_OUT_OF_POSITION", DeviceState.USER_ERROR, "cassette_removed", Action.CLEAR,
     "cassette_removals"),
    ("fraud_attempt", "CHEATED", DeviceState.FRAUD_ATTEMPT, "fraud_attempt", Action.MAINTENANCE, "fraud_attempts"),
    ("failure", "FAILURE", DeviceState.HARDWARE_ERROR, "failure", Action.MAINTENANCE, "failures"),
]


@pytest.mark.parametrize(("fault", "wire", "state", "code", "action", "counter"), DEVICE_FAULTS,
                         ids=[f[0] for f in DEVICE_FAULTS])
def test_device_fault_in_health_at_the_next_poll(ready: CcnetDriver, peer: CcnetPeer, fault: str, wire: str,
                                                 state: DeviceState, code: str, action: Action, counter: str) -> None:
    assert_device_fault_round_trip(ready, peer, fault, wire, state, code, action, counter, "IDLING")


def test_failure_code_in_detail(ready: CcnetDriver, peer: CcnetPeer) -> None:
    peer.failure_code = 0x55
    peer.set_fault("failure")
    status = ready.poll()
    assert status.detail["failure"] == "OPTIC_CANAL_FAILURE" and status.detail["vendor_code"] == "ccnet:0x47/0x55"


@pytest.mark.parametrize("fault", ["jam", "cassette_removed"])
def test_note_lost_mid_stack_is_reconciled(ready: CcnetDriver, peer: CcnetPeer, journal: Journal, fault: str) -> None:
    peer.act("insert_note", ["50"])
    poll_until(ready, acceptor_status("STACKING"))
    peer.set_fault(fault)
    assert ready.poll().fault_codes
    peer.set_fault(fault, False)
    poll_until(ready, idle)
    assert journal.of("note_stacked") == []
    (reconcile,) = journal.of("note_reconcile")
    assert reconcile["reason"] == "stack_not_confirmed" and reconcile["value_fen"] == 5000


def test_power_up_with_bill_in_stacker(ready: CcnetDriver, peer: CcnetPeer, journal: Journal) -> None:
    peer.act("insert_note", ["100"])
    poll_until(ready, acceptor_status("STACKING"))
    peer.set_fault("power_up_with_bill")
    status = ready.poll()
    assert status.fault_codes == ["power_up_with_bill"] and status.state is DeviceState.STARTING
    assert journal.of("note_reconcile")[0]["reason"] == "power_up_with_bill_in_stacker"
    poll_until(ready, acceptor_status("IDLING"))
    assert peer.stacked == [100] and journal.of("note_stacked") == []


def test_selftest_levels(ready: CcnetDriver, peer: CcnetPeer) -> None:
    internal = ready.selftest(SelftestLevel.INTERNAL)
    assert internal.result is SelftestOutcome.PASS and internal.details["version"] == "SM-CN2414 SN 41K012345678"
    external = ready.selftest(SelftestLevel.EXTERNAL)
    assert external.result is SelftestOutcome.PASS and external.details["sequence"][0] == "RESET"
    peer.set_fault("jam")
    failed = ready.selftest(SelftestLevel.INTERNAL)
    assert failed.result is SelftestOutcome.FAIL and failed.code == "ccnet:0x43" and failed.action is Action.CLEAR
