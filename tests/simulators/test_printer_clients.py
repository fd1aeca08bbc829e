"""A third-party ESC/POS client (python-escpos 3.1) prints to the simulated printer as a user would.

Over a real pty (python-escpos ``Serial``) and over TCP to a running ``kiosk-sim run --tcp``
(python-escpos ``Network``); the receipt must come out exactly, with no decode errors, and
``kiosk-sim status`` must show it and count what the printer could not use.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from escpos.printer import Network, Serial

from simulators.base.link import PtyLink
from simulators.receipt_printer import ReceiptPrinterPeer
from tests.drivers.receipt_printer.escpos_client import expected_receipts, write_receipt
from tests.support.agent_proc import REPO
from tests.support.waiting import wait_until


def test_python_escpos_serial_over_a_pty(tmp_path: Path) -> None:
    peer = ReceiptPrinterPeer(kanji_default=False)
    link = PtyLink(peer, tmp_path / "printer").start()
    try:
        printer = Serial(devfile=link.url, baudrate=115200, dsrdtr=False, timeout=1)
        write_receipt(printer)
        printer.close()
        expected = expected_receipts()
        wait_until(lambda: len(peer.receipts) == len(expected), 20,
                   message=lambda: f"receipts so far: {peer.receipts}, on the roll: {peer.current}")
        assert peer.receipts == expected
        assert peer.decode_errors == 0
    finally:
        link.stop()


def _sim(state: Path, *args: str) -> Any:
    out = subprocess.run([sys.executable, "-m", "simulators", *args, "--state-dir", str(state)], cwd=REPO,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def tcp_sim(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "sim"
    proc = subprocess.Popen([sys.executable, "-m", "simulators", "run", "--tcp", "--state-dir", str(state),
                             "--config-out", str(tmp_path / "agent.toml")], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: (state / "sim.sock").exists() or proc.poll() is not None, 20)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    yield state
    proc.terminate()
    assert proc.wait(15) == 0


def _printer(state: Path) -> dict[str, Any]:
    status: dict[str, Any] = _sim(state, "status")["printer"]
    return status


def test_python_escpos_network_to_kiosk_sim_and_its_status(tcp_sim: Path) -> None:
    state = tcp_sim
    status = _printer(state)
    assert status["decode_errors"] == 0 and status["recent_receipts"] == []
    host, port = status["port"].removeprefix("socket://").rsplit(":", 1)
    printer = Network(host, int(port), timeout=10)
    printer.open()
    write_receipt(printer)
    printer.close()
    expected = [r.to_dict() for r in expected_receipts()]
    # kiosk-sim plays a Chinese kiosk printer: after ESC @ it is in Kanji (GB18030) mode, and python-escpos
    # never sends FS . -- its code-page bytes (cp437 "Ünïc", cp857 "ødé") print as GB18030, as on the device
    sent = "Ünïc".encode("cp437") + "ødé 42".encode("cp857")
    expected[0]["items"][1]["text"] = sent.decode("gb18030", errors="replace")
    wait_until(lambda: _printer(state)["receipts"] == len(expected), 20,
               message=lambda: json.dumps(_printer(state), ensure_ascii=False)[:2000])
    status = _printer(state)
    assert status["recent_receipts"] == expected
    assert status["decode_errors"] == 0 and status["on_the_roll"] == {"cut": None, "items": []}

    # what a printer cannot use is counted, dropped whole and never printed: a bad ESC a, an unknown
    # ESC ^ and a NUL; the unknown command's binary parameters go with it
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"\x1ba\x07\x1b^\x01\x02\x00ok\n\x1bi")
    wait_until(lambda: _printer(state)["receipts"] == len(expected) + 1, 20,
               message=lambda: json.dumps(_printer(state), ensure_ascii=False)[:2000])
    status = _printer(state)
    assert status["decode_errors"] == 2
    assert [i["text"] for i in status["recent_receipts"][-1]["items"]] == ["ok"]
    assert status["last_decode_errors"] == ["ESC a: bad parameter (7 is not a valid Justification)",
                                            "unknown command ESC ^"]
