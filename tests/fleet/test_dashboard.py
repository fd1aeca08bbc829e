"""The dashboard (kiosk-fleet serve) loaded in headless Chromium against a fleet database with known
content: what a person would see on each page (the DOM after rendering), plus a screenshot."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleet import ops, records
from fleet.payloads import FakeTerminal
from fleet.store import open_store
from tests.support.broker import free_port
from tests.support.waiting import wait_tcp


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return exe


def _browse(exe: str, url: str, tmp: Path, shot: Path | None = None) -> str:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp / 'chromium'}",
             "--virtual-time-budget=2000"]
    if shot is not None:
        subprocess.run([exe, *flags, f"--screenshot={shot}", "--window-size=1200,900", url], capture_output=True,
                       timeout=90, check=True)
    return subprocess.run([exe, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=90,
                          check=True).stdout


def test_the_dashboard_pages_in_headless_chromium(tmp_path: Path) -> None:
    exe = _chromium()
    url = f"sqlite:///{tmp_path}/fleet.db"
    store = open_store(url)
    store.migrate()
    now = datetime.now(UTC)
    ops.set_site(store, "BJ-1", "Haidian", "urban")
    a, b = FakeTerminal("T-DASH-1", "BJ-1"), FakeTerminal("T-DASH-2", "BJ-1")
    docs = [(a, "status", a.status(ts=now)), (b, "status", b.status(ts=now)),
            (a, "events", a.device_state("printer", "online", None, [], ts=now - timedelta(hours=2))),
            (a, "events", a.device_state("printer", "userError", "online", ["paper_out"], "replenish",
                                         ts=now - timedelta(hours=1))),
            (a, "health", a.health({"printer": ("receipt_printer", "userError", ["paper_out"], "replenish")}, ts=now)),
            (b, "status", b.status("offline", "lwt", ts=now + timedelta(seconds=1)))]
    store.write_batch([records.parse(t.prefix, t.topic(leaf), json.dumps(d).encode(), d["ts"]) for t, leaf, d in docs])
    store.close()
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(f'[store]\nurl = "{url}"\n')
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "fleet", "-c", str(cfg), "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_tcp("127.0.0.1", port, 20, message="kiosk-fleet serve did not listen")
        home = _browse(exe, f"http://127.0.0.1:{port}/", tmp_path, tmp_path / "fleet.png")
        assert "2 terminals, 1 online, 1 offline, 1 open incidents." in home
        assert "T-DASH-2" in home.split("Offline now")[1].split("Open incidents")[0]  # the offline one
        assert "paper_out" in home.split("Open incidents")[1]
        assert (tmp_path / "fleet.png").stat().st_size > 1000
        page = _browse(exe, f"http://127.0.0.1:{port}/terminal/T-DASH-1", tmp_path)
        assert "Terminal T-DASH-1" in page and "receipt_printer" in page and "replenish" in page
        assert "device_state" in page  # recent events
        month = now.strftime("%Y-%m")
        rep = _browse(exe, f"http://127.0.0.1:{port}/report/{month}", tmp_path)
        assert f"Service report {month}" in rep and "paper_out" in rep and "urban" in rep
        missing = _browse(exe, f"http://127.0.0.1:{port}/terminal/NOPE", tmp_path)
        assert "Not found" in missing
    finally:
        proc.terminate()
        proc.wait(10)
