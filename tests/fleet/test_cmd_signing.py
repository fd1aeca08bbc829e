"""fleet/cmd.py, the fleet's side of signed commands: the key pair it makes, the commands it builds
and signs (in process and as ``python -m fleet.cmd``) verify on the terminal's verifier
(agent/runtime/verify.py) and validate against contract/schemas/cmd.schema.json."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import contract
from agent.runtime.verify import load_trusted_key, verify_trusted
from fleet.cmd import CommandError, build, keygen, load_signing_key, timestamp
from tests.support.agent_proc import REPO


def test_keygen_makes_a_private_key_for_the_fleet_only_and_never_overwrites(tmp_path: Path) -> None:
    fingerprint = keygen(tmp_path / "cmd.key", tmp_path / "cmd.pub")
    assert (tmp_path / "cmd.key").stat().st_mode & 0o777 == 0o600
    assert load_trusted_key(tmp_path / "cmd.pub") == fingerprint
    with pytest.raises(FileExistsError):
        keygen(tmp_path / "cmd.key", tmp_path / "other.pub")


def test_built_commands_verify_and_validate(tmp_path: Path) -> None:
    trusted = frozenset({keygen(tmp_path / "cmd.key", tmp_path / "cmd.pub")})
    key = load_signing_key(tmp_path / "cmd.key")
    now = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
    cmd = build("logs", {"lines": 20, "level": "warning"}, key=key, now=now, expires_s=120)
    assert cmd["ts"] == "2026-12-02T13:00:00.000Z" and cmd["expires"] == timestamp(now + timedelta(seconds=120))
    assert verify_trusted(cmd, trusted) is None
    assert contract.validate("cmd", cmd) == []
    assert verify_trusted({**cmd, "args": {"lines": 21, "level": "warning"}}, trusted) is not None
    unsigned = build("health", {}, now=now)
    assert "signature" not in unsigned and contract.validate("cmd", unsigned) == []


def test_the_sign_command_for_other_tools(tmp_path: Path) -> None:
    trusted = frozenset({keygen(tmp_path / "cmd.key", tmp_path / "cmd.pub")})
    r = subprocess.run([sys.executable, "-m", "fleet.cmd", "sign", "--key", str(tmp_path / "cmd.key")],
                       input=json.dumps({"id": "ops-1", "cmd": "health"}), capture_output=True, text=True,
                       cwd=REPO, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    signed = json.loads(r.stdout)
    assert signed["ts"] and verify_trusted(signed, trusted) is None and contract.validate("cmd", signed) == []


def test_a_key_that_is_not_ed25519_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.pem").write_text("nope")
    with pytest.raises(CommandError, match="PEM private key"):
        load_signing_key(tmp_path / "x.pem")


def test_kiosk_fleet_cmd_signs_with_key(tmp_path: Path, fresh_broker, recorder) -> None:
    """``kiosk-fleet cmd T health --key PEM --expires 60``, as an operator types it: what reaches
    down/cmd is signed by that key, carries ts and expires, and validates."""
    trusted = frozenset({keygen(tmp_path / "cmd.key", tmp_path / "cmd.pub")})
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(f'[mqtt]\nhost = "127.0.0.1"\nport = {fresh_broker.port}\n[store]\nurl = "sqlite:///{tmp_path}/f.db"\n')
    rec = recorder("kiosk/v1/S1/T1/down/cmd", port=fresh_broker.port, contract_check=False)
    r = subprocess.run([sys.executable, "-m", "fleet", "-c", str(cfg), "cmd", "T1", "health", "--site", "S1",
                        "--key", str(tmp_path / "cmd.key"), "--expires", "60"], cwd=REPO, capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    cmd = rec.wait_for(lambda m: True, 10).json()
    assert cmd["cmd"] == "health" and cmd["ts"] and cmd["expires"]
    assert verify_trusted(cmd, trusted) is None and contract.validate("cmd", cmd) == []
