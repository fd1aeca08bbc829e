"""The dashboard under test: ``kiosk-fleet serve`` as a subprocess on a free loopback port (port 0: the
kernel picks it, the server logs the URL), against a fleet database with known content; and headless
Chromium through Selenium (Debian's chromium + chromium-driver)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.dashboard_data import Known, build
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
#: screenshots of every page the tests load (git-ignored; docs/img/ has the one the docs show)
SCREENS = ROOT / "bench" / "screens"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


class Serve:
    def __init__(self, workdir: Path, store_url: str, *extra: str) -> None:
        self.config = workdir / "fleet.toml"
        self.config.write_text(f'[store]\nurl = "{store_url}"\n')
        self.log = workdir / "serve.log"
        self.args = [sys.executable, "-m", "fleet", "-c", str(self.config), "--log-level", "info", "serve", *extra]
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self, timeout_s: float = 20.0) -> Serve:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, cwd=self.log.parent)

        def listening() -> str | None:
            for line in self.log_text().splitlines():
                if '"dashboard_listening"' in line:
                    return json.loads(line)["url"]
            assert self.proc is not None and self.proc.poll() is None, self.log_text()
            return None

        self.url = wait_until(listening, timeout_s, message=lambda: self.log_text()[-2000:]).rstrip("/")
        return self

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def http(method: str, url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=b"x" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


@pytest.fixture(scope="module")
def fleet_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Known]:
    work = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{work}/fleet.db"
    return work, build(url)


@pytest.fixture(scope="module")
def dashboard(fleet_db: tuple[Path, Known]) -> Iterator[Serve]:
    work, _ = fleet_db
    serve = Serve(work, f"sqlite:///{work}/fleet.db", "--listen", "127.0.0.1:0").start()
    try:
        yield serve
    finally:
        assert serve.stop() == 0, serve.log_text()[-2000:]
        assert '"dashboard_request_failed"' not in serve.log_text(), serve.log_text()[-4000:]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
              "--window-size=1280,1000", "--lang=en-US"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, name: str) -> Path:
    """The whole page, as a person scrolling it would see it."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(int(height) + 120, 6000))
    path = SCREENS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1000)
    return path
