"""Id003Driver <-> Id003Peer: start-up, the money path, options. In memory on a fake clock, except
the line-settings and TCP tests, which go through pyserial end to end."""

from __future__ import annotations

from typing import Any

import pytest

import drivers.base.transport as transport_module
from drivers import build_driver
from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import TransportError
from drivers.base.health import DeviceState
from drivers.bill_acceptor.id003.constants import Command, Status
from drivers.bill_acceptor.id003.driver import Id003Driver
from simulators.base.link import PtyLink, TcpLink
from simulators.base.loopback import LoopbackPeerLink
from simulators.bill_acceptor_id003 import Id003Peer
from tests.drivers.bill_acceptor.conftest import DriverFactory
from tests.drivers.bill_acceptor.support import Journal, acceptor_status, idle, poll_until


def _enable(driver: Id003Driver) -> None:
    result = driver.operation("enable", {})
    assert result["enabled"] is True
    poll_until(driver, acceptor_status("IDLING"), what="IDLING")


def _take_note(driver: Id003Driver, peer: Id003Peer, value: str) -> None:
    assert peer.act("insert_note", [value])["accepted"] is True
    poll_until(driver, idle, what="note settled")


def test_registered_in_driver_registry(link: LoopbackPeerLink) -> None:
    drv = build_driver(DeviceSpec("ba", "bill_acceptor", "id003", link.url), DriverContext())
    assert isinstance(drv, Id003Driver)


def test_driver_asks_its_transport_for_9600_8e1(link: LoopbackPeerLink) -> None:
    opener = link.opener()
    drv = Id003Driver(DeviceSpec("ba", "bill_acceptor", "id003", link.url),
                      DriverContext(clock=link.link.clock, open_transport=opener))
    drv.open()
    assert opener.settings == {"baudrate": 9600, "bytesize": 8, "parity": "E", "stopbits": 1}  # type: ignore[attr-defined]
    assert drv.poll().detail["acceptor_status"] == "POWER_UP"
    assert link.host.writes[0] == bytes.fromhex("fc 05 11 27 56")  # STATUS REQUEST, byte-exact


def test_driver_requests_9600_8e1_from_pyserial(pty: PtyLink, monkeypatch: pytest.MonkeyPatch) -> None:
    # A pty ignores parity, so the line settings are checked where the driver asks for them.
    seen: list[dict[str, Any]] = []
    real = transport_module.open_transport

    def spy(port: str, **kwargs: Any) -> Any:
        seen.append({"port": port, **kwargs})
        return real(port, **kwargs)

    monkeypatch.setattr(transport_module, "open_transport", spy)
    drv = Id003Driver(DeviceSpec("ba", "bill_acceptor", "id003", pty.url), DriverContext())
    drv.open()
    try:
        assert seen[0]["baudrate"] == 9600 and seen[0]["bytesize"] == 8
        assert seen[0]["parity"] == "E" and seen[0]["stopbits"] == 1
        assert drv.link._transport is not None
        assert drv.link._transport._settings["parity"] == "E"  # type: ignore[attr-defined]
        assert drv.poll().detail["acceptor_status"] == "POWER_UP"
    finally:
        drv.close()
    assert Id003Peer.line == {"baudrate": 9600, "bytesize": 8, "parity": "E", "stopbits": 1}


def test_power_up_runs_reset_and_settings(driver: Id003Driver, peer: Id003Peer) -> None:
    first = driver.poll()
    assert first.state is DeviceState.STARTING
    assert driver.poll_interval_s == pytest.approx(0.2)
    status = poll_until(driver, idle, what="idle after init")
    assert status.state is DeviceState.ONLINE and status.detail["accepting"] is False
    assert peer.commands[:6] == [Command.STATUS_REQUEST, Command.RESET, Command.STATUS_REQUEST, Command.SET_DENOM,
                                 Command.SET_SECURITY, Command.SET_OPT_FUNC]
    assert Command.SET_INHIBIT in peer.commands and peer.inhibit is True
    assert peer.enabled_codes == frozenset(range(0x61, 0x67))
    assert driver.poll_interval_s == 5.0  # inhibited and idle: the configured interval


def test_attaches_to_acceptor_already_up(make_driver: DriverFactory, peer: Id003Peer) -> None:
    # a previous agent left the acceptor enabled with other settings; no power-up is reported
    peer.state, peer.inhibit, peer.enabled_codes = Status.IDLING, False, frozenset({0x61})
    drv = make_driver(accept=[10, 20])
    status = drv.poll()
    assert status.detail["acceptor_status"] == "DISABLE"
    assert peer.commands[:3] == [Command.STATUS_REQUEST, Command.SET_INHIBIT, Command.SET_DENOM]
    assert peer.enabled_codes == {0x63, 0x64} and peer.inhibit is True


def test_enable_disable(driver: Id003Driver, peer: Id003Peer) -> None:
    _enable(driver)
    assert peer.inhibit is False
    assert driver.poll_interval_s == pytest.approx(0.2)
    status = driver.operation("status", {})
    assert status["accepting"] is True and status["state"] == "online"
    result = driver.operation("disable", {})
    assert result["accepting"] is False and result["enabled"] is False
    assert peer.inhibit is True
    assert peer.act("insert_note", ["50"]) == {"accepted": False, "reason": "inhibited", "state": "DISABLE"}


def test_note_is_credited_at_vend_valid_once(driver: Id003Driver, peer: Id003Peer, journal: Journal) -> None:
    _enable(driver)
    assert peer.act("insert_note", ["50"])["accepted"]
    escrow = poll_until(driver, acceptor_status("ESCROW"), what="ESCROW")
    assert escrow.detail["denomination_code"] == "0x65"
    assert journal.kinds() == ["note_escrowed"]  # never credited at escrow
    assert not journal.of("note_stacked")
    assert driver.note_in_flight and driver.poll_interval_s == pytest.approx(0.2)
    poll_until(driver, idle, what="note settled")
    assert journal.kinds() == ["note_escrowed", "note_stacked"]
    (stacked,) = journal.of("note_stacked")
    assert stacked["value_fen"] == 5000 and stacked["currency"] == "CNY"
    assert stacked["denomination_code"] == "0x65"
    assert stacked["note_id"] == journal.of("note_escrowed")[0]["note_id"]
    assert peer.stacked == [50] and peer.cassette_count == 1
    assert driver.counters()["notes_stacked"] == 1 and driver.counters()["notes_stacked_50"] == 1
    assert not driver.note_in_flight


def test_crash_before_ack_emits_same_note_once(driver: Id003Driver, peer: Id003Peer, journal: Journal) -> None:
    _enable(driver)
    journal.fail["note_stacked"] = 1  # the journal write fails: the process "crashes" before the ACK
    peer.act("insert_note", ["100"])
    pending = poll_until(driver, acceptor_status("VEND_VALID"), what="VEND_VALID")
    assert pending.fault_codes == ["credit_pending"]
    assert peer.cassette_count == 0 and peer.state.name == "VEND_VALID"  # not acknowledged
    assert Command.ACK not in peer.commands
    poll_until(driver, idle, what="note settled after retry")
    attempts = [d for k, d in journal.attempts if k == "note_stacked"]
    assert len(attempts) == 2 and attempts[0] == attempts[1]  # re-emitted with the SAME note_id
    assert len(journal.of("note_stacked")) == 1
    assert peer.vend_valid_reports >= 2 and peer.stacked == [100]
    assert driver.counters()["notes_stacked"] == 1


def test_several_notes_have_unique_ids(driver: Id003Driver, peer: Id003Peer, journal: Journal) -> None:
    _enable(driver)
    for value in ("10", "20", "100", "1", "5"):
        _take_note(driver, peer, value)
    stacked = journal.of("note_stacked")
    assert [s["value_fen"] for s in stacked] == [1000, 2000, 10000, 100, 500]
    assert len({s["note_id"] for s in stacked}) == 5
    assert peer.stacked == [10, 20, 100, 1, 5]
    counters = driver.counters()
    assert counters["notes_stacked"] == 5 and counters["notes_stacked_100"] == 1


def test_host_returns_disabled_denomination(make_driver: DriverFactory, peer: Id003Peer, journal: Journal) -> None:
    peer.honour_denom_inhibit = False  # the firmware leaves the denomination check to the host
    drv = make_driver(accept=[50, 100])
    poll_until(drv, idle)
    assert peer.enabled_codes == {0x65, 0x66}
    _enable(drv)
    _take_note(drv, peer, "10")
    assert journal.kinds() == ["note_returned"]
    assert journal.of("note_returned")[0]["reason"] == "denomination_disabled"
    assert journal.of("note_returned")[0]["denomination_code"] == "0x63"
    assert Command.RETURN in peer.commands and Command.STACK_1 not in peer.commands
    assert peer.returned == 1 and peer.stacked == []


def test_host_returns_unknown_code(make_driver: DriverFactory, peer: Id003Peer, journal: Journal) -> None:
    peer.honour_denom_inhibit = False
    drv = make_driver(denominations={"0x65": 50})  # 0x66 is not in the configured table
    poll_until(drv, idle)
    _enable(drv)
    _take_note(drv, peer, "100")
    assert journal.of("note_returned")[0]["reason"] == "unknown_denomination"
    assert journal.of("note_stacked") == []


def test_acceptor_rejects_inhibited_denomination(make_driver: DriverFactory, peer: Id003Peer,
                                                 journal: Journal) -> None:
    drv = make_driver(accept=[100])
    poll_until(drv, idle)
    _enable(drv)
    _take_note(drv, peer, "20")
    assert journal.events == [("note_rejected", {"reason": "inhibit_err", "reason_code": "0x79"})]
    assert drv.counters()["notes_rejected"] == 1


def test_not_genuine_note_is_rejected(driver: Id003Driver, peer: Id003Peer, journal: Journal) -> None:
    _enable(driver)
    _take_note(driver, peer, "fake")
    assert journal.of("note_rejected") == [{"reason": "denom_err", "reason_code": "0x76"}]
    assert peer.stacked == []


def test_disable_with_note_in_escrow_returns_it(driver: Id003Driver, peer: Id003Peer, journal: Journal) -> None:
    _enable(driver)
    peer.act("insert_note", ["50"])
    poll_until(driver, acceptor_status("ACCEPTING"))
    result = driver.operation("disable", {})  # the customer cancelled while the note is drawn in
    assert result["enabled"] is False
    poll_until(driver, idle)
    assert journal.kinds() == ["note_returned"]
    assert journal.of("note_returned")[0]["reason"] == "acceptance_disabled"
    assert peer.returned == 1 and peer.inhibit is True


def test_restart_mid_note_reconciles_instead_of_crediting(make_driver: DriverFactory, peer: Id003Peer,
                                                          journal: Journal) -> None:
    first = make_driver()
    _enable(first)
    peer.act("insert_note", ["20"])
    poll_until(first, acceptor_status("STACKING"))  # STACK-1 sent; the next report is VEND_VALID
    first.close()  # the agent restarts: the new driver never saw the escrow
    second = make_driver()
    second.wants_accepting = True
    poll_until(second, idle)
    assert journal.of("note_stacked") == []
    (reconcile,) = journal.of("note_reconcile")
    assert reconcile["reason"] == "credit_without_escrow" and reconcile["credited"] is False
    assert peer.stacked == [20]  # acknowledged so the acceptor finishes; the journal says reconcile


def test_close_and_reopen_same_port(driver: Id003Driver, peer: Id003Peer) -> None:
    # what the poller does after failures; the same port must open again
    poll_until(driver, idle)
    for _ in range(3):
        driver.close()
        with pytest.raises(TransportError):
            driver.poll()
        driver.open()
        assert driver.poll().detail["acceptor_status"] == "DISABLE"


def test_over_tcp(peer: Id003Peer, journal: Journal) -> None:
    link = TcpLink(peer).start()
    try:
        drv = Id003Driver(DeviceSpec("ba", "bill_acceptor", "id003", link.url, timeout_s=0.5),
                          DriverContext(emit=journal.emit))
        drv.open()
        try:
            poll_until(drv, idle)
            _enable(drv)
            _take_note(drv, peer, "50")
        finally:
            drv.close()
    finally:
        link.stop()
    assert [d["value_fen"] for d in journal.of("note_stacked")] == [5000]
