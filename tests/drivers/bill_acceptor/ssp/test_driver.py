"""SspDriver against SspPeer in memory on a fake clock (plain SSP and eSSP): session, notes, faults,
link faults."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from drivers import build_driver
from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import DriverError
from drivers.base.health import Action, DeviceState, DeviceStatus, SelftestLevel, SelftestOutcome
from drivers.bill_acceptor.ssp.driver import SspDriver
from drivers.bill_acceptor.ssp.messages import Command
from simulators.base.loopback import LoopbackPeerLink
from simulators.bill_acceptor_ssp import SspPeer
from tests.drivers.bill_acceptor.ssp.conftest import SspFactory
from tests.drivers.bill_acceptor.support import (
    Journal,
    acceptor_status,
    assert_device_fault_round_trip,
    loop_link,
    poll_until,
)


def idle(status: DeviceStatus) -> bool:
    return status.detail.get("acceptor_status") in ("IDLE", "DISABLED")


def stacked(journal: Journal, n: int = 1) -> Callable[[DeviceStatus], bool]:
    return lambda s: idle(s) and len(journal.of("note_stacked")) >= n


@pytest.fixture(params=[False, True], ids=["ssp", "essp"])
def encrypted(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def peer(encrypted: bool) -> SspPeer:
    return SspPeer(seed=7, require_encryption=encrypted)


@pytest.fixture
def ready(make_driver: SspFactory, encrypted: bool) -> SspDriver:
    drv = make_driver(encrypted=encrypted)
    drv.operation("enable", {})
    poll_until(drv, acceptor_status("IDLE"))
    return drv


def test_registered_and_options_checked(link: LoopbackPeerLink) -> None:
    assert isinstance(build_driver(DeviceSpec("ba", "bill_acceptor", "ssp", link.url), DriverContext()), SspDriver)
    assert SspDriver.check_options({"encrypted": True, "fixed_key": "0123456701234567"}) == []
    assert SspDriver.check_options({"encrypted": "yes", "fixed_key": "12", "bogus": 1}) == [
        "bogus: unknown option for bill_acceptor", "encrypted: must be true or false",
        "fixed_key: must be 16 hex digits"]


def test_plain_commands_refused_by_an_essp_only_unit() -> None:
    link = loop_link(SspPeer(require_encryption=True))
    drv = SspDriver(DeviceSpec("ba", "bill_acceptor", "ssp", link.url, timeout_s=0.3),
                    DriverContext(clock=link.link.clock, open_transport=link.opener()))
    drv.open()
    with pytest.raises(DriverError, match="KEY_NOT_SET"):
        drv.poll()
    drv.close()


def test_session_then_a_note_credited_once(ready: SspDriver, peer: SspPeer, journal: Journal,
                                           encrypted: bool) -> None:
    assert peer.snapshot()["encrypted"] is encrypted and peer.inhibits == frozenset(range(1, 7))
    assert peer.commands[0] is Command.SYNC and ready.setup is not None and ready.setup.values()[5] == 50
    assert peer.act("insert_note", ["50"])["accepted"]
    poll_until(ready, stacked(journal))
    (escrowed,) = journal.of("note_escrowed")
    assert journal.of("note_stacked") == [escrowed] and escrowed["value_fen"] == 5000
    assert peer.stacked == [50] and journal.kinds() == ["note_escrowed", "note_stacked"]


def test_journal_failure_at_credit_repeats_the_same_events(ready: SspDriver, peer: SspPeer,
                                                           journal: Journal) -> None:
    journal.fail["note_stacked"] = 2
    peer.act("insert_note", ["20"])
    poll_until(ready, lambda s: "credit_pending" in s.fault_codes)
    poll_until(ready, stacked(journal))
    attempts = [d for k, d in journal.attempts if k == "note_stacked"]
    assert len(attempts) == 3 and len({a["note_id"] for a in attempts}) == 1
    assert len(journal.of("note_stacked")) == 1 and peer.stacked == [20] and peer.credit_reports == 1


def test_disabled_denomination_is_rejected_at_escrow(make_driver: SspFactory, peer: SspPeer, journal: Journal,
                                                     encrypted: bool) -> None:
    drv = make_driver(encrypted=encrypted, accept=[10, 20])
    drv.operation("enable", {})
    poll_until(drv, acceptor_status("IDLE"))
    assert peer.inhibits == frozenset({3, 4})
    peer.act("insert_note", ["100"])  # inhibited channel: the validator rejects it
    poll_until(drv, lambda s: idle(s) and bool(journal.of("note_rejected")))
    peer.inhibits = frozenset(range(1, 7))  # a unit that ignores inhibits: the host rejects at escrow
    peer.act("insert_note", ["100"])
    poll_until(drv, lambda s: idle(s) and bool(journal.of("note_returned")))
    assert journal.of("note_returned")[0]["reason"] == "denomination_disabled"
    assert Command.REJECT_BANKNOTE in peer.commands and peer.stacked == [] and journal.of("note_stacked") == []


DEVICE_FAULTS = [
    ("jam", "UNSAFE_JAM", DeviceState.HARDWARE_ERROR, "jam", Action.CLEAR, "jams"),
    ("safe_jam", "SAFE_JAM", DeviceState.HARDWARE_ERROR, "jam", Action.CLEAR, "jams"),
    ("cassette_full", "STACKER_FULL", DeviceState.USER_ERROR, "cassette_full", Action.REPLENISH, "cassette_full"),
    ("cassette_removed", "CASHBOX_REMOVED", DeviceState.USER_ERROR, "cassette_removed", Action.CLEAR,
     "cassette_removals"),
    ("fraud_attempt", "FRAUD_ATTEMPT", DeviceState.FRAUD_ATTEMPT, "fraud_attempt", Action.MAINTENANCE,
     "fraud_attempts"),
    ("failure", "CALIBRATION_FAIL", DeviceState.HARDWARE_ERROR, "failure", Action.MAINTENANCE, "failures"),
]


@pytest.mark.parametrize(("fault", "wire", "state", "code", "action", "counter"), DEVICE_FAULTS,
                         ids=[f[0] for f in DEVICE_FAULTS])
def test_device_fault_in_health_at_the_next_poll(ready: SspDriver, peer: SspPeer, fault: str, wire: str,
                                                 state: DeviceState, code: str, action: Action, counter: str) -> None:
    assert_device_fault_round_trip(ready, peer, fault, wire, state, code, action, counter, "IDLE")


def test_note_lost_in_a_jam_is_reconciled(ready: SspDriver, peer: SspPeer, journal: Journal) -> None:
    peer.act("insert_note", ["50"])
    poll_until(ready, acceptor_status("STACKING"))
    peer.set_fault("jam")
    assert ready.poll().fault_codes == ["jam"]
    peer.set_fault("jam", False)
    poll_until(ready, idle)
    (reconcile,) = journal.of("note_reconcile")
    assert reconcile["reason"] == "stack_not_confirmed" and journal.of("note_stacked") == []


def test_reset_with_the_note_inside(ready: SspDriver, peer: SspPeer, journal: Journal) -> None:
    peer.act("insert_note", ["100"])
    poll_until(ready, acceptor_status("STACKING"))
    peer.set_fault("power_up_with_bill")
    status = ready.poll()
    assert status.fault_codes == ["power_up_with_bill"] and status.detail["bill_in"] == "stacker"
    (reconcile,) = journal.of("note_reconcile")
    assert reconcile["reason"] == "power_up_with_bill_in_stacker" and reconcile["value_fen"] == 10000
    poll_until(ready, acceptor_status("IDLE"), what="re-synced and re-enabled")
    assert peer.stacked == [100] and journal.of("note_stacked") == []


def test_selftest_levels(ready: SspDriver, peer: SspPeer) -> None:
    internal = ready.selftest(SelftestLevel.INTERNAL)
    assert internal.result is SelftestOutcome.PASS and internal.details["version"] == "NV0200420CNY01 SN 71234567"
    external = ready.selftest(SelftestLevel.EXTERNAL)
    assert external.result is SelftestOutcome.PASS, external
    peer.set_fault("jam")
    failed = ready.selftest(SelftestLevel.INTERNAL)
    assert failed.result is SelftestOutcome.FAIL and failed.code == "ssp:0xE9" and failed.action is Action.CLEAR
