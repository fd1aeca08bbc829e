"""UPOS self-test levels; the interactive confirmation source is injectable."""

from __future__ import annotations

from drivers.base.device import DeviceSpec, DriverContext
from drivers.base.errors import DriverError
from drivers.base.health import Action, SelftestLevel, SelftestOutcome
from drivers.receipt_printer.driver import EscposDriver
from simulators.base.link import PtyLink
from simulators.receipt_printer import ReceiptPrinterPeer


def _slip_has(peer: ReceiptPrinterPeer, code: str) -> bool:
    return any(f"check code: {code}" in line for line in peer.printed_lines)


def test_internal_pass_and_near_end_warning(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    ok = driver.selftest(SelftestLevel.INTERNAL)
    assert ok.result == SelftestOutcome.PASS and ok.reason == "printer ready"
    assert peer.receipts == []  # internal moves no paper
    peer.set_fault("paper_near_end")
    warn = driver.selftest(SelftestLevel.INTERNAL)
    assert warn.result == SelftestOutcome.PASS and warn.action == Action.REPLENISH
    assert "near end" in warn.reason


def test_internal_no_answer_fails_with_check_connection(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    peer.set_fault("mute")
    res = driver.selftest(SelftestLevel.INTERNAL)
    assert res.result == SelftestOutcome.FAIL and res.action == Action.CHECK_CONNECTION
    assert "DeviceTimeout" in res.reason


def test_external_prints_and_cuts_a_slip(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    res = driver.selftest(SelftestLevel.EXTERNAL)
    assert res.result == SelftestOutcome.PASS, res
    slip = peer.receipts[-1]
    assert slip.cut == "partial"
    assert slip.text[0] == "KIOSK-AGENT PRINTER SELF-TEST"
    assert "中文打印测试 GB18030 收据" in slip.text
    assert slip.qr and slip.qr[0].startswith("SELFTEST:printer:")


def test_external_fails_when_cut_fails(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    driver.options = type(driver.options)(print_timeout_s=0.5)
    with peer.lock:
        peer.cutter_jammed = True
    res = driver.selftest(SelftestLevel.EXTERNAL)
    assert res.result == SelftestOutcome.FAIL and res.action == Action.CLEAR
    assert "cut failed" in res.reason and res.details["cut"] is False


def test_interactive_confirmed_by_simulator_record(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    driver.confirm_slip = lambda code: _slip_has(peer, code)
    res = driver.selftest(SelftestLevel.INTERACTIVE)
    assert res.result == SelftestOutcome.PASS and res.reason == "engineer confirmed the test slip"


def test_interactive_wrong_slip_fails(driver: EscposDriver, peer: ReceiptPrinterPeer) -> None:
    driver.confirm_slip = lambda code: _slip_has(peer, "not-" + code)
    res = driver.selftest(SelftestLevel.INTERACTIVE)
    assert res.result == SelftestOutcome.FAIL and res.action == Action.MAINTENANCE


def test_interactive_without_an_answer_is_skip(driver: EscposDriver) -> None:
    res = driver.selftest(SelftestLevel.INTERACTIVE)  # the default ctx.prompt returns None
    assert res.result == SelftestOutcome.SKIP


def test_interactive_prompt_that_returns_the_code(pty_link: PtyLink, peer: ReceiptPrinterPeer) -> None:
    """An agent prompt that returns what the engineer typed: the check code read off the slip."""
    asked: list[str] = []

    def prompt(message: str) -> str:
        asked.append(message)
        line = next(t for t in reversed(peer.printed_lines) if t.startswith("check code: "))
        return line.removeprefix("check code: ")

    spec = DeviceSpec("printer", "receipt_printer", "escpos", pty_link.url, timeout_s=0.2)
    drv = EscposDriver(spec, DriverContext(prompt=prompt))  # type: ignore[arg-type]
    drv.open()
    try:
        res = drv.selftest(SelftestLevel.INTERACTIVE)
    finally:
        drv.close()
    assert res.result == SelftestOutcome.PASS
    assert len(asked) == 1 and "check code" in asked[0]


def test_selftest_never_raises(driver: EscposDriver) -> None:
    driver.close()
    for level in SelftestLevel:
        try:
            res = driver.selftest(level)
        except DriverError as exc:  # pragma: no cover - the assertion below explains
            raise AssertionError(f"selftest raised {exc!r}") from exc
        assert res.result == SelftestOutcome.FAIL and res.action == Action.CHECK_CONNECTION
