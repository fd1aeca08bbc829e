"""``kiosk-agent health-check``: the update gate, run as an update engine runs it (this checkout's console
script) against a real daemon, the simulated devices and a private Mosquitto this module may stop.

Healthy; a device worse than the saved baseline (a fault injected into its simulator); the broker
unreachable (and the same outage already in the baseline, which must not fail the gate); ``--wait``
passing once the uplink is back; the daemon down. See docs/updates.md.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent import __version__
from agent.cli.health_check import evaluate, reduce
from tests.cli.conftest import run_cli
from tests.support.agent_proc import AgentProcess
from tests.support.broker import MosquittoBroker, mosquitto_path
from tests.support.sims import kiosk_sim, kiosk_sim_run
from tests.support.waiting import wait_until


@dataclass
class Kiosk:
    config: Path
    state: Path
    broker: MosquittoBroker
    agent: AgentProcess

    def health(self) -> dict[str, Any]:
        code, doc = self.agent.client().get("/v1/health")
        assert code == 200
        return doc  # type: ignore[no-any-return]

    def check(self, *args: str) -> Any:
        return run_cli("kiosk-agent", "health-check", "-c", self.config, *args, timeout_s=90)

    def healthy(self) -> bool:
        doc = self.health()
        return doc["connectivity"]["online"] and all(d["state"] == "online" for d in doc["devices"].values())


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiosk]:
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed")
    work = tmp_path_factory.mktemp("health-check")
    broker = MosquittoBroker(work / "mosquitto").start()
    state, config = work / "sim", work / "agent.toml"
    try:
        with kiosk_sim_run(state, config, broker.port, "--terminal-id", "T-HC-0001"):
            agent = AgentProcess(config, work)
            try:
                agent.start()
                k = Kiosk(config, state, broker, agent)
                wait_until(k.healthy, 40, interval_s=0.1, message=lambda: json.dumps(k.health(), indent=1)[:3000])
                yield k
            finally:
                agent.close()
    finally:
        broker.stop()


def test_healthy_after_saving_the_baseline(kiosk: Kiosk) -> None:
    r = kiosk.check("--save-baseline")
    assert r.returncode == 0, r.stderr
    journal = Path(tomllib.loads(kiosk.config.read_text())["storage"]["path"])
    saved = json.loads((journal.parent / "update-baseline.json").read_text())
    assert saved["serving"] and saved["uplink_online"] and saved["version"] == __version__
    assert saved["devices"] and all(d["state"] == "online" for d in saved["devices"].values())

    r = kiosk.check("--json")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] and doc["baseline"] == str(journal.parent / "update-baseline.json")
    assert [c["name"] for c in doc["checks"]] == ["serving", "version", "journal", "uplink", "devices"]
    assert all(c["ok"] for c in doc["checks"]) and r.stderr == ""


def test_a_device_worse_than_the_baseline_fails(kiosk: Kiosk) -> None:
    assert kiosk.check("--save-baseline").returncode == 0
    assert kiosk_sim(kiosk.state, "fault", "printer", "paper_out").returncode == 0
    try:
        wait_until(lambda: kiosk.health()["devices"]["printer"]["state"] not in ("online", "deviceBusy"), 30)
        r = kiosk.check()
        assert r.returncode == 1, r.stdout + r.stderr
        assert "health-check: devices: printer is" in r.stderr and "(was online)" in r.stderr, r.stderr
        doc = json.loads(kiosk.check("--json").stdout)
        assert {c["name"]: c["ok"] for c in doc["checks"]} == {
            "serving": True, "version": True, "journal": True, "uplink": True, "devices": False}
        # a baseline taken with the fault already there: the update did not make it worse
        assert kiosk.check("--save-baseline").returncode == 0
        r = kiosk.check()
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        assert kiosk_sim(kiosk.state, "fault", "printer", "paper_out", "--clear").returncode == 0
        wait_until(kiosk.healthy, 30)
        assert kiosk.check("--save-baseline").returncode == 0


def test_broker_unreachable_fails_unless_it_already_was(kiosk: Kiosk, tmp_path: Path) -> None:
    assert kiosk.check("--save-baseline").returncode == 0
    kiosk.broker.stop()
    try:
        wait_until(lambda: not kiosk.health()["connectivity"]["online"], 30)
        r = kiosk.check()
        assert r.returncode == 1
        assert "health-check: uplink: not connected to 127.0.0.1:" in r.stderr, r.stderr
        # an update made during an outage: the baseline says offline, so offline is not a regression
        offline = tmp_path / "offline-baseline.json"
        assert kiosk.check("--save-baseline", "--baseline", str(offline)).returncode == 0
        assert json.loads(offline.read_text())["uplink_online"] is False
        r = kiosk.check("--baseline", str(offline))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "offline before the update too" in r.stdout
    finally:
        kiosk.broker.start()
    # --wait: passes once the uplink has reconnected to the restarted broker
    r = kiosk.check("--wait", "60")
    assert r.returncode == 0, r.stdout + r.stderr
    assert kiosk.health()["connectivity"]["online"]


def test_daemon_down(kiosk: Kiosk, tmp_path: Path) -> None:
    """The same terminal's configuration, its API socket with no daemon behind it."""
    cfg = tmp_path / "agent.toml"
    cfg.write_text(kiosk.config.read_text().replace(str(kiosk.agent.socket_path), str(tmp_path / "none.sock")))
    assert str(tmp_path / "none.sock") in cfg.read_text()
    r = run_cli("kiosk-agent", "health-check", "-c", cfg, "--json", "--wait", "1")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "health-check: serving: the daemon is not serving" in r.stderr
    assert json.loads(r.stdout)["checks"] == [
        {"name": "serving", "ok": False, "detail": json.loads(r.stdout)["checks"][0]["detail"]}]
    # a baseline can still be saved (the update may be what repairs the agent); it records that
    r = run_cli("kiosk-agent", "health-check", "-c", cfg, "--save-baseline", "--baseline", tmp_path / "b.json")
    assert r.returncode == 0 and "not serving" in r.stderr
    assert json.loads((tmp_path / "b.json").read_text())["serving"] is False


def test_a_corrupt_baseline_is_a_usage_error(kiosk: Kiosk, tmp_path: Path) -> None:
    bad = tmp_path / "baseline.json"
    bad.write_text("{not json")
    r = kiosk.check("--baseline", str(bad))
    assert r.returncode == 2 and "unreadable" in r.stderr, r.stderr


# -- the rules, on health documents -------------------------------------------------------------------

def _doc(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "agent": {"version": __version__, "pid": 1, "uptime_s": 5.0},
        "connectivity": {"online": True, "broker": "b:8883", "last_error": None},
        "faults": [],
        "devices": {"printer": {"state": "online", "required": True, "faults": []},
                    "scanner": {"state": "online", "required": False, "faults": []}},
    }
    doc.update(over)
    return doc


def _failed(checks: list[Any]) -> dict[str, str]:
    return {c.name: c.detail for c in checks if not c.ok}


def test_rules() -> None:
    base = reduce(_doc())
    assert _failed(evaluate(_doc(), base)) == {}
    assert _failed(evaluate(_doc(), None)) == {}
    # an old daemon still running after the upgrade
    assert "not restarted" in _failed(evaluate(_doc(agent={"version": "0.0.9"}), base))["version"]
    # a new terminal fault fails; one the baseline already had does not
    fault = {"code": "journal_recovered", "text": "rebuilt", "action": "maintenance"}
    assert "journal_recovered" in _failed(evaluate(_doc(faults=[fault]), base))["journal"]
    assert _failed(evaluate(_doc(faults=[fault]), reduce(_doc(faults=[fault])))) == {}
    # a required device gone worse, or gone; an optional one does not gate
    printer_down = {"printer": {"state": "hardwareError", "required": True, "faults": ["head_error"]},
                    "scanner": {"state": "online", "required": False, "faults": []}}
    assert "printer is hardwareError (was online) [head_error]" in _failed(evaluate(_doc(devices=printer_down),
                                                                                    base))["devices"]
    assert "gone from the configuration" in _failed(evaluate(
        _doc(devices={"scanner": {"state": "online", "required": False, "faults": []}}), base))["devices"]
    scanner_down = {"printer": {"state": "online", "required": True, "faults": []},
                    "scanner": {"state": "offline", "required": False, "faults": []}}
    assert _failed(evaluate(_doc(devices=scanner_down), base)) == {}
    # without a baseline every required device must be usable and the uplink connected
    assert "printer" in _failed(evaluate(_doc(devices=printer_down), None))["devices"]
    offline = {"online": False, "broker": "b:8883", "last_error": "refused"}
    assert "refused" in _failed(evaluate(_doc(connectivity=offline), None))["uplink"]
    assert _failed(evaluate(_doc(connectivity=offline), reduce(_doc(connectivity=offline)))) == {}
    # no answer at all
    assert list(_failed(evaluate(None, base, serving_detail="no socket"))) == ["serving"]
