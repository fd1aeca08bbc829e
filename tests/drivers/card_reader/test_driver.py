"""CrtCardReaderDriver against the simulated module on an in-memory loopback link in virtual time
(over a real pty and TCP, and the module's slow ACK in real time: test_end_to_end.py)."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import (
    DeviceRefused,
    DeviceTimeout,
    DriverError,
    FrameError,
    ProtocolError,
    TransportError,
    UnsupportedCommand,
)
from drivers.base.health import Action, DeviceState, SelftestLevel, SelftestOutcome
from drivers.base.transport import SerialTransport
from drivers.card_reader.constants import CM
from drivers.card_reader.driver import LINE_SETTINGS, CrtCardReaderDriver
from simulators.base.loopback import LoopbackPeerLink
from simulators.card_reader import CardReaderPeer
from tests.drivers.card_reader.conftest import DriverFactory, Events

PAN = "6228480000000000000"


def test_line_settings_are_8n1_at_the_configured_baud(make_driver: DriverFactory) -> None:
    drv = make_driver("/dev/null", open_=False)
    assert LINE_SETTINGS == {"bytesize": 8, "parity": "N", "stopbits": 1}
    assert isinstance(drv._transport, SerialTransport)
    assert drv._transport._settings == {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}
    spec = DeviceSpec("cr", "card_reader", "crt", "/dev/null", baudrate=38400)
    assert CrtCardReaderDriver(spec, DriverContext())._transport._settings["baudrate"] == 38400  # type: ignore[attr-defined]


def test_open_initialises_and_enables_entry(driver: CrtCardReaderDriver, peer: CardReaderPeer) -> None:
    snap = peer.snapshot()
    assert snap["initialized"] and snap["entry_enabled"]
    status = driver.poll()
    assert status.state is DeviceState.ONLINE and status.faults == ()
    assert status.detail["card_position"] == "none" and status.detail["retain_bin"] == "ok"


def test_card_lifecycle_and_events(driver: CrtCardReaderDriver, peer: CardReaderPeer, events: Events) -> None:
    driver.poll()
    peer.act("present_card", [PAN])
    assert driver.poll().detail["card_position"] == "inside"
    result = driver.operation("read", {})
    assert result == {"pan_masked": "622848*********0000", "pan_token": result["pan_token"], "expiry": "3012",
                      "aid": "A000000333010101", "card_type": "debit", "app_label": "UnionPay Debit"}
    assert result["pan_token"].startswith("tok_") and len(result["pan_token"]) == 36
    assert driver.poll().detail["card_position"] == "inside"  # chip powered down after the read
    assert driver.operation("eject", {}) == {"card_position": "at_gate"}
    assert driver.poll().detail["card_position"] == "at_gate"
    assert driver.poll_interval_s == 0.5  # faster while the card waits to be taken
    peer.act("remove_card", [])
    assert driver.poll().detail["card_position"] == "none"
    assert driver.poll_interval_s == driver.spec.poll_interval_s
    assert events.kinds() == ["card_inserted", "card_read", "card_ejected", "card_removed"]
    assert events.items[0][1] == {"card_position": "inside"}
    assert events.items[1][1] == result
    assert driver.counters()["reads"] == 1 and driver.counters()["ejects"] == 1


def test_chip_contact_position_while_powered(driver: CrtCardReaderDriver, peer: CardReaderPeer) -> None:
    peer.act("present_card", [])
    with driver.lock:
        driver._link.exchange(driver_cold_reset(), 8.0)
    assert driver.poll().detail["card_position"] == "chip_contact"


def driver_cold_reset() -> Any:
    from drivers.card_reader.messages import cpu_cold_reset
    return cpu_cold_reset()


def test_read_pulls_a_card_in_from_the_gate(driver: CrtCardReaderDriver, peer: CardReaderPeer) -> None:
    driver.operation("disable", {})
    peer.act("present_card", ["6212345678901232"])
    assert driver.poll().detail["card_position"] == "at_gate"
    assert driver.operation("read", {})["pan_masked"] == "621234******1232"


def test_read_without_card_is_refused(driver: CrtCardReaderDriver) -> None:
    with pytest.raises(DeviceRefused) as err:
        driver.operation("read", {})
    assert err.value.code == "no_card"
    for op in ("eject", "retain"):
        with pytest.raises(DeviceRefused):
            driver.operation(op, {})


def test_retain_counts_and_bin_full(driver: CrtCardReaderDriver, peer: CardReaderPeer, events: Events) -> None:
    peer.act("present_card", [])
    assert driver.operation("retain", {}) == {"retained": True, "retain_count": 1}
    assert driver.counters()["retracts"] == 1
    assert events.kinds() == ["card_retained"]  # captured, not taken: no card_removed
    assert driver.poll().detail["retain_count"] == 1
    peer.set_fault("retain_bin_full")
    status = driver.poll()
    assert status.fault_codes == ["retain_bin_full"] and status.detail["retain_bin"] == "full"
    assert status.action is Action.REPLENISH
    peer.act("present_card", [])
    with pytest.raises(DeviceRefused) as err:
        driver.operation("retain", {})
    assert err.value.code == "retain_bin_full"
    peer.set_fault("retain_bin_full", False)
    assert driver.poll().fault_codes == []


def test_retain_bin_high_from_counter(make_driver: DriverFactory, peer: CardReaderPeer) -> None:
    peer.bin_count = 9
    drv = make_driver(options={"retain_bin_capacity": 10, "retain_bin_high_pct": 80})
    status = drv.poll()
    assert status.detail["retain_bin"] == "high" and status.fault_codes == ["retain_bin_high"]


def test_card_jam_fault_and_clear(driver: CrtCardReaderDriver, peer: CardReaderPeer) -> None:
    peer.set_fault("card_jam")
    status = driver.poll()
    assert status.state is DeviceState.HARDWARE_ERROR
    assert status.fault_codes == ["card_jam"] and status.action is Action.CLEAR
    result = driver.selftest(SelftestLevel.INTERNAL)
    assert result.result is SelftestOutcome.FAIL and result.action is Action.CLEAR and result.code == "10"
    peer.set_fault("card_jam", False)
    assert driver.poll().state is DeviceState.ONLINE


def test_chip_failure_refuses_the_read(driver: CrtCardReaderDriver, peer: CardReaderPeer, events: Events) -> None:
    peer.act("present_card", [])
    peer.set_fault("chip_failure")
    with pytest.raises(DeviceRefused) as err:
        driver.operation("read", {})
    assert err.value.code == "chip_failure" and "61" in str(err.value)
    assert events.items[-1] == ("card_read_failed", {"reason": "chip_failure"})
    peer.set_fault("chip_failure", False)
    assert driver.operation("read", {})["card_type"] == "debit"


def test_mute_raises_device_timeout(driver: CrtCardReaderDriver, peer: CardReaderPeer) -> None:
    peer.set_fault("mute")
    with pytest.raises(DeviceTimeout):
        driver.poll()
    result = driver.selftest(SelftestLevel.INTERNAL)
    assert result.result is SelftestOutcome.FAIL and result.action is Action.CHECK_CONNECTION
    peer.set_fault("mute", False)
    assert driver.poll().state is DeviceState.ONLINE


def test_slow_device_times_out_then_recovers(driver: CrtCardReaderDriver, loop: LoopbackPeerLink) -> None:
    loop.to_host.delay(0.5)  # ACK and response come after the 300 ms ACK timeout
    with pytest.raises(DeviceTimeout, match="no ACK"):
        driver.poll()
    assert driver.counters()["ack_timeouts"] == 3
    loop.to_host.reset()
    loop.link.clock.advance(1.0)  # the late answers have arrived; the next exchange drains them
    assert driver.poll().state is DeviceState.ONLINE


@pytest.mark.parametrize("fault", ["garbage", "bad_checksum", "truncated"])
def test_line_faults_never_give_a_wrong_status(driver: CrtCardReaderDriver, peer: CardReaderPeer,
                                              fault: str) -> None:
    peer.act("present_card", [])
    peer.set_fault(fault)
    outcomes = []
    for _ in range(4):
        try:
            status = driver.poll()
        except DriverError as exc:
            outcomes.append(type(exc).__name__)
            continue
        assert status.detail["card_position"] == "inside"
        outcomes.append("ok")
    if fault == "garbage":
        assert "ok" in outcomes
    else:
        assert "ok" not in outcomes  # every reply is damaged: a clear error, never a status
    peer.set_fault(fault, False)
    assert _poll_ok(driver), f"no recovery after {fault}"
    assert driver.poll().detail["card_position"] == "inside"


def _poll_ok(driver: CrtCardReaderDriver) -> bool:
    try:
        driver.poll()
        return True
    except DriverError:
        return False


def test_read_survives_garbage(driver: CrtCardReaderDriver, peer: CardReaderPeer) -> None:
    peer.act("present_card", [])
    peer.set_fault("garbage")
    results = []
    for _ in range(3):
        try:
            results.append(driver.operation("read", {}))
        except DriverError:
            continue
    assert results and all(r["pan_masked"] == "622848*********0000" for r in results)


def test_module_nak_makes_the_driver_resend(make_driver: DriverFactory, loop: LoopbackPeerLink) -> None:
    drv = make_driver(open_=False)
    loop.to_device.corrupt()  # the first command (INIT at open) reaches the module with a bad BCC
    drv.open()
    assert drv.counters()["naks"] == 1
    assert drv.poll().state is DeviceState.ONLINE


def test_disconnect_then_reopen(driver: CrtCardReaderDriver, loop: LoopbackPeerLink) -> None:
    assert driver.poll().state is DeviceState.ONLINE
    loop.disconnect()
    with pytest.raises(TransportError):
        driver.poll()
    with pytest.raises(TransportError):
        driver.close()
        driver.open()
    loop.reconnect()
    driver.close()
    driver.open()
    assert driver.poll().state is DeviceState.ONLINE


def test_poll_is_byte_exact(make_driver: DriverFactory, loop: LoopbackPeerLink) -> None:
    """STATUS (CM 31 PM 30): the command frame out, the host ACK after the response, nothing else."""
    driver = make_driver()
    sent = len(loop.host.writes)
    driver.poll()
    assert loop.host.writes[sent:] == [bytes.fromhex("F2 00 00 03 43 31 30 03 B0"), bytes.fromhex("06")]


def test_power_cycled_module_is_reinitialised(driver: CrtCardReaderDriver, peer: CardReaderPeer) -> None:
    peer.initialized, peer.entry_enabled = False, False  # what a power cycle leaves
    assert driver.poll().state is DeviceState.ONLINE
    assert peer.snapshot()["initialized"] and peer.snapshot()["entry_enabled"]


def test_accept_cards_false_leaves_entry_disabled(make_driver: DriverFactory, peer: CardReaderPeer) -> None:
    make_driver(options={"accept_cards": False})
    assert peer.snapshot()["initialized"] and not peer.snapshot()["entry_enabled"]


def test_selftest_levels(driver: CrtCardReaderDriver, peer: CardReaderPeer) -> None:
    internal = driver.selftest(SelftestLevel.INTERNAL)
    assert internal.result is SelftestOutcome.PASS and internal.details["card_position"] == "none"
    peer.act("present_card", [])
    before = peer.executed.get(CM.INITIALIZE, 0)
    external = driver.selftest(SelftestLevel.EXTERNAL)
    assert external.result is SelftestOutcome.PASS
    assert peer.executed[CM.INITIALIZE] == before + 1
    assert external.details["card_position"] == "inside"  # INIT left the card where it was


def test_selftest_interactive(make_driver: DriverFactory, peer: CardReaderPeer) -> None:
    prompts: list[str] = []

    def prompt(message: str) -> None:
        prompts.append(message)
        peer.act("present_card", [])

    drv = make_driver(prompt=prompt)
    result = drv.selftest(SelftestLevel.INTERACTIVE)
    assert prompts == ["请插入银行卡 / Insert a bank card"]
    assert result.result is SelftestOutcome.PASS
    assert result.details["pan_masked"] == "622848*********0000"


def test_selftest_interactive_times_out(make_driver: DriverFactory) -> None:
    drv = make_driver(options={"interactive_timeout_s": 5.0})
    started = drv.ctx.clock.monotonic()
    result = drv.selftest(SelftestLevel.INTERACTIVE)
    assert result.result is SelftestOutcome.FAIL and result.code == "no_card"
    assert 5.0 <= drv.ctx.clock.monotonic() - started < 6.0  # polled the card until the timeout, no longer


def test_operations_contract(driver: CrtCardReaderDriver, peer: CardReaderPeer) -> None:
    with pytest.raises(UnsupportedCommand):
        driver.operation("print", {})
    with pytest.raises(ProtocolError):
        driver.operation("read", {"pan": "1"})
    assert driver.operation("disable", {}) == {"card_entry": "disabled"}
    assert not peer.snapshot()["entry_enabled"]
    assert driver.operation("reset", {}) == {"reset": True}
    assert peer.snapshot()["entry_enabled"]


def test_module_without_bin_counter(make_driver: DriverFactory, peer: CardReaderPeer) -> None:
    original = peer._execute
    asked: list[int] = []

    def no_counter(cmd: Any) -> bytes:
        if cmd.cm == CM.RECYCLE_BIN_COUNTER:
            from drivers.card_reader.messages import encode_negative
            asked.append(cmd.pm)
            return encode_negative(cmd.cm, cmd.pm, "00")  # undefined command on this model
        return original(cmd)
    peer._execute = no_counter  # type: ignore[method-assign]
    drv = make_driver()
    assert asked == [0x30]  # asked once, at open
    drv.poll()
    status = drv.poll()
    assert status.detail["retain_bin"] == "ok" and "retain_count" not in status.detail
    assert asked == [0x30]  # not asked again on every poll


def test_check_options() -> None:
    ok = {"address": 1, "ack_timeout_s": 1, "retain_bin_capacity": 100, "retain_bin_high_pct": 90,
          "interactive_timeout_s": 30.0, "accept_cards": False}
    assert CrtCardReaderDriver.check_options(ok) == []
    problems = CrtCardReaderDriver.check_options({"speed": 1, "accept_cards": 1, "retain_bin_high_pct": 0,
                                                  "ack_timeout_s": True, "retain_bin_capacity": 5000,
                                                  "address": 16, "interactive_timeout_s": 0})
    assert sorted(p.split(":")[0] for p in problems) == ["accept_cards", "ack_timeout_s", "address",
                                                         "interactive_timeout_s", "retain_bin_capacity",
                                                         "retain_bin_high_pct", "speed"]


def test_a_response_trickling_in_byte_by_byte_is_read_whole(driver: CrtCardReaderDriver,
                                                             loop: LoopbackPeerLink) -> None:
    loop.to_host.split(1, gap_s=0.1)  # inside the 150 ms inter-byte timeout
    assert driver.poll().state is DeviceState.ONLINE
    assert "checksum_errors" not in driver.counters()


def test_a_response_that_stalls_is_nakked_then_given_up(driver: CrtCardReaderDriver, loop: LoopbackPeerLink,
                                                        peer: CardReaderPeer) -> None:
    loop.to_host.split(1, gap_s=0.3)  # every byte comes after the inter-byte timeout
    with pytest.raises((FrameError, DeviceTimeout)):  # never a status from a response read in pieces
        driver.poll()
    assert driver.counters()["checksum_errors"] >= 1  # the stall was noticed and a resend asked for
    assert bytes([0x15]) in loop.link.to_device.delivered  # NAK
    loop.to_host.reset()
    loop.link.clock.advance(10.0)
    assert driver.poll().state is DeviceState.ONLINE
