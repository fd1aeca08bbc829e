"""The three self-test levels against the simulator, in memory on a fake clock."""

from __future__ import annotations

from drivers.base.health import Action, SelftestLevel, SelftestOutcome
from drivers.bill_acceptor.id003.constants import Command
from drivers.bill_acceptor.id003.driver import Id003Driver
from drivers.bill_acceptor.selftest import PROMPT
from simulators.base.loopback import LoopbackPeerLink
from simulators.bill_acceptor_id003 import Id003Peer
from tests.drivers.bill_acceptor.conftest import DriverFactory
from tests.drivers.bill_acceptor.support import Journal, idle, poll_until


def test_internal_pass(driver: Id003Driver) -> None:
    poll_until(driver, idle)
    result = driver.selftest(SelftestLevel.INTERNAL)
    assert result.result is SelftestOutcome.PASS, result
    assert result.details["version"] == "i(CHN)-100-SS ID003-05V200-23"
    assert result.details["acceptor_status"] == "DISABLE"


def test_internal_fails_with_fault(driver: Id003Driver, peer: Id003Peer) -> None:
    poll_until(driver, idle)
    peer.set_fault("cassette_removed")
    result = driver.selftest(SelftestLevel.INTERNAL)
    assert result.result is SelftestOutcome.FAIL
    assert result.action is Action.CLEAR and result.code == "id003:0x44"
    assert result.details["faults"] == ["cassette_removed"]


def test_internal_fails_when_mute(driver: Id003Driver, peer: Id003Peer) -> None:
    peer.set_fault("mute")
    result = driver.selftest(SelftestLevel.INTERNAL)
    assert result.result is SelftestOutcome.FAIL and result.action is Action.CHECK_CONNECTION
    assert "no answer" in result.reason


def test_external_resets_and_initialises(driver: Id003Driver, peer: Id003Peer) -> None:
    driver.operation("enable", {})
    poll_until(driver, lambda s: s.detail["acceptor_status"] == "IDLING")
    before = len(peer.commands)
    result = driver.selftest(SelftestLevel.EXTERNAL)
    assert result.result is SelftestOutcome.PASS, result
    sent = peer.commands[before:]
    assert sent[0] is Command.RESET
    assert {Command.SET_DENOM, Command.SET_SECURITY, Command.SET_OPT_FUNC, Command.SET_INHIBIT} <= set(sent)
    assert result.details["sequence"][:2] == ["RESET", "INITIALIZE"]
    assert result.details["acceptor_status"] == "IDLING"  # acceptance restored after the reset
    assert peer.inhibit is False


def test_external_fails_on_failure(driver: Id003Driver, peer: Id003Peer) -> None:
    poll_until(driver, idle)
    peer.set_fault("failure")
    result = driver.selftest(SelftestLevel.EXTERNAL)
    assert result.result is SelftestOutcome.FAIL and result.action is Action.MAINTENANCE
    assert result.code == "id003:0x49/0xA2"


def test_interactive_takes_a_note(make_driver: DriverFactory, peer: Id003Peer, journal: Journal,
                                  link: LoopbackPeerLink) -> None:
    prompts: list[str] = []
    inserted: list[dict[str, object]] = []

    def customer() -> None:  # after each request: once asked and the acceptor is enabled, insert one note
        if prompts and not inserted and not peer.inhibit and peer.state.name == "IDLING":
            inserted.append(peer.act("insert_note", ["20"]))

    link.after_request.append(customer)
    prompt = prompts.append

    drv = make_driver(prompt=prompt, interactive_timeout_s=5)
    poll_until(drv, idle)
    result = drv.selftest(SelftestLevel.INTERACTIVE)
    assert prompts == [PROMPT]
    assert result.result is SelftestOutcome.PASS, result
    assert result.details["value_fen"] == 2000 and result.details["denomination_code"] == "0x64"
    assert result.details["note_id"] == journal.of("note_stacked")[0]["note_id"]
    assert drv.wants_accepting is False
    poll_until(drv, lambda s: s.detail["acceptor_status"] == "DISABLE")
    assert peer.inhibit is True


def test_interactive_times_out(make_driver: DriverFactory, peer: Id003Peer) -> None:
    drv = make_driver(interactive_timeout_s=0.3)
    poll_until(drv, idle)
    result = drv.selftest(SelftestLevel.INTERACTIVE)
    assert result.result is SelftestOutcome.FAIL and result.code == "timeout"
    assert drv.wants_accepting is False
    assert peer.inhibit is True


def test_interactive_refused_by_fault(make_driver: DriverFactory, peer: Id003Peer) -> None:
    drv = make_driver(interactive_timeout_s=1)
    poll_until(drv, idle)
    peer.set_fault("cassette_full")
    result = drv.selftest(SelftestLevel.INTERACTIVE)
    assert result.result is SelftestOutcome.FAIL and result.code == "cassette_full"
