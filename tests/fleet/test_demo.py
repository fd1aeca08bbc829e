"""``kiosk-fleet demo`` as a user runs it: a real private Mosquitto, ingest, simulated terminals and the
dashboard as child processes; the printed URL serves the terminals, the printed second command sees
them online; SIGTERM stops everything with exit 0, and no child outlives the demo, not even when one
of them, or the demo itself, is killed with SIGKILL."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from fleet.broker import write_config
from tests.fleet.dashboard_support import http
from tests.support.broker import mosquitto_path
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(mosquitto_path() is None, reason="mosquitto is not installed")


class DemoRun:
    def __init__(self, tmp_path: Path, terminals: int) -> None:
        self.state = tmp_path / "demo"
        self.out, self.err = tmp_path / "demo.out", tmp_path / "demo.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "fleet", "demo", "--duration", "300", "--state-dir", str(self.state),
                 "--listen", "127.0.0.1:0", "--terminals", str(terminals)], stdout=out, stderr=err)
        self.started: list[psutil.Process] = []
        self.url = ""

    def wait_ready(self) -> DemoRun:
        self.url = wait_until(self._url, 40, 0.1, message=self.output)
        self.started = list(self.children().values())  # for the cleanup, whatever the test does
        return self

    def _url(self) -> str | None:
        assert self.proc.poll() is None, self.output()
        m = re.search(r"^dashboard: (http://127\.0\.0\.1:\d+/)$", self.out.read_text(), re.M)
        return m.group(1) if m else None

    def output(self) -> str:
        return f"stdout:\n{self.out.read_text()}\nstderr:\n{self.err.read_text()[-3000:]}"

    def children(self) -> dict[str, psutil.Process]:
        """By role: the broker, and each ``python -m fleet -c CONFIG COMMAND`` by its command."""
        kids = psutil.Process(self.proc.pid).children(recursive=True)
        return {("mosquitto" if "mosquitto" in k.name() else k.cmdline()[5]): k for k in kids}

    def fleet(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "fleet", "-c", str(self.state / "fleet.toml"), *args],
                              capture_output=True, text=True, timeout=60)


@pytest.fixture
def demo_factory(tmp_path: Path) -> Iterator[type[DemoRun]]:
    runs: list[DemoRun] = []

    def make(terminals: int) -> DemoRun:
        runs.append(DemoRun(tmp_path, terminals))
        return runs[-1].wait_ready()
    yield make  # type: ignore[misc]
    for run in runs:  # a failed test still leaves nothing running
        run.proc.kill()
        run.proc.wait(10)
        for p in gone(run.started, 0):
            p.kill()


def gone(procs: list[psutil.Process], timeout_s: float = 15) -> list[psutil.Process]:
    """The processes still alive after ``timeout_s`` (waited on, not slept)."""
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    return alive


def test_demo_serves_the_fleet_and_stops_every_child_on_sigterm(demo_factory) -> None:
    demo = demo_factory(10)
    out = demo.out.read_text()
    assert f"-c {demo.state / 'fleet.toml'} report --month " in out and "incidents --open" in out
    ids = [f"sim-{i:05d}" for i in range(10)]
    body = wait_until(lambda: (lambda b: b if all(t in b for t in ids) else None)(http("GET", demo.url)[2]), 30,
                      0.2, message=lambda: http("GET", demo.url)[2][-2000:])
    assert "Fleet" in body

    def online() -> list[dict[str, object]] | None:
        r = demo.fleet("terminals", "--json")
        assert r.returncode == 0, r.stderr
        rows = json.loads(r.stdout)
        return rows if sorted(t["terminal_id"] for t in rows if t["online"]) == ids else None
    rows = wait_until(online, 30, 0.5, message=lambda: demo.fleet("terminals").stdout)
    assert {t["site"] for t in rows} == {f"S{i:03d}" for i in range(10)}
    sites = json.loads(demo.fleet("sites", "--json").stdout)
    assert {s["class"] for s in sites} == {"urban", "suburban"}
    # the README's second command, as the demo printed it: this month's report from the same store
    month = re.search(r" report --month (\d{4}-\d{2})$", out, re.M).group(1)  # type: ignore[union-attr]

    def report() -> list[dict[str, Any]] | None:
        r = demo.fleet("report", "--month", month, "--json")
        assert r.returncode == 0, r.stderr
        terms = json.loads(r.stdout)["terminals"]
        assert sorted(t["terminal_id"] for t in terms) == ids
        # every terminal announces its devices on connect, so each has an availability figure at once
        return terms if all(t["availability"] is not None for t in terms) else None
    terms = wait_until(report, 20, 0.5, message=lambda: demo.fleet("report", "--month", month).stdout)
    assert all(0.0 <= t["availability"] <= 1.0 for t in terms)
    conf = (demo.state / "mosquitto.conf").read_text()
    assert "listener 1883" not in conf and "max_queued_messages 0" in conf

    kids = demo.children()
    assert set(kids) == {"mosquitto", "ingest", "serve", "simulate"}, kids
    demo.proc.send_signal(signal.SIGTERM)
    assert demo.proc.wait(60) == 0, demo.output()
    assert gone(list(kids.values()), 0) == []
    assert "stopped" in demo.out.read_text()
    # the terminals said goodbye before ingest stopped: the store saw a clean shutdown, not a lost will
    assert {t["reason"] for t in json.loads(demo.fleet("terminals", "--json").stdout)} == {"shutdown"}


def test_a_child_killed_stops_the_demo_with_exit_1_and_no_orphans(demo_factory) -> None:
    demo = demo_factory(2)
    kids = demo.children()
    kids["ingest"].send_signal(signal.SIGKILL)
    assert demo.proc.wait(60) == 1, demo.output()
    assert "ingest exited with -9" in demo.err.read_text()
    assert gone(list(kids.values()), 0) == []


def test_the_demo_killed_takes_its_children_with_it(demo_factory) -> None:
    demo = demo_factory(2)
    kids = demo.children()
    demo.proc.send_signal(signal.SIGKILL)
    demo.proc.wait(10)
    assert gone(list(kids.values())) == [], "children outlived a SIGKILLed demo"


def test_the_broker_config_listens_only_on_loopback_and_never_drops(tmp_path: Path) -> None:
    text = write_config(tmp_path, 41234).read_text()
    assert "listener 41234 127.0.0.1" in text.splitlines()
    assert "max_queued_messages 0" in text and "persistence false" in text
