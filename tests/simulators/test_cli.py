"""`kiosk-sim` as a person runs it: run, fault, act, status; a real agent config comes out."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agent.config import load_config
from tests.support.agent_proc import REPO
from tests.support.waiting import wait_until


def _sim(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simulators", args[0], "--state-dir", str(state), *args[1:]],
                          cwd=REPO, capture_output=True, text=True, timeout=30)


@pytest.fixture
def running(tmp_path: Path):
    state, cfg = tmp_path / "sim", tmp_path / "agent.toml"
    proc = subprocess.Popen([sys.executable, "-m", "simulators", "run", "--state-dir", str(state),
                             "--config-out", str(cfg), "--mqtt-port", "18999"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: (state / "sim.sock").exists() or proc.poll() is not None, 20)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    yield state, cfg, proc
    proc.terminate()
    assert proc.wait(15) == 0
    assert not (state / "sim.sock").exists()


def test_run_writes_a_valid_agent_config_and_serves_control(running):
    state, cfg, _proc = running
    config = load_config(cfg)
    assert config.mqtt.port == 18999 and config.storage.path.startswith(str(state))
    doc = tomllib.loads(cfg.read_text())
    assert set(doc["devices"]) <= {"id_reader", "printer", "bill_acceptor", "card_reader", "scanner", "coin_acceptor"}
    for name, dev in doc["devices"].items():
        assert Path(dev["port"]).is_symlink(), name
    if "coin_acceptor" in doc["devices"]:  # its place in the acceptor's event buffer survives an agent restart
        assert Path(doc["devices"]["coin_acceptor"]["options"]["state_file"]).parent == state.resolve()
    status = json.loads(_sim(state, "status").stdout)
    assert set(status) == set(doc["devices"])
    if "printer" in status:
        before = json.loads(_sim(state, "status").stdout)["printer"]
        r = _sim(state, "fault", "printer", "paper_out")
        assert r.returncode == 0, r.stderr
        during = json.loads(_sim(state, "status").stdout)["printer"]
        assert during != before and "out" in json.dumps(during)
        assert _sim(state, "fault", "printer", "paper_out", "--clear").returncode == 0
        assert json.loads(_sim(state, "status").stdout)["printer"] == before
        r = _sim(state, "fault", "printer", "disconnect")
        assert r.returncode == 0 and not Path(doc["devices"]["printer"]["port"]).exists()
        assert _sim(state, "fault", "printer", "disconnect", "--clear").returncode == 0
        assert Path(doc["devices"]["printer"]["port"]).exists()
    if "bill_acceptor" in status:
        r = _sim(state, "act", "bill_acceptor", "insert_note", "50")
        assert r.returncode == 0 and "accepted" in json.loads(r.stdout)


def test_errors_have_clear_messages_and_exit_codes(running, tmp_path):
    state, _cfg, _proc = running
    r = _sim(state, "fault", "toaster", "paper_out")
    assert r.returncode == 1 and "no simulated device" in r.stderr
    name = json.loads(_sim(state, "status").stdout)
    first = next(iter(name))
    r = _sim(state, "fault", first, "on_fire")
    assert r.returncode == 1 and "has no fault" in r.stderr
    r = _sim(state, "act", first, "dance")
    assert r.returncode == 1 and "no action" in r.stderr
    r = _sim(tmp_path / "nowhere", "status")
    assert r.returncode == 2 and "no simulator is running" in r.stderr


def test_run_serves_a_crt310_card_reader_the_agent_drives(tmp_path: Path) -> None:
    """``kiosk-sim run --card-protocol crt310``: the generated config names the CRT-310 link, and the
    daemon run from that config reads the reader as online over it (and sees its jam)."""
    from tests.support.agent_proc import AgentProcess
    from tests.support.sims import kiosk_sim, kiosk_sim_run

    state, cfg = tmp_path / "sim", tmp_path / "agent.toml"
    with kiosk_sim_run(state, cfg, 18999, "--card-protocol", "crt310"):
        section = tomllib.loads(cfg.read_text())["devices"]["card_reader"]
        assert section["options"] == {"link": "crt310"}
        agent = AgentProcess(cfg, tmp_path).start()
        try:
            api = agent.client()

            def card() -> dict:
                return api.get("/v1/health")[1]["devices"]["card_reader"]

            wait_until(lambda: card()["state"] == "online", 20)
            assert kiosk_sim(state, "fault", "card_reader", "card_jam").returncode == 0
            wait_until(lambda: "card_jam" in card()["faults"], 20)
        finally:
            assert agent.terminate() == 0, agent.log_tail()
