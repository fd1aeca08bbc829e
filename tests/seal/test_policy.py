"""Without a fleet key the daemon refuses ``data`` with a clear 422 (nothing recorded) unless the
operator allowed clear data; ``config check`` says which, and refuses a key file that is not an
X25519 public key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.agent_proc import REPO, AgentProcess, base_config, write_config
from tests.support.fleetkey import fleet_keypair

BODY = {"kind": "payment", "amount": 10, "method": "cash", "data": {"holder": "Li Na"}}


def _config(tmp_path: Path, port: int, seal: dict[str, Any] | None) -> Path:
    cfg = base_config(tmp_path, port, "T-SEAL-P")
    cfg.pop("seal")
    if seal is not None:
        cfg["seal"] = seal
    return write_config(tmp_path / "agent.toml", cfg)


def _check(cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", "-c", str(cfg), "config", "check"], capture_output=True,
                          text=True, timeout=60, cwd=REPO, check=False)


def test_no_fleet_key_refuses_data_with_422_and_allow_clear_publishes_it(tmp_path: Path, broker, recorder) -> None:
    agent = AgentProcess(_config(tmp_path, broker.port, None), tmp_path).start()
    try:
        api = agent.client()
        status, doc = api.post("/v1/transactions", {**BODY, "txn_id": "with-data"})
        assert status == 422 and "fleet_public_key" in str(doc) and "allow_clear" in str(doc), doc
        assert api.get("/v1/transactions/with-data")[0] == 404  # nothing recorded
        assert api.post("/v1/transactions", {**BODY, "data": None, "txn_id": "no-data"})[0] == 201
    finally:
        assert agent.terminate() == 0
    rec = recorder("kiosk/#", port=broker.port)
    agent = AgentProcess(_config(tmp_path, broker.port, {"allow_clear": True}), tmp_path).start()
    try:
        assert agent.client().post("/v1/transactions", {**BODY, "txn_id": "clear-1"})[0] == 201
        # the recorder checks every payload against contract/schemas (a clear txn carries "data")
        doc = rec.wait_for(lambda m: m.topic.endswith("/up/txn") and m.json()["txn_id"] == "clear-1", 30).json()
    finally:
        assert agent.terminate() == 0
    assert doc["data"] == {"holder": "Li Na"} and "data_enc" not in doc


def test_config_check_says_how_data_is_treated(tmp_path: Path) -> None:
    r = _check(_config(tmp_path, 1883, None))
    assert r.returncode == 0 and "no fleet_public_key is configured" in r.stdout and "422" in r.stdout, r.stdout
    r = _check(_config(tmp_path, 1883, {"allow_clear": True}))  # the operator's explicit choice
    assert r.returncode == 0 and "seal" not in r.stdout, r.stdout
    r = _check(_config(tmp_path, 1883, {"allow_clear": True, "fleet_public_key": str(fleet_keypair()[1])}))
    assert r.returncode == 0 and "seal.allow_clear: ignored" in r.stdout, r.stdout
    r = _check(_config(tmp_path, 1883, {"fleet_public_key": [str(fleet_keypair()[1])]}))
    assert r.returncode == 0 and "seal" not in r.stdout, r.stdout
    ed = tmp_path / "ed25519.pub.pem"
    ed.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    r = _check(_config(tmp_path, 1883, {"fleet_public_key": [str(fleet_keypair()[1]), str(ed)]}))
    assert r.returncode != 0 and "not an X25519 public key" in r.stdout + r.stderr, (r.stdout, r.stderr)
    r = _check(_config(tmp_path, 1883, {"fleet_public_key": str(tmp_path / "missing.pem")}))
    assert r.returncode != 0 and "cannot read" in r.stdout + r.stderr
    r = _check(_config(tmp_path, 1883, {"fleet_public_key": []}))
    assert r.returncode != 0 and "seal.fleet_public_key" in r.stdout + r.stderr
