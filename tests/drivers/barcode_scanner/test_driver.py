"""SerialScannerDriver against ScannerPeer through pyserial over a real pty (and TCP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.barcode_scanner.driver import SerialScannerDriver
from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import DeviceTimeout, DriverError, TransportError
from drivers.base.health import DeviceState, SelftestLevel, SelftestOutcome
from simulators.barcode_scanner import ScannerPeer
from simulators.base import Link, PtyLink, TcpLink
from tests.drivers.helpers import Events
from tests.support.waiting import wait_until


class Rig:
    def __init__(self, link: Link, peer: ScannerPeer, **options: Any) -> None:
        self.link, self.peer = link, peer
        self.events = Events()
        self.prompts: list[str] = []
        ctx = DriverContext(emit=self.events, batch=self.events.batch, prompt=self.prompts.append)
        self.driver = SerialScannerDriver(DeviceSpec("scanner", "barcode_scanner", "serial", link.url,
                                                     timeout_s=0.5, options=options), ctx)
        self.driver.open()


@pytest.fixture(params=["pty", "tcp"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    peer = ScannerPeer()
    link: Link = PtyLink(peer, tmp_path / "scanner") if request.param == "pty" else TcpLink(peer)
    link.start()
    r = Rig(link, peer, interactive_timeout_s=5)
    yield r
    r.driver.close()
    link.stop()


def test_poll_is_a_real_answer(rig: Rig) -> None:
    st = rig.driver.poll()
    assert st.state is DeviceState.ONLINE and st.detail["health_source"] == "identify"
    assert st.detail["firmware"] == "SIM-1.0" and rig.peer.menu_commands == ["REVINF"]


def test_scans_are_emitted_and_readable(rig: Rig) -> None:
    rig.driver.poll()  # the host is connected (over TCP a scan before the accept has nowhere to go)
    rig.peer.act("scan", ["PAY-0001"])
    rig.peer.act("scan", ["支付-2"])
    wait_until(lambda: rig.driver.poll() and len(rig.events) == 2, 5)
    assert [d["code"] for k, d in rig.events if k == "code_scanned"] == ["PAY-0001", "支付-2"]
    assert rig.driver.operation("read", {})["code"] == "支付-2"
    assert rig.driver.counters()["good_scans"] == 2


def test_trigger_reads_a_presented_code(rig: Rig) -> None:
    rig.peer.act("present", ["Q-77"])
    assert rig.driver.operation("trigger", {"timeout_s": 2})["code"] == "Q-77"
    wait_until(lambda: rig.peer.triggered is False, 2)  # untriggered afterwards
    rig.peer.set_fault("scanner_disabled", True)
    rig.peer.act("present", ["Q-78"])
    assert rig.driver.operation("trigger", {"timeout_s": 0.3})["code"] is None


def test_mute_is_a_timeout_never_ok(rig: Rig) -> None:
    rig.peer.set_fault("mute", True)
    with pytest.raises(DeviceTimeout):
        rig.driver.poll()
    rig.peer.set_fault("mute", False)
    assert rig.driver.poll().state is DeviceState.ONLINE


@pytest.mark.parametrize("fault", ["bad_checksum", "truncated", "slow"])
def test_corrupt_or_late_replies_are_a_clear_error_then_recover(rig: Rig, fault: str) -> None:
    rig.peer.slow_delay_s = 0.8
    rig.peer.set_fault(fault, True)
    with pytest.raises(DriverError):
        rig.driver.poll()
    rig.peer.set_fault(fault, False)
    wait_until(lambda: _ok(rig), 5)


def test_a_burst_of_codes_is_journalled_in_one_commit(rig: Rig) -> None:
    rig.driver.poll()
    codes = [f"BURST-{i:03d}" for i in range(60)]
    rig.peer.reply(b"".join(c.encode() + b"\r" for c in codes))   # one write: a scanner's stored batch
    wait_until(lambda: rig.driver.poll() and len(rig.events) >= len(codes), 5)
    assert [d["code"] for _, d in rig.events] == codes
    assert 0 not in rig.events.batches, "a code was emitted outside a batch"
    assert len(set(rig.events.batches)) <= 3, f"{len(set(rig.events.batches))} commits for one burst"


def test_a_late_menu_reply_is_never_taken_for_a_scan(rig: Rig) -> None:
    """A REVINF answer that comes after the poll gave up must not reach the kiosk as a barcode."""
    rig.peer.slow_delay_s = 0.8
    rig.peer.set_fault("slow", True)
    with pytest.raises(DeviceTimeout):
        rig.driver.poll()
    rig.peer.set_fault("slow", False)
    wait_until(lambda: rig.peer.replies >= 1, 5)   # the late answer is on the line now
    rig.peer.act("scan", ["REAL-1"])
    wait_until(lambda: rig.driver.poll() and rig.events, 5)
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
    with pytest.raises((TransportError, DeviceTimeout)):
        for _ in range(3):
            rig.driver.poll()
    rig.link.reconnect()
    wait_until(lambda: _reopen(rig), 5)


def _reopen(rig: Rig) -> bool:
    try:
        rig.driver.open()
        return rig.driver.poll().state is DeviceState.ONLINE
    except DriverError:
        return False


def test_selftest_levels(rig: Rig) -> None:
    assert rig.driver.selftest(SelftestLevel.INTERNAL).result is SelftestOutcome.PASS
    assert rig.driver.selftest(SelftestLevel.EXTERNAL).result is SelftestOutcome.PASS
    import threading

    def engineer() -> None:
        wait_until(lambda: rig.prompts, 5)
        rig.peer.act("scan", [rig.prompts[0].rsplit(": ", 1)[1]])
    t = threading.Thread(target=engineer)
    t.start()
    res = rig.driver.selftest(SelftestLevel.INTERACTIVE)
    t.join()
    assert res.result is SelftestOutcome.PASS, res
    rig.peer.set_fault("mute", True)
    res = rig.driver.selftest(SelftestLevel.INTERNAL)
    assert res.result is SelftestOutcome.FAIL and res.action.value == "check_connection"


def test_options_are_checked() -> None:
    assert SerialScannerDriver.check_options({"suffix": "crlf", "idle_timeout_s": 0.2}) == []
    problems = SerialScannerDriver.check_options({"suffix": "tab", "colour": "red", "supports_commands": 1})
    assert len(problems) == 3
