"""Signed reports from a real daemon: the key in up/status, the inspection and self-test records on
up/selftest verified by the documented rule with only ``cryptography``, a one-byte change refused,
and ``kiosk-agent inspect --verify`` saying so with its exit code."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.services.inspection_html import render
from tests.support.agent_proc import REPO, AgentProcess, base_config, write_config
from tests.support.broker import MosquittoBroker
from tests.support.recorder import Recorder

TERMINAL = "T-SIGN-1"
ROOT = f"kiosk/v1/TEST-SITE/{TERMINAL}"


def _example_consumer() -> Any:
    """docs/examples/consumer.py: the canonical JSON a fleet writes from the docs, without agent code."""
    spec = importlib.util.spec_from_file_location("example_consumer", REPO / "docs" / "examples" / "consumer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


documented_canonical_json = _example_consumer().canonical


def verify_as_a_fleet_would(report: dict[str, Any], fingerprint: str) -> None:
    """Raises InvalidSignature (or AssertionError) unless ``report`` is signed by that key."""
    sig = report["signature"]
    assert sig["alg"] == "Ed25519-JCS"
    raw = base64.b64decode(sig["public_key"])
    assert hashlib.sha256(raw).hexdigest() == fingerprint == sig["fingerprint"]
    body = {k: v for k, v in report.items() if k != "signature"}
    Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(sig["sig"]), documented_canonical_json(body))


@pytest.fixture
def daemon(tmp_path: Path, fresh_broker: MosquittoBroker) -> Iterator[tuple[AgentProcess, Recorder]]:
    rec = Recorder(fresh_broker.host, fresh_broker.port, f"{ROOT}/#", client_id="signing-recorder").start()
    agent = AgentProcess(write_config(tmp_path / "agent.toml", base_config(tmp_path, fresh_broker.port, TERMINAL)),
                         tmp_path)
    try:
        yield agent.start(), rec
    finally:
        agent.close()
        rec.stop()  # also checks every payload against contract/schemas


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def test_reports_are_signed_by_the_key_in_status_and_a_one_byte_change_is_caught(
        daemon: tuple[AgentProcess, Recorder], tmp_path: Path) -> None:
    agent, rec = daemon
    key_file = tmp_path / "signing.key"  # made on the first start, beside the journal key, 0600
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and key_file.stat().st_size == 32
    status = rec.wait_for(lambda m: m.topic == f"{ROOT}/up/status" and m.json()["state"] == "online", 20).json()
    fp = status["signing_key"]["fingerprint"]

    code, report = agent.client(timeout_s=60).post("/v1/inspection", {"engineer": "王工", "checks": ["exterior"]})
    assert code == 200, report
    verify_as_a_fleet_would(report, fp)
    verify_as_a_fleet_would(report["selftest"], fp)
    published = rec.wait_for(lambda m: m.topic == f"{ROOT}/up/selftest" and m.json()["type"] == "inspection", 20)
    verify_as_a_fleet_would(published.json()["data"], fp)  # as received over MQTT
    selftest = rec.wait_for(lambda m: m.topic == f"{ROOT}/up/selftest" and m.json()["type"] == "selftest", 20)
    verify_as_a_fleet_would(selftest.json()["data"], fp)

    # the printed page names the key, in groups of four to read aloud
    page = render(report)
    assert " ".join(fp[i:i + 4] for i in range(0, 64, 4)) in page and "inspect --verify" in page

    # one byte changed anywhere in what was signed: the signature no longer holds
    text = json.dumps(report, ensure_ascii=False)
    for old, new in (('"王工"', '"王二"'), ('"ok": true', '"ok": 1'), ('"exterior"', '"exteriox"')):
        assert old in text
        with pytest.raises(InvalidSignature):
            verify_as_a_fleet_would(json.loads(text.replace(old, new, 1)), fp)

    # the CLI an auditor runs: no configuration needed
    good = tmp_path / "report.json"
    good.write_text(text, encoding="utf-8")
    r = _cli("inspect", "--verify", str(good), "--fingerprint", fp)
    assert r.returncode == 0 and "valid signature" in r.stdout and fp in r.stdout, r.stdout + r.stderr
    bad = tmp_path / "changed.json"
    bad.write_bytes(good.read_bytes().replace("王工".encode(), "王二".encode(), 1))
    r = _cli("inspect", "--verify", str(bad))
    assert r.returncode == 1 and "INVALID" in r.stderr and "changed after signing" in r.stderr
    r = _cli("inspect", "--verify", str(good), "--fingerprint", "00" * 32)
    assert r.returncode == 1 and "not by the expected" in r.stderr
    r = _cli("--json", "inspect", "--verify", str(good))
    assert r.returncode == 0 and json.loads(r.stdout) == {"valid": True, "reason": None, "fingerprint": fp}
    (tmp_path / "junk.json").write_bytes(os.urandom(64))
    assert _cli("inspect", "--verify", str(tmp_path / "junk.json")).returncode == 2

    # the key survives restarts: the same fingerprint after the daemon comes back
    assert agent.terminate() == 0
    rec.clear()
    agent.start()
    again = rec.wait_for(lambda m: m.topic == f"{ROOT}/up/status" and m.json()["state"] == "online", 20).json()
    assert again["signing_key"] == status["signing_key"]
