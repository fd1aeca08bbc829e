"""contrib/: the update engines' hooks (Mender state scripts, RAUC handler and mark-good, greenboot check)
run in a fake environment: a PATH whose ``kiosk-agent``, ``rauc`` and ``systemctl`` record their argv.

The ``kiosk-agent`` shim runs this checkout's real console script unless told to answer with a fixed
exit code, so the hooks' command lines go through the real argument parser and a real (failing) check
against a configuration with no daemon behind it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from agent.cli.kiosk_agent import _parser
from tests.packaging.debbuild import REPO

CONTRIB = REPO / "contrib"
REAL = REPO / ".venv" / "bin" / "kiosk-agent"

SHIM = """#!/bin/sh
python3 -c 'import json, sys; print(json.dumps([sys.argv[1]] + sys.argv[2:]))' "$(basename "$0")" "$@" >>"$SHIM_LOG"
case $(basename "$0") in
kiosk-agent) [ -n "${SHIM_RC:-}" ] && exit "$SHIM_RC"; exec "$REAL_KIOSK_AGENT" "$@" ;;
esac
exit 0
"""


class FakeEnv:
    def __init__(self, tmp: Path) -> None:
        self.bin = tmp / "bin"
        self.bin.mkdir()
        for name in ("kiosk-agent", "rauc", "systemctl"):
            (self.bin / name).write_text(SHIM)
            (self.bin / name).chmod(0o755)
        self.log = tmp / "calls.jsonl"
        self.config = tmp / "agent.toml"
        # a valid configuration whose API socket has no daemon behind it
        self.config.write_text(f'[terminal]\nid = "T-HOOK"\n[storage]\npath = "{tmp}/journal.db"\n'
                               f'[api]\nsocket = "{tmp}/api.sock"\n')

    def run(self, script: str, rc: int | None = None, **env: str) -> tuple[int, list[list[str]], str]:
        self.log.write_text("")
        full = {"PATH": f"{self.bin}:{os.environ['PATH']}", "SHIM_LOG": str(self.log), "REAL_KIOSK_AGENT": str(REAL),
                "KIOSK_AGENT_CONFIG": str(self.config), "HOME": os.environ.get("HOME", "/root"), **env}
        if rc is not None:
            full["SHIM_RC"] = str(rc)
        p = subprocess.run([str(CONTRIB / script)], env=full, capture_output=True, text=True, timeout=60)
        calls = [json.loads(line) for line in self.log.read_text().splitlines()]
        for call in calls:
            if call[0] == "kiosk-agent":
                _parser().parse_args(call[1:])  # the real parser accepts what the hook passes
        return p.returncode, calls, p.stderr


@pytest.fixture
def fake(tmp_path: Path) -> FakeEnv:
    if not REAL.exists():
        pytest.skip(f"{REAL} is missing: create the project's venv")
    return FakeEnv(tmp_path)


def test_mender_baseline_before_install(fake: FakeEnv) -> None:
    script = "mender/ArtifactInstall_Enter_50_kiosk-agent-baseline"
    rc, calls, _ = fake.run(script)
    # real command, daemon down: the (empty) baseline is still saved and the install goes on
    assert (rc, calls) == (0, [["kiosk-agent", "health-check", "--save-baseline"]])
    assert json.loads((fake.config.parent / "update-baseline.json").read_text())["serving"] is False
    rc, _, err = fake.run(script, rc=2)
    assert rc == 1 and "not installing the update" in err


def test_mender_commit_gate(fake: FakeEnv) -> None:
    script = "mender/ArtifactCommit_Enter_50_kiosk-agent-health"
    assert fake.run(script, rc=0)[:2] == (0, [["kiosk-agent", "health-check", "--wait", "300"]])
    rc, calls, err = fake.run(script, rc=1)
    assert rc == 1 and "rolls back" in err
    # the real check against no daemon: fails, and the state script fails with 1 (never 21, "retry later")
    rc, calls, err = fake.run(script, KIOSK_AGENT_HEALTH_WAIT="0")
    assert calls == [["kiosk-agent", "health-check", "--wait", "0"]]
    assert rc == 1 and "the daemon is not serving" in err, err


def test_rauc_pre_install_and_mark_good(fake: FakeEnv) -> None:
    assert fake.run("rauc/kiosk-agent-pre-install", rc=0)[:2] == (
        0, [["kiosk-agent", "health-check", "--save-baseline"]])
    assert fake.run("rauc/kiosk-agent-pre-install", rc=1)[0] == 1
    rc, calls, _ = fake.run("rauc/kiosk-agent-mark-good", rc=0)
    assert (rc, calls) == (0, [["kiosk-agent", "health-check", "--wait", "300"],
                               ["rauc", "status", "mark-good", "booted"]])
    rc, calls, err = fake.run("rauc/kiosk-agent-mark-good", KIOSK_AGENT_HEALTH_WAIT="0")
    assert (rc, calls) == (1, [["kiosk-agent", "health-check", "--wait", "0"],
                               ["rauc", "status", "mark-bad", "booted"], ["systemctl", "reboot"]]), err
    unit = (CONTRIB / "rauc/kiosk-agent-mark-good.service").read_text()
    assert "ExecStart=/usr/lib/kiosk-agent/contrib/rauc/kiosk-agent-mark-good\n" in unit


def test_greenboot(fake: FakeEnv) -> None:
    assert fake.run("greenboot/50-kiosk-agent.sh", rc=0)[:2] == (0, [["kiosk-agent", "health-check", "--wait", "300"]])
    rc, calls, _ = fake.run("greenboot/50-kiosk-agent.sh", KIOSK_AGENT_HEALTH_WAIT="0")
    assert rc == 3 and calls == [["kiosk-agent", "health-check", "--wait", "0"]]
    assert fake.run("greenboot/kiosk-agent-baseline", rc=0)[:2] == (
        0, [["kiosk-agent", "health-check", "--save-baseline"]])


def test_docs_show_the_exact_scripts() -> None:
    """docs/updates.md shows the hooks as shipped, not a paraphrase that could drift from them."""
    doc = (REPO / "docs" / "updates.md").read_text()
    for script in ("mender/ArtifactInstall_Enter_50_kiosk-agent-baseline",
                   "mender/ArtifactCommit_Enter_50_kiosk-agent-health", "rauc/kiosk-agent-mark-good",
                   "greenboot/50-kiosk-agent.sh"):
        assert f"```shell\n{(CONTRIB / script).read_text()}```\n" in doc, script
