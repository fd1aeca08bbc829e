"""A receipt with a logo, styled text, a barcode and a QR code, printed through the running daemon's
API (the unix socket) onto the simulated printer on a pty, and what came out of it."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.receipt_printer.commands import (
    BarcodeCommand,
    RasterImageCommand,
    decode_commands,
)
from simulators.base.link import PtyLink
from simulators.receipt_printer import ReceiptPrinterPeer
from tests.support.agent_proc import REPO, AgentProcess
from tests.support.png import b64, bitmap_png, png
from tests.support.sims import kiosk_sim, kiosk_sim_run
from tests.support.waiting import wait_until

#: a 58 mm printer: 32 columns, 384 dots
OPTIONS = {"width_chars": 32, "dot_width": 384}


class TappedPrinter(ReceiptPrinterPeer):
    """The simulated printer, keeping every byte it was sent."""

    def __init__(self) -> None:
        super().__init__(seed=7)
        self.wire = bytearray()

    def on_bytes(self, data: bytes) -> list[bytes]:
        self.wire += data
        return super().on_bytes(data)


@pytest.fixture
def printer() -> TappedPrinter:
    return TappedPrinter()


@pytest.fixture
def printer_kiosk(printer: TappedPrinter, tmp_path: Path, agent_factory: Callable[..., AgentProcess],
          broker: Any) -> Iterator[AgentProcess]:
    link = PtyLink(printer, tmp_path / "printer").start()
    devices = {"printer": {"class": "receipt_printer", "driver": "escpos", "port": link.url, "baudrate": 115200,
                           "poll_interval": 0.5, "timeout": 1.0, "required": True, "options": OPTIONS}}
    agent = agent_factory(broker.port, sections={"devices": devices})
    agent.start()
    api = agent.client()
    wait_until(lambda: api.get("/v1/health")[1]["devices"]["printer"]["state"] == "online", 30,
               message=lambda: api.get("/v1/health")[1]["devices"])
    yield agent
    agent.terminate()
    link.stop()


def logo_png() -> bytes:
    """600 x 120: a black frame with a checkerboard inside (scaled to 384 x 77 on 58 mm paper)."""
    art = []
    for y in range(120):
        row = "".join("#" if y < 6 or y >= 114 or x < 6 or x >= 594 or (x // 20 + y // 20) % 2 else "."
                      for x in range(600))
        art.append(row)
    return bitmap_png(art)


RECEIPT = [
    {"type": "image", "png": b64(logo_png())},
    {"type": "text", "text": "UTILITY OFFICE", "bold": True, "size": [2, 2], "align": "center"},
    {"type": "text", "text": "收据 Receipt 0001", "underline": True},
    {"type": "text", "text": "Total 12.00", "align": "right"},
    {"type": "feed", "lines": 1},
    {"type": "barcode", "symbology": "EAN13", "data": "400638133393", "hri": "below", "height": 60},
    {"type": "qr", "data": "https://pay.example.cn/r/0001", "module_size": 4, "error_correction": "Q"},
    {"type": "cut"},
]


def line(text: str, *, bold: bool = False, align: str = "left", width: int = 1, height: int = 1,
         underline: int = 0) -> dict[str, Any]:
    return {"type": "text", "text": text, "bold": bold, "align": align, "width": width, "height": height,
            "underline": underline, "reverse": False}


def test_a_receipt_with_logo_barcode_and_qr_comes_out_exactly(printer_kiosk: AgentProcess,
                                                             printer: TappedPrinter) -> None:
    api = printer_kiosk.client()
    code, doc = api.post("/v1/devices/printer/print", {"blocks": RECEIPT})
    assert (code, doc) == (200, {"printed": True, "lines": 3, "cut": True, "faults": []}), doc
    # what the simulator's status (kiosk-sim status) shows for the receipt, whole
    status = printer.snapshot()
    assert status["decode_errors"] == 0, status["last_decode_errors"]
    assert status["recent_receipts"][-1] == {"cut": "partial", "items": [
        {"type": "image", "width": 384, "height": 77, "source": "raster", "align": "center", "key": ""},
        line("UTILITY OFFICE", bold=True, align="center", width=2, height=2),
        line("收据 Receipt 0001", underline=1),
        line("Total 12.00", align="right"),
        {"type": "barcode", "symbology": "EAN13", "data": "4006381333931", "hri": "below", "height": 60,
         "module": 2, "align": "center"},
        {"type": "symbol", "kind": "qr", "data": "https://pay.example.cn/r/0001", "align": "center"},
        line("", align="center"),  # the line feed after the QR code
    ]}
    # and the bytes on the wire, read back with the printer's codec
    cmds, rest = decode_commands(bytes(printer.wire))
    assert rest == b""
    assert [(c.width_bytes * 8, c.height) for c in cmds if isinstance(c, RasterImageCommand)] == [(384, 77)]
    assert [(c.symbology, c.data) for c in cmds if isinstance(c, BarcodeCommand)] == [("EAN13", b"4006381333931")]
    events = api.get("/v1/devices/printer/events")[1]["events"]
    printed = [e["data"] for e in events if e["type"] == "receipt_printed"]
    assert printed and printed[-1]["barcodes"] == 1 and printed[-1]["images"] == 1 and printed[-1]["qr"] is True


def test_bad_blocks_get_422_with_every_path_and_nothing_is_printed(printer_kiosk: AgentProcess,
                                                                   printer: TappedPrinter) -> None:
    api = printer_kiosk.client()
    before = len(printer.wire)
    code, doc = api.post("/v1/devices/printer/print", {"blocks": [
        {"type": "text", "text": "ok"},
        {"type": "barcode", "symbology": "EAN13", "data": "4006381333932"},
        {"type": "image", "png": b64(b"GIF89a")},
        {"type": "qr", "data": ""},
    ]})
    assert code == 422, doc
    assert doc["error"]["code"] == "invalid_body"
    assert doc["error"]["problems"] == [
        "blocks[1].data: EAN13 check digit of 400638133393 is 1, got 2",
        "blocks[2].png: not a PNG image (the data does not start with the PNG signature)",
        "blocks[3].data: must be 1..7089 bytes in UTF-8, got 0",
    ]
    # a logo too big for the API's 64 KiB body is refused before it reaches the driver
    noise = random.Random(1).randbytes(250 * 250)
    code, doc = api.post("/v1/devices/printer/print", {"blocks": [{"type": "image", "png": b64(png(250, 250, noise))}]})
    assert code == 413 and doc["error"]["code"] == "too_large"
    # the shorthand still works and nothing of the refused requests reached the printer
    code, doc = api.post("/v1/devices/printer/print", {"lines": ["after"], "cut": True})
    assert code == 200 and doc["printed"] is True
    sent, _ = decode_commands(bytes(printer.wire[before:]))
    assert not [c for c in sent if isinstance(c, BarcodeCommand | RasterImageCommand)]
    assert printer.receipts[-1].text == ["after"]



def docs_example() -> tuple[str, str]:
    """docs/api.md's example body and the curl command under it, exactly as written there."""
    doc = (REPO / "docs" / "api.md").read_text(encoding="utf-8").split("### Example", 1)[1]
    body, after = doc.split("```json", 1)[1].split("```", 1)
    return body, after.split("```sh", 1)[1].split("```", 1)[0]


def test_the_docs_example_prints_with_the_docs_curl_on_kiosk_sim(tmp_path: Path, broker: Any) -> None:
    """As a person does it: `kiosk-sim run` in its own process, the daemon on the config it wrote, the
    docs' curl command (only the socket path swapped) posting the docs' receipt.json, and `kiosk-sim
    status` showing the receipt that came out."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    body, command = docs_example()
    state, cfg = tmp_path / "sim", tmp_path / "agent.toml"
    agent = AgentProcess(cfg, tmp_path)
    with kiosk_sim_run(state, cfg, broker.port):
        try:
            agent.start()
            api = agent.client()
            wait_until(lambda: api.get("/v1/health")[1]["devices"]["printer"]["state"] == "online", 30,
                       message=lambda: api.get("/v1/health")[1]["devices"])
            (tmp_path / "receipt.json").write_text(body, encoding="utf-8")
            command = command.replace("/run/kiosk-agent/api.sock", str(agent.socket_path))
            out = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out.stderr
            assert json.loads(out.stdout) == {"printed": True, "lines": 3, "cut": True, "faults": []}
            status = kiosk_sim(state, "status")
            assert status.returncode == 0, status.stderr
            printer = json.loads(status.stdout)["printer"]
        finally:
            agent.close()
    assert printer["decode_errors"] == 0, printer["last_decode_errors"]
    assert printer["recent_receipts"][-1] == {"cut": "partial", "items": [
        {"type": "image", "width": 16, "height": 8, "source": "raster", "align": "center", "key": ""},
        line("CITY UTILITY OFFICE", bold=True, align="center", height=2),
        line("Water bill 2026-11", underline=1),
        line("Total 128.50", align="right"),
        {"type": "barcode", "symbology": "CODE128", "data": "{BWB2611-0042", "hri": "below", "height": 80,
         "module": 2, "align": "center"},
        {"type": "symbol", "kind": "qr", "data": "https://pay.example.cn/r/0042", "align": "center"},
        line("", align="center"),
    ]}
