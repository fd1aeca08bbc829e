"""SerialScannerDriver against ScannerPeer on an in-memory loopback link in virtual time (over a
real pty and TCP: test_end_to_end.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drivers.barcode_scanner.driver import SerialScannerDriver
from drivers.base.errors import DeviceTimeout, DriverError, TransportError
from drivers.base.health import DeviceState, SelftestLevel, SelftestOutcome
from simulators.barcode_scanner import ScannerPeer
from tests.drivers import helpers

Rig = helpers.Rig[SerialScannerDriver, ScannerPeer]


def _spec(**options: object) -> object:
    return helpers.spec("barcode_scanner", "serial", "loop://", name="scanner", timeout_s=0.5,
                        options={"interactive_timeout_s": 5, **options})


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig(SerialScannerDriver, ScannerPeer(), _spec())
    yield r
    r.close()


def test_poll_is_a_real_answer(rig: Rig) -> None:
    st = rig.driver.poll()
    assert st.state is DeviceState.ONLINE and st.detail["health_source"] == "identify"
    assert st.detail["firmware"] == "SIM-1.0" and rig.peer.menu_commands == ["REVINF"]


def test_scans_are_emitted_and_readable(rig: Rig) -> None:
    rig.peer.act("scan", ["PAY-0001"])
    rig.peer.act("scan", ["支付-2"])
    rig.driver.poll()
    assert [d["code"] for k, d in rig.events if k == "code_scanned"] == ["PAY-0001", "支付-2"]
    assert rig.driver.operation("read", {})["code"] == "支付-2"
    assert rig.driver.counters()["good_scans"] == 2


def test_trigger_reads_a_presented_code(rig: Rig) -> None:
    rig.peer.act("present", ["Q-77"])
    assert rig.driver.operation("trigger", {"timeout_s": 2})["code"] == "Q-77"
    rig.driver.poll()  # the link delivers what the driver wrote last (trigger off) on its next read
    assert rig.peer.triggered is False  # untriggered afterwards
    rig.peer.set_fault("scanner_disabled", True)
    rig.peer.act("present", ["Q-78"])
    assert rig.driver.operation("trigger", {"timeout_s": 0.3})["code"] is None


def test_mute_is_a_timeout_never_ok(rig: Rig) -> None:
    rig.peer.set_fault("mute", True)
    with pytest.raises(DeviceTimeout):
        rig.driver.poll()
    rig.peer.set_fault("mute", False)
    assert rig.driver.poll().state is DeviceState.ONLINE


@pytest.mark.parametrize("fault", ["bad_checksum", "truncated", "slow", "late"])
def test_corrupt_or_late_replies_are_a_clear_error_then_recover(rig: Rig, fault: str) -> None:
    rig.peer.slow_delay_s = 0.8  # the peer's own slow fault: answers 0.8 s late
    if fault == "late":
        rig.link.to_host.delay(0.8)  # the answer comes after the 0.5 s timeout
    else:
        rig.peer.set_fault(fault, True)
    with pytest.raises(DriverError):
        rig.driver.poll()
    rig.peer.set_fault(fault, False) if fault != "late" else rig.link.to_host.reset()
    rig.clock.advance(1.0)
    assert _ok(rig)


def test_a_burst_of_codes_is_journalled_in_one_commit(rig: Rig) -> None:
    rig.driver.poll()
    codes = [f"BURST-{i:03d}" for i in range(60)]
    rig.peer.reply(b"".join(c.encode() + b"\r" for c in codes))   # one write: a scanner's stored batch
    rig.driver.poll()
    assert [d["code"] for _, d in rig.events] == codes
    assert 0 not in rig.events.batches, "a code was emitted outside a batch"
    assert len(set(rig.events.batches)) <= 3, f"{len(set(rig.events.batches))} commits for one burst"


def test_a_late_menu_reply_is_never_taken_for_a_scan(rig: Rig) -> None:
    """A REVINF answer that comes after the poll gave up must not reach the kiosk as a barcode."""
    rig.link.to_host.delay(0.8)
    with pytest.raises(DeviceTimeout):
        rig.driver.poll()
    rig.link.to_host.reset()
    rig.clock.advance(0.5)   # the late answer is on the line now
    rig.peer.act("scan", ["REAL-1"])
    rig.driver.poll()
    # answers now run one request behind; whichever answer a poll gets (the late one or its
    # own) serves it, and the other is recognised and dropped (counted in late_replies when it
    # arrives while no request waits), never emitted as a scan
    for _ in range(5):
        assert rig.driver.poll().detail["firmware"] == "SIM-1.0"
    assert [d["code"] for k, d in rig.events if k == "code_scanned"] == ["REAL-1"]


def test_garbage_never_gives_a_wrong_status(rig: Rig) -> None:
    rig.peer.set_fault("garbage", True)
    for _ in range(5):
        try:
            st = rig.driver.poll()
        except DriverError:
            continue
        assert st.state is DeviceState.ONLINE and st.detail["firmware"] == "SIM-1.0"


def _ok(rig: Rig) -> bool:
    try:
        return rig.driver.poll().state is DeviceState.ONLINE
    except DriverError:
        return False


def test_disconnect_then_reopen(rig: Rig) -> None:
    rig.link.disconnect()
    with pytest.raises(TransportError):
        rig.driver.poll()
    with pytest.raises(TransportError):
        rig.driver.open()
    rig.link.reconnect()
    rig.driver.open()
    assert _ok(rig)


def test_selftest_levels() -> None:
    peer = ScannerPeer()
    # the engineer scans the code the prompt shows
    rig = Rig(SerialScannerDriver, peer, _spec(), prompt=lambda message: peer.act("scan", [message.rsplit(": ", 1)[1]]))
    assert rig.driver.selftest(SelftestLevel.INTERNAL).result is SelftestOutcome.PASS
    assert rig.driver.selftest(SelftestLevel.EXTERNAL).result is SelftestOutcome.PASS
    res = rig.driver.selftest(SelftestLevel.INTERACTIVE)
    assert res.result is SelftestOutcome.PASS, res
    rig.peer.set_fault("mute", True)
    res = rig.driver.selftest(SelftestLevel.INTERNAL)
    assert res.result is SelftestOutcome.FAIL and res.action.value == "check_connection"


def test_interactive_selftest_gives_up_after_its_timeout(rig: Rig) -> None:
    res = rig.driver.selftest(SelftestLevel.INTERACTIVE)
    assert res.result is SelftestOutcome.FAIL and res.code == "no_read"
    assert rig.clock.monotonic() - 1000.0 >= 5.0


def test_no_suffix_codes_end_when_the_line_goes_idle() -> None:
    rig = Rig(SerialScannerDriver, ScannerPeer(), _spec(suffix="none", supports_commands=False))
    rig.peer.send(b"NOSUFFIX-1")
    rig.driver.operation("read", {})  # arrived, but the line has not been idle for 0.1 s yet
    assert rig.events.items == []
    rig.clock.advance(0.1)  # nothing more came: the code is complete
    rig.driver.poll()
    assert [d["code"] for d in rig.events.of("code_scanned")] == ["NOSUFFIX-1"]


def test_poll_is_byte_exact() -> None:
    """REVINF: SYN M CR REVINF. out; the echo with ACK back; nothing else written."""
    reply = b"REVINFProduct Name: X\r\nFirmware: F1\x06."
    drv, line = helpers.recorded(SerialScannerDriver, _spec(), [reply])
    assert drv.poll().detail["firmware"] == "F1"
    assert line.writes == [bytes.fromhex("16 4D 0D") + b"REVINF."]


def test_options_are_checked() -> None:
    assert SerialScannerDriver.check_options({"suffix": "crlf", "idle_timeout_s": 0.2}) == []
    problems = SerialScannerDriver.check_options({"suffix": "tab", "colour": "red", "supports_commands": 1})
    assert len(problems) == 3
