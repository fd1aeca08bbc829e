"""A journal key file replaced under records queued by the old symmetric scheme, against a real
daemon: the terminal fault ``journal_key_changed`` (action ``maintenance``) in ``GET /v1/health`` and
on ``up/health`` (validated against contract/schemas by the recorder), and none while the key that
sealed them is installed or once it is put back."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

from agent.journal import Journal
from agent.runtime.crypto import key_id
from agent.services.recovery import RecoveryAlarm
from tests.seal.test_journal_seal import _as_legacy, _txn
from tests.support.agent_proc import AgentProcess, base_config, write_config
from tests.support.broker import MosquittoBroker
from tests.support.fleetkey import fleet_sealing
from tests.support.recorder import Recorder

TERMINAL = "T-KEYCHG-1"
ROOT = f"kiosk/v1/TEST-SITE/{TERMINAL}"
SEALED_BY = b"a" * 32
REPLACED = b"b" * 32


def _install_key(workdir: Path, key: bytes) -> None:
    path = workdir / "journal.key"  # the default place beside the journal (no storage.key_file)
    path.write_bytes(key)
    path.chmod(0o600)


def _queue_legacy_records(workdir: Path, *txn_ids: str) -> None:
    """Records as the agent before the HPKE upgrade queued them: sealed with the journal key SEALED_BY."""
    j = Journal(workdir / "journal.db", SEALED_BY, terminal_id=TERMINAL, site="TEST-SITE",
                boot_id="01d0000000000001", min_free_mb=0, sealing=fleet_sealing())
    try:
        for t in txn_ids:
            j.submit_txn(_txn(t, {"pan": "6222****1234"}), offline=True)
    finally:
        j.close()
    for t in txn_ids:
        _as_legacy(workdir / "journal.db", t, SEALED_BY, {"pan": "6222****1234"})


def _key_faults(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in doc["faults"] if f["code"] == "journal_key_changed"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _agent(workdir: Path, mqtt_port: int) -> AgentProcess:
    cfg = write_config(workdir / "agent.toml", base_config(workdir, mqtt_port, TERMINAL))
    return AgentProcess(cfg, workdir, env={"CREDENTIALS_DIRECTORY": ""})  # the key beside the journal


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    os.chmod(tmp_path, 0o700)
    _queue_legacy_records(tmp_path, "old-1", "old-2")
    return tmp_path


def _api_fault(workdir: Path, key: bytes) -> list[dict[str, Any]]:
    """Start the daemon offline (the records stay queued) with ``key`` installed: its health faults."""
    _install_key(workdir, key)
    agent = _agent(workdir, _closed_port()).start()
    try:
        code, health = agent.client().get("/v1/health")
        assert code == 200
        assert agent.terminate() == 0
    finally:
        agent.close()
    return _key_faults(health)


def test_a_replaced_journal_key_is_a_terminal_fault_in_health(workdir: Path, fresh_broker: MosquittoBroker) -> None:
    assert _api_fault(workdir, SEALED_BY) == []  # the key that sealed them (their kid is recorded)
    [fault] = _api_fault(workdir, REPLACED)  # the key file replaced under the queued records
    assert fault["action"] == "maintenance"
    assert "changed under 2 queued records" in fault["text"] and key_id(SEALED_BY) in fault["text"]
    assert "journal.key" in fault["text"] and "restart" in fault["text"]  # what to do
    assert _api_fault(workdir, SEALED_BY) == []  # the engineer put the backup back

    _install_key(workdir, REPLACED)
    rec = Recorder(fresh_broker.host, fresh_broker.port, f"{ROOT}/#", client_id="keychg-recorder").start()
    agent = _agent(workdir, fresh_broker.port)
    try:
        agent.start()
        health = rec.wait_for(lambda m: m.topic == f"{ROOT}/up/health", 20).json()
        assert _key_faults(health) == [fault] and health["state"] != "ok"
        assert _key_faults(agent.client().get("/v1/health")[1]) == [fault]
    finally:
        agent.close()
        rec.stop()  # also checks every payload (the new fault code too) against contract/schemas


def test_the_fault_follows_the_journals_seal_problem(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o700)
    _queue_legacy_records(tmp_path, "old-1")
    j = Journal(tmp_path / "journal.db", REPLACED, terminal_id=TERMINAL, site="TEST-SITE",
                boot_id="01d0000000000002", min_free_mb=0)
    try:
        alarm = RecoveryAlarm(j, on_change=lambda: None)
        [fault] = alarm.faults()
        assert fault["code"] == "journal_key_changed" and fault["text"].startswith(j.seal_problem or "-")
        j.seal_problem = None
        assert alarm.faults() == []
    finally:
        j.close()
