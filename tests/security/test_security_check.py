"""``kiosk-agent selftest --security`` and the inspection report's ``security`` section, against the
real daemon (``python -m agent run``) and without it: the exit code follows the failures, a weakened
file is named with its fix, and the signed report carries the section and still verifies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jsonschema import Draft202012Validator

import contract
from tests.support.agent_proc import REPO, AgentProcess, base_config, write_config


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", "-c", str(config), *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO)


def ca_file(path: Path) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def statuses(doc: dict[str, Any]) -> dict[str, str]:
    return {c["check"]: c["status"] for c in doc["checks"]}


def test_without_the_daemon_plaintext_fails(tmp_path: Path) -> None:
    config = write_config(tmp_path / "agent.toml", base_config(tmp_path, 1883, "T-SEC-CHK"))
    r = cli(config, "selftest", "--security", "--json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) == {"ok", "terminal_id", "checks"} and doc["terminal_id"] == "T-SEC-CHK" and doc["ok"] is False
    got = statuses(doc)
    assert got["mqtt_tls"] == "fail" and got["api_socket"] == "skip"
    text = cli(config, "selftest", "--security")
    assert text.returncode == 1
    assert "FAIL  mqtt_tls" in text.stdout and "-> set mqtt.tls_ca" in text.stdout
    assert text.stdout.strip().splitlines()[-1].startswith("FAILED (1 FAIL")
    misuse = cli(config, "selftest", "printer", "--security")
    assert misuse.returncode == 2 and "takes no devices" in misuse.stderr


def test_an_inspection_without_the_daemon_carries_the_section_and_verifies(tmp_path: Path) -> None:
    """``kiosk-agent inspect`` with the daemon stopped: the signed report has ``security`` too."""
    config = write_config(tmp_path / "agent.toml", base_config(tmp_path, 1883, "T-SEC-INS"))
    first = AgentProcess(config, tmp_path).start()  # a terminal that has run: its keys and journal exist
    assert first.terminate() == 0, first.log_tail()
    out = tmp_path / "r.html"
    r = cli(config, "inspect", "--engineer", "Li Na", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(out.with_suffix(".json").read_text())
    assert statuses(report["security"])["mqtt_tls"] == "fail"
    assert subprocess.run([sys.executable, "-m", "agent", "inspect", "--verify", str(out.with_suffix(".json"))],
                          capture_output=True, text=True, timeout=60, cwd=REPO).returncode == 0


def test_with_the_daemon_posture_and_the_signed_inspection(daemon: Callable[..., AgentProcess],
                                                           short_dir: Path) -> None:
    ca = ca_file(short_dir / "ca.pem")
    agent = daemon(sections={"mqtt": {"tls_ca": ca}})
    config = agent.config_path
    r = cli(config, "selftest", "--security", "--json")
    got = statuses(json.loads(r.stdout))
    assert r.returncode == 0, r.stdout
    assert got["mqtt_tls"] == "pass" and got["api_socket"] == "pass" and got["journal_directory"] == "pass"
    assert got["secret_file.journal_key"] == "pass" and got["clear_data"] == "pass"

    # a weakened journal directory: named, with the fix, and the exit code says so
    os.chmod(agent.workdir, 0o777)
    try:
        r = cli(config, "selftest", "--security")
        assert r.returncode == 1
        assert "FAIL  journal_directory" in r.stdout and f"-> chmod 0700 {agent.workdir}" in r.stdout
    finally:
        os.chmod(agent.workdir, 0o700)

    # the inspection (through the daemon) carries the section, matches the schema and verifies
    out = short_dir / "report.html"
    r = cli(config, "inspect", "--engineer", "Wang", "--out", str(out))
    assert r.returncode == 0, r.stderr
    report = json.loads(out.with_suffix(".json").read_text())
    assert statuses(report["security"]) == got and report["security"]["ok"] is True
    schema = Draft202012Validator({"$ref": "selftest.schema.json#/$defs/inspection"},
                                  registry=contract._registry())
    assert [e.message for e in schema.iter_errors(report)] == []
    assert "安全检查 Security check" in out.read_text() and "mqtt_tls" in out.read_text()
    v = subprocess.run([sys.executable, "-m", "agent", "inspect", "--verify", str(out.with_suffix(".json"))],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert v.returncode == 0, v.stdout + v.stderr
    report["security"]["checks"][0]["status"] = "pass" if report["security"]["checks"][0]["status"] != "pass" \
        else "fail"
    tampered = short_dir / "tampered.json"
    tampered.write_text(json.dumps(report))
    v = subprocess.run([sys.executable, "-m", "agent", "inspect", "--verify", str(tampered)],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert v.returncode == 1
