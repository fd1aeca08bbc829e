"""The hardware mode as an engineer types it: ``pytest tests/hardware -m hardware --device-url URL
--device-class CLASS``, run here against a simulator served on a real pty and on TCP (the simulator
plays the "real" unit; the run cannot tell), and the usage errors for what cannot work. These tests use no
``target``, so a hardware run (``-m hardware``) deselects them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from simulators.base.link import PtyLink, TcpLink
from simulators.registry import peer_class
from tests.conftest import _selects_hardware
from tests.hardware.bench import hardware_target, open_bench

REPO = Path(__file__).resolve().parents[2]


def run_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/hardware", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_hardware_marker_without_a_device_url_is_a_usage_error() -> None:
    out = run_pytest("-m", "hardware")
    assert out.returncode == pytest.ExitCode.USAGE_ERROR, out.stdout + out.stderr
    assert "needs --device-url URL --device-class CLASS" in out.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["camera", None, []], "watched through sysfs"),
    (["coffee_machine", None, []], "needs --device-class, one of: barcode_scanner, bill_acceptor"),
    (["bill_acceptor", "mdb", []], "'mdb' is not a bill_acceptor driver"),
    (["card_reader", None, ['link="crt999"']], "link: one of crt591, crt310"),
    (["card_reader", None, ["link"]], "expected key=value"),
])
def test_a_target_that_cannot_work_is_refused_with_the_reason(args: list[Any], message: str) -> None:
    """What tests/conftest.py turns into a usage error (pytest.UsageError, exit 4)."""
    with pytest.raises(ValueError, match=re.escape(message)):
        hardware_target("/dev/ttyUSB9", *args, None, None)


def test_options_are_toml_values_else_text() -> None:
    target = hardware_target("/dev/ttyUSB9", "bill_acceptor", "ssp",
                             ["accept=[10, 20]", "encrypted=true", "fixed_key=0123456701234567"], 19200, 0.5)
    assert dict(target.options) == {"accept": [10, 20], "encrypted": True, "fixed_key": "0123456701234567"}
    assert (target.baudrate, target.timeout_s, target.driver) == (19200, 0.5, "ssp")
    assert hardware_target("/dev/ttyUSB9", "bill_acceptor", None, [], None, None).driver == "id003"


def test_the_mark_expression_decides_whether_hardware_is_selected() -> None:
    assert _selects_hardware("hardware") and _selects_hardware("hardware or soak")
    assert not _selects_hardware("not soak and not hardware") and not _selects_hardware("")


def test_a_bill_acceptor_on_tcp_through_the_real_transport(tmp_path: Path) -> None:
    """The hardware mode's bench on socket:// (the simulator plays the unit): the real transport, the
    real clock, the wire trace."""
    link = TcpLink(peer_class("bill_acceptor", "ccnet")()).start()
    bench = open_bench(hardware_target(link.url, "bill_acceptor", "ccnet", ["accept=[10, 20]"], None, None),
                       "hardware", tmp=tmp_path)
    try:
        bench.driver.open()
        assert bench.settle().state.usable
        assert bench.driver.version_request()  # type: ignore[attr-defined]
        assert bench.hardware and bench.peer is None
        assert "tx 02 03 06 33 da 81" in bench.wire()  # POLL, as docs/hardware.md pins it
    finally:
        bench.close()
        link.stop()


def test_a_printer_on_a_serial_port(tmp_path: Path) -> None:
    link = PtyLink(peer_class("receipt_printer")(), tmp_path / "printer").start()
    try:
        out = run_pytest("-m", "hardware", "-rA", "--device-url", link.url, "--device-class", "receipt_printer")
    finally:
        link.stop()
    text = out.stdout
    assert out.returncode == 0, text + out.stderr
    assert "[receipt_printer-escpos]" in text and "bill_acceptor" not in text.split("short test summary")[0]
    assert "needs a simulated fault" in text  # the fault tests skip, with the reason
    assert "interactive: needs an engineer at the unit; run with -s" in text
    assert "Captured wire call" in text and "tx 10 04 01" in text  # -rA shows the bytes of passing tests too
