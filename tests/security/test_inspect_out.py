"""Finding 11: ``kiosk-agent inspect --out`` wrote through a symlink at the name, and ``--out
r.json`` wrote the HTML page there and then overwrote it with the JSON. Run as the field engineer
runs it, against the running daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support.agent_proc import REPO


def _inspect(agent, out: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", "-c", str(agent.config_path), "inspect", "--engineer",
                           "李工", "--out", out], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_out_does_not_follow_a_symlink(daemon) -> None:
    agent = daemon()
    victim = agent.workdir / "victim.conf"
    victim.write_text("keep me\n")
    os.chmod(victim, 0o600)
    out = agent.workdir / "report.html"
    out.symlink_to(victim)
    (agent.workdir / "report.json").symlink_to(victim)
    r = _inspect(agent, str(out))
    assert r.returncode in (0, 1), r.stderr  # 1: no devices, the self-test has nothing to pass
    assert victim.read_text() == "keep me\n", "the report was written through the symlink"
    assert not out.is_symlink() and "Inspection report" in out.read_text()
    assert json.loads((agent.workdir / "report.json").read_text())["terminal_id"] == "T-SEC"
    assert not [p for p in agent.workdir.iterdir() if p.name.endswith(".tmp")]


def test_out_json_is_json_and_the_page_goes_next_to_it(daemon) -> None:
    agent = daemon()
    out = agent.workdir / "r.json"
    r = _inspect(agent, str(out))
    assert r.returncode in (0, 1), r.stderr
    assert json.loads(out.read_text())["terminal_id"] == "T-SEC"
    assert (agent.workdir / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert "r.html" in r.stdout and "r.json" in r.stdout
