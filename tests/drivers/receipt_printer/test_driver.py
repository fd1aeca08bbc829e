"""EscposDriver against ReceiptPrinterPeer on an in-memory loopback link in virtual time, for every
fault (the same peer over a real pty: test_end_to_end.py)."""

from __future__ import annotations

import pytest

from drivers.base.clock import FakeClock
from drivers.base.errors import (
    DeviceRefused,
    DeviceTimeout,
    DriverError,
    FrameError,
    TransportError,
    UnsupportedCommand,
)
from drivers.base.health import Action, DeviceState, SelftestLevel, SelftestOutcome
from drivers.receipt_printer.commands import Command, LineFeed
from drivers.receipt_printer.constants import StatusType
from drivers.receipt_printer.driver import EscposDriver
from drivers.receipt_printer.selftest import head_test_bar
from simulators.base.loopback import LoopbackPeerLink
from simulators.receipt_printer import PrintedLine, ReceiptPrinterPeer
from tests.drivers import helpers

from .conftest import DriverFactory, Events


def test_poll_normal(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    status = driver.poll()
    assert status.state == DeviceState.ONLINE
    assert status.faults == ()
    assert status.detail["paper"] == "ok" and status.detail["cover"] == "closed"
    assert status.detail["raw"] == {"eot1": "0x12", "eot2": "0x12", "eot3": "0x12", "eot4": "0x12"}
    assert all(count == 1 for count in peer.status_requests.values())


def test_line_settings_default_115200_8n1(make_driver: DriverFactory) -> None:
    drv = make_driver("/dev/null")
    assert drv.line_settings() == {"baudrate": 115200, "bytesize": 8, "parity": "N", "stopbits": 1}


def test_bad_options_refused_at_construction(make_driver: DriverFactory) -> None:
    with pytest.raises(ValueError, match="width_chars"):
        make_driver("/dev/null", options={"width_chars": 3})


@pytest.mark.parametrize(("fault", "state", "codes", "detail"), [
    ("paper_near_end", DeviceState.ONLINE, ["paper_near_end"], {"paper": "near_end"}),
    ("paper_out", DeviceState.USER_ERROR, ["paper_out"], {"paper": "out", "online": False}),
    ("cover_open", DeviceState.USER_ERROR, ["cover_open"], {"cover": "open"}),
    ("cutter_error", DeviceState.HARDWARE_ERROR, ["cutter_error"], {"cutter": "error", "error": "recoverable"}),
    ("mechanical_error", DeviceState.HARDWARE_ERROR, ["mechanical_error"], {"mechanism": "error"}),
    ("head_overheat", DeviceState.HARDWARE_ERROR, ["head_overheat"], {"head": "overheat"}),
    ("unrecoverable_error", DeviceState.HARDWARE_ERROR, ["unrecoverable_error"], {"error": "unrecoverable"}),
])
def test_device_faults_map_and_clear(driver: EscposDriver, peer: ReceiptPrinterPeer, fault: str,
                                     state: DeviceState, codes: list[str], detail: dict[str, object]) -> None:
    peer.set_fault(fault)
    status = driver.poll()
    assert status.state == state
    assert status.fault_codes == codes
    assert {k: status.detail[k] for k in detail} == detail
    peer.set_fault(fault, False)
    assert driver.poll().state == DeviceState.ONLINE
    assert driver.poll().faults == ()


def test_print_receipt(driver: EscposDriver, peer: ReceiptPrinterPeer, events: Events) -> None:
    result = driver.operation("print", {
        "lines": [{"text": "某某银行 自助终端", "bold": True, "align": "center"}, "交易: 存款", "金额: 100.00 元"],
        "qr": "https://bank.example.cn/r/0001", "cut": True,
    })
    assert result == {"printed": True, "lines": 3, "cut": True, "faults": []}
    receipt = peer.receipts[-1]
    assert receipt.lines[:3] == [PrintedLine("某某银行 自助终端", True, "center"), PrintedLine("交易: 存款"),
                                 PrintedLine("金额: 100.00 元")]
    assert receipt.qr == ["https://bank.example.cn/r/0001"]
    assert receipt.cut == "partial"
    assert driver.counters() == {"paper_cuts": 1, "receipts_printed": 1, "lines_printed": 3}
    assert events.items == [("receipt_printed", {"device": "printer", "lines": 3, "qr": True, "barcodes": 0,
                                                 "images": 0, "cut_requested": True,
                                                 "cut": True, "faults": []})]


def test_print_without_cut_leaves_receipt_on_roll(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    result = driver.operation("print", {"lines": ["a", "b"], "cut": False})
    assert result["printed"] and result["cut"] is False
    assert peer.receipts == [] and peer.current.text == ["a", "b"]


@pytest.mark.parametrize("fault", ["paper_out", "cover_open", "cutter_error", "head_overheat", "unrecoverable_error"])
def test_print_refused_when_fault_forbids(driver: EscposDriver, peer: ReceiptPrinterPeer, events: Events,
                                          fault: str) -> None:
    peer.set_fault(fault)
    with pytest.raises(DeviceRefused) as info:
        driver.operation("print", {"lines": ["x"]})
    assert info.value.code == fault
    assert peer.receipts == [] and peer.held == [] and peer.current.lines == []
    assert events.items == []


def test_print_with_paper_near_end_goes_ahead(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    peer.set_fault("paper_near_end")
    result = driver.operation("print", {"lines": ["x"]})
    assert result["printed"] and result["faults"] == ["paper_near_end"]
    assert peer.receipts[-1].text == ["x"]


def test_cut_fails_then_dle_enq_once(make_driver: DriverFactory, peer: ReceiptPrinterPeer, events: Events,
                                     clock: FakeClock) -> None:
    # the GS r barrier behind the failed cut is never answered (the printer went off-line)
    driver = make_driver(options={"print_timeout_s": 0.5})
    driver.open()
    with peer.lock:
        peer.cutter_jammed = True  # jams on the next cut, status still clean before printing
    result = driver.operation("print", {"lines": ["x"], "cut": True})
    assert result == {"printed": True, "lines": 1, "cut": False, "faults": ["cutter_error"]}
    assert peer.failed_cuts == 1 and peer.receipts == []
    assert driver.counters()["failed_paper_cuts"] == 1
    assert "paper_cuts" not in driver.counters()
    assert events.kinds() == ["receipt_printed"] and events.items[0][1]["cut"] is False
    assert clock.monotonic() - 1000.0 >= 0.5  # it waited the whole print timeout for the barrier


def test_dle_enq_recovers_after_jam_is_cleared(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    peer.set_fault("cutter_error")
    assert driver.poll().fault_codes == ["cutter_error"]
    peer.act("clear_jam", [])
    assert driver.poll().fault_codes == ["cutter_error"]  # latched until DLE ENQ
    assert driver.operation("recover", {}) == {"state": "online", "faults": []}
    assert peer.recoveries == 1


class RunsOutMidReceipt(ReceiptPrinterPeer):
    """The roll ends after the first printed line (once)."""

    ran_out = False

    def _execute(self, cmd: Command) -> list[bytes]:
        replies = super()._execute(cmd)
        if isinstance(cmd, LineFeed) and not self.ran_out:
            self.ran_out = True
            self.paper = "out"
        return replies


def test_paper_runs_out_mid_receipt(make_driver: DriverFactory, events: Events, clock: FakeClock) -> None:
    peer = RunsOutMidReceipt()
    drv = make_driver(LoopbackPeerLink(peer, clock), options={"print_timeout_s": 0.5})
    drv.open()
    result = drv.operation("print", {"lines": ["one", "two", "three"], "cut": True})
    assert result == {"printed": False, "lines": 0, "cut": False, "faults": ["paper_out"]}
    assert events.kinds() == ["receipt_failed"]
    assert peer.current.text == ["one"] and peer.held
    peer.act("load_paper", [])  # the held rest prints, the late GS r answer goes out now
    assert peer.receipts[-1].text == ["one", "two", "three"]
    assert drv.poll().state == DeviceState.ONLINE


def test_counters_count_transitions(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    peer.set_fault("cover_open")
    driver.poll()
    driver.poll()
    peer.set_fault("cover_open", False)
    driver.poll()
    peer.set_fault("cover_open")
    driver.poll()
    assert driver.counters()["cover_open"] == 2
    assert driver.counters()["printer_faults"] == 2


def test_status_operation(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    peer.set_fault("paper_near_end")
    result = driver.operation("status", {})
    assert result["state"] == "online" and result["faults"] == ["paper_near_end"]
    assert result["detail"]["paper"] == "near_end"


def test_bad_print_arguments(driver: EscposDriver) -> None:
    with pytest.raises(ValueError):
        driver.operation("print", {"lines": ["x"], "copies": 2})
    with pytest.raises(TypeError):
        driver.operation("print", {"lines": ["x"], "cut": "yes"})
    with pytest.raises(TypeError):
        driver.operation("print", {"lines": ["x"], "qr": 5})
    with pytest.raises(UnsupportedCommand):
        driver.operation("eject", {})


# -- common faults -----------------------------------------------------------------------------
def test_mute_is_device_timeout_never_paper_adequate(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    peer.set_fault("mute")
    with pytest.raises(DeviceTimeout):
        driver.poll()
    with pytest.raises(DeviceTimeout):
        driver.operation("print", {"lines": ["x"]})
    assert driver.counters()["communication_errors"] >= 3
    peer.set_fault("mute", False)
    assert driver.poll().state == DeviceState.ONLINE


def test_bad_checksum_is_frame_error(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    peer.set_fault("bad_checksum")  # 0x12 -> 0xED: fixed bits wrong
    with pytest.raises(FrameError):
        driver.poll()
    peer.set_fault("bad_checksum", False)
    assert driver.poll().state == DeviceState.ONLINE


def test_corrupt_status_during_print_is_protocol_error_not_bad_request(driver: EscposDriver,
                                                                        peer: ReceiptPrinterPeer) -> None:
    peer.set_fault("bad_checksum")
    with pytest.raises(DriverError) as info:
        driver.operation("print", {"lines": ["x"]})
    assert not isinstance(info.value, ValueError)


def test_garbage_never_gives_a_wrong_status(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    peer.set_fault("paper_near_end")
    peer.set_fault("garbage")
    outcomes = []
    for _ in range(5):
        try:
            status = driver.poll()
        except DriverError as exc:
            outcomes.append(type(exc).__name__)
            continue
        assert status.fault_codes == ["paper_near_end"]
        outcomes.append("ok")
    # every poll either failed loudly or was right; the garbage was noticed at least once
    assert "FrameError" in outcomes, outcomes
    assert driver.counters()["communication_errors"] >= 1
    peer.set_fault("garbage", False)
    assert driver.poll().fault_codes == ["paper_near_end"]


def test_truncated_one_byte_replies_stay_whole(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    peer.set_fault("paper_out")
    peer.set_fault("truncated")
    assert driver.poll().fault_codes == ["paper_out"]


def test_slow_printer_times_out_then_recovers(driver: EscposDriver, peer: ReceiptPrinterPeer,
                                              loop: LoopbackPeerLink, clock: FakeClock) -> None:
    loop.to_host.delay(2.0)  # every reply arrives 2 s late: the driver's timeout is 0.2 s, 3 attempts
    with pytest.raises(DeviceTimeout):
        driver.query(StatusType.PRINTER)
    assert driver.counters()["communication_errors"] == 3
    loop.to_host.reset()
    clock.advance(2.0)  # the three late answers are on the line now
    peer.set_fault("cover_open")
    # they are drained, never paired with a later request: the status is right at once, and stable
    # and once recovered, the status is stable (no stale byte paired with a later request)
    for _ in range(3):
        assert driver.poll().fault_codes == ["cover_open"]


def test_disconnect_then_reopen(driver: EscposDriver, loop: LoopbackPeerLink) -> None:
    assert driver.poll().state == DeviceState.ONLINE
    loop.disconnect()
    with pytest.raises(TransportError):
        driver.poll()
    with pytest.raises(TransportError):
        driver.open()  # the port is gone
    loop.reconnect()
    driver.open()
    assert driver.poll().state == DeviceState.ONLINE


def test_interleaved_asb_blocks_are_set_aside(make_driver: DriverFactory, clock: FakeClock) -> None:
    class AsbPeer(ReceiptPrinterPeer):
        def on_bytes(self, data: bytes) -> list[bytes]:
            replies = super().on_bytes(data)
            return [bytes([0x10, 0x00, 0x03, 0x00]) + r for r in replies]  # ASB: paper near end

    peer = AsbPeer()
    peer.set_fault("cover_open")
    drv = make_driver(LoopbackPeerLink(peer, clock))
    drv.open()
    status = drv.poll()
    assert status.fault_codes == ["cover_open"]
    assert status.detail["paper"] == "ok"


def test_selftest_result_actions(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    peer.set_fault("paper_out")
    internal = driver.selftest(SelftestLevel.INTERNAL)
    assert internal.result == SelftestOutcome.FAIL and internal.action == Action.REPLENISH
    assert internal.code == "escpos:eot1=0x1A,eot2=0x32,eot3=0x12,eot4=0x7E"
    external = driver.selftest(SelftestLevel.EXTERNAL)
    assert external.result == SelftestOutcome.FAIL and external.details == {"fault": "paper_out"}
    assert peer.receipts == []


def test_registered_in_both_registries() -> None:
    from drivers import DeviceSpec, DriverContext, build_driver
    from simulators.registry import peer_class

    spec = DeviceSpec("printer", "receipt_printer", "escpos", "/dev/ttyUSB0")
    assert type(build_driver(spec, DriverContext())) is EscposDriver
    assert peer_class("receipt_printer") is ReceiptPrinterPeer
    assert ReceiptPrinterPeer.line == {"baudrate": 115200}


def test_printer_goes_silent_after_the_data(make_driver: DriverFactory, events: Events, clock: FakeClock) -> None:
    class DiesMidReceipt(ReceiptPrinterPeer):
        def _execute(self, cmd: Command) -> list[bytes]:
            replies = super()._execute(cmd)
            if isinstance(cmd, LineFeed):
                self.faults.add("mute")
            return replies

    peer = DiesMidReceipt()
    drv = make_driver(LoopbackPeerLink(peer, clock), options={"print_timeout_s": 0.5})
    drv.open()
    with pytest.raises(DeviceTimeout):
        drv.operation("print", {"lines": ["a", "b"]})
    assert events.items == [("receipt_unverified", {"device": "printer", "lines": 2, "qr": False, "barcodes": 0,
                                                    "images": 0, "cut_requested": True,
                                                    "error": "DeviceTimeout"})]
    assert "receipts_printed" not in drv.counters()


def test_selftest_slip_has_the_head_bar_and_the_check_code_barcode(driver: EscposDriver,
                                                                   peer: ReceiptPrinterPeer) -> None:
    """The external slip exercises raster and barcode printing too: a solid bar across every dot of the
    head (576 on the default 80 mm printer) and the check code as CODE128, then the QR code."""
    driver.new_check_code = lambda: "4711"  # type: ignore[method-assign]
    assert driver.selftest(SelftestLevel.EXTERNAL).result == SelftestOutcome.PASS
    assert peer.decode_errors == 0
    slip = peer.receipts[-1]
    assert [(i.width, i.height, i.source) for i in slip.images] == [(576, 24, "raster")]
    assert [(b.symbology, b.data, b.hri) for b in slip.barcodes] == [("CODE128", "{B4711", "below")]
    assert slip.qr == ["SELFTEST:printer:4711"]
    assert slip.text[-2] == "check code: 4711"


def test_head_test_bar_prints_every_dot_and_no_padding() -> None:
    bar = head_test_bar(388)  # 48 whole bytes and 4 dots: the last byte is 0xF0
    assert bar.width_bytes == 49 and bar.data[:49] == b"\xff" * 48 + b"\xf0"
    assert bar.black_fraction() == 1.0


# -- byte-exact, on a RecordingTransport ----------------------------------------------------------
SPEC = helpers.spec("receipt_printer", "escpos", timeout_s=0.2)


def test_poll_asks_dle_eot_1_to_4_one_at_a_time() -> None:
    drv, line = helpers.recorded(EscposDriver, SPEC, [b"\x12", b"\x12", b"\x12", b"\x7e"])
    assert drv.poll().fault_codes == ["paper_out"]
    assert line.writes == [bytes.fromhex("10 04 01"), bytes.fromhex("10 04 02"), bytes.fromhex("10 04 03"),
                           bytes.fromhex("10 04 04")]


def test_a_silent_printer_is_asked_three_times_then_it_is_a_timeout() -> None:
    drv, line = helpers.recorded(EscposDriver, SPEC, [])
    started = drv.ctx.clock.monotonic()
    with pytest.raises(DeviceTimeout):
        drv.query(StatusType.PRINTER)
    assert line.writes == [bytes.fromhex("10 04 01")] * 3
    # each attempt waits its 0.2 s window; the retries first drain the line until 50 ms of quiet
    # (and every attempt drops what is already there, 1 ms): nothing longer, nothing shorter
    assert drv.ctx.clock.monotonic() - started == pytest.approx(3 * (0.001 + 0.2) + 2 * 0.05)

