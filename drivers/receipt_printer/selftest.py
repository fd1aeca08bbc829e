"""UPOS checkHealth levels for the receipt printer.

* internal: DLE EOT 1..4 only (no paper moves); pass when the printer can print
  (paper near end passes with a warning reason);
* external: a test slip (text in the configured code page, a solid bar across the full print
  width that shows dead head dots as white streaks, the check code as a CODE128 barcode, a QR
  code) is printed and cut, then the status is checked again; pass when it printed and cut;
* interactive: the external slip, then the engineer confirms it through
  ``driver.confirm_slip(check_code)`` (by default ``ctx.prompt``; tests inject the simulator's
  record of the slip). No answer is a SKIP, never a pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.base.errors import DeviceRefused, DeviceTimeout, DriverError, TransportError
from drivers.base.health import Action, SelftestLevel, SelftestOutcome, SelftestResult, worst_action
from drivers.receipt_printer.barcodes import HRI_POSITIONS, barcode_data
from drivers.receipt_printer.blocks import BarcodeBlock, Block, ImageBlock, shorthand_blocks
from drivers.receipt_printer.health import FAULTS
from drivers.receipt_printer.raster import Raster
from drivers.receipt_printer.receipt import parse_lines

if TYPE_CHECKING:
    from drivers.receipt_printer.driver import EscposDriver


def _action_of(codes: list[str]) -> Action:
    return worst_action([FAULTS[c][0] for c in codes if c in FAULTS] or [Action.MAINTENANCE])


def _error_result(level: SelftestLevel, exc: DriverError, took_s: float, driver: EscposDriver) -> SelftestResult:
    if isinstance(exc, DeviceRefused):
        code = driver.last_status.code if driver.last_status else exc.code
        return SelftestResult(level, SelftestOutcome.FAIL, str(exc), code, _action_of([exc.code]), took_s,
                              {"fault": exc.code})
    action = Action.CHECK_CONNECTION if isinstance(exc, DeviceTimeout | TransportError) else Action.MAINTENANCE
    return SelftestResult(level, SelftestOutcome.FAIL, f"{type(exc).__name__}: {exc}", "", action, took_s)


def slip_lines(driver: EscposDriver, check_code: str) -> list[str | dict[str, object]]:
    lines: list[str | dict[str, object]] = [
        {"text": "KIOSK-AGENT PRINTER SELF-TEST", "bold": True, "align": "center"},
        f"device: {driver.name}",
        f"time: {driver.ctx.clock.now():%Y-%m-%d %H:%M:%S} UTC",
        f"code page: {driver.options.code_page}",
    ]
    if driver.options.code_page == "gb18030":
        lines.append("中文打印测试 GB18030 收据")
    lines.append("0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    lines.append({"text": f"check code: {check_code}", "bold": True})
    return lines


#: rows of the solid test bar (3 mm at 8 dots/mm)
BAR_ROWS = 24


def head_test_bar(width: int) -> Raster:
    """Every dot of ``width`` printed for ``BAR_ROWS`` rows (the padding bits of a last part-byte stay 0)."""
    full, rest = divmod(width, 8)
    row = b"\xff" * full + (bytes([(0xFF << (8 - rest)) & 0xFF]) if rest else b"")
    return Raster(width, BAR_ROWS, row * BAR_ROWS)


def slip_blocks(driver: EscposDriver, check_code: str) -> list[Block]:
    """The slip: its text lines, the head test bar, the check code as a barcode, a QR code, a cut."""
    opts = driver.options
    return [*shorthand_blocks(parse_lines(slip_lines(driver, check_code)), None, False, opts),
            ImageBlock(head_test_bar(opts.print_width_dots)),
            BarcodeBlock(barcode_data("CODE128", check_code), HRI_POSITIONS["below"], 60, 2),
            *shorthand_blocks([], f"SELFTEST:{driver.name}:{check_code}", True, opts)]


def run(driver: EscposDriver, level: SelftestLevel) -> SelftestResult:
    started = driver.ctx.clock.monotonic()

    def took() -> float:
        return driver.ctx.clock.monotonic() - started

    try:
        if level == SelftestLevel.INTERNAL:
            status = driver.poll()
            code = driver.last_status.code if driver.last_status else ""
            if status.state.usable:
                reason = "; ".join(f.text for f in status.faults) or "printer ready"
                return SelftestResult(level, SelftestOutcome.PASS, reason, code, status.action, took(),
                                      {"faults": status.fault_codes, "detail": status.detail})
            return SelftestResult(level, SelftestOutcome.FAIL, "; ".join(f.text for f in status.faults)
                                  or f"printer {status.state.value}", code, status.action, took(),
                                  {"faults": status.fault_codes, "detail": status.detail})
        check_code = driver.new_check_code()
        result = driver.print_blocks(slip_blocks(driver, check_code))
        code = driver.last_status.code if driver.last_status else ""
        details = {"faults": result["faults"], "lines": result["lines"], "cut": result["cut"]}
        if not result["printed"] or not result["cut"]:
            what = "did not print" if not result["printed"] else "printed but the cut failed"
            faults = ", ".join(result["faults"]) or "none reported"
            return SelftestResult(level, SelftestOutcome.FAIL, f"test slip {what} (faults: {faults})", code,
                                  _action_of(result["faults"]), took(), details)
        if level == SelftestLevel.EXTERNAL:
            return SelftestResult(level, SelftestOutcome.PASS, "test slip printed and cut", code, Action.NONE,
                                  took(), details)
        answer = driver.confirm_slip(check_code)
        if answer is None:
            return SelftestResult(level, SelftestOutcome.SKIP, "test slip printed; nobody confirmed it", code,
                                  Action.NONE, took(), details)
        if answer:
            return SelftestResult(level, SelftestOutcome.PASS, "engineer confirmed the test slip", code,
                                  Action.NONE, took(), details)
        return SelftestResult(level, SelftestOutcome.FAIL, "engineer rejected the test slip", code,
                              Action.MAINTENANCE, took(), details)
    except DriverError as exc:
        return _error_result(level, exc, took(), driver)
