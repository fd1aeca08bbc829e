"""Documents the agent's own code builds, with every optional part present, against the schemas.

The health document of a terminal that has everything at once — a device with faults, a device
disabled, a device section that is invalid, offline ceilings, every terminal fault — must validate,
and must use every key the schema declares (so the schema promises nothing the code never sends).
The journal records published from it (a sealed transaction, the journal-recovered alarm, the
self-test and inspection reports, the inspection made by ``kiosk-agent inspect`` while the daemon
is stopped) validate too.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

import contract
from agent.app import Agent
from agent.cli.inspection import inspect_direct
from agent.config import AgentConfig, parse_config
from agent.journal import Journal
from agent.services.txn import validate as validate_txn
from agent.uplink import failures
from agent.uplink.payloads import wire_document
from drivers.base.health import Action, DeviceState, Fault, SelftestLevel, Severity
from tests.contract.schema_walk import declared, present, root
from tests.support.broker import free_port
from tests.support.fleetkey import fleet_keypair

LEAF_OF_KIND = {"txn": "txn", "event": "events", "report": "selftest"}


def _config(tmp_path: Path) -> AgentConfig:
    missing = str(tmp_path / "no-such-port")
    devices: dict[str, Any] = {name: {"class": cls, "port": missing} for name, cls in (
        ("printer", "receipt_printer"), ("bill_acceptor", "bill_acceptor"), ("card_reader", "card_reader"),
        ("id_reader", "id_reader"), ("scanner", "barcode_scanner"))}
    devices["spare_printer"] = {"class": "receipt_printer", "port": missing, "enabled": False, "required": False}
    devices["teleporter"] = {"class": "teleporter", "port": missing}  # an invalid section: disabled, reported
    return parse_config({
        "terminal": {"id": "T-GEN-1", "site": "GEN-SITE"},
        "storage": {"path": str(tmp_path / "journal.db")},
        "mqtt": {"host": "127.0.0.1", "port": free_port()},  # never connected: the uplink is not started
        "api": {"socket": str(tmp_path / "api.sock")},
        "seal": {"fleet_public_key": str(fleet_keypair()[1])},
        "devices": devices,
        "offline_limits": {"unionpay": {"max_amount": 500_000, "max_total": 2_000_000, "max_age_s": 86400}},
    })


@pytest.fixture(scope="module")
def salvaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A journal that was corrupt when the agent started: quarantined, rebuilt, the alarm raised
    (a journal_recovered event queued, the terminal fault set). Made once: salvage takes seconds."""
    workdir = tmp_path_factory.mktemp("salvaged")
    cfg = _config(workdir)
    Path(cfg.storage.path).write_bytes(b"this is not an SQLite database\n" * 64)
    first = Agent(cfg)
    first.commands.close()
    first.journal.close()
    return workdir


@pytest.fixture
def agent(tmp_path: Path, salvaged: Path) -> Iterator[Agent]:
    for f in salvaged.iterdir():
        if f.name.startswith(("journal.db", "journal.key")):
            shutil.copy2(f, tmp_path / f.name)
    instance = Agent(_config(tmp_path))
    try:
        yield instance
    finally:
        instance.commands.close()
        instance.journal.close()


def _with_every_terminal_fault(agent: Agent) -> None:
    agent.transactions.submit(validate_txn({"kind": "payment", "amount": 1, "method": "qr", "txn_id": "dead-1"}))
    assert agent.journal.reject_txn("dead-1", "unknown merchant", final=True, max_attempts=0) == "dead"
    agent.health.storage_fault = "only 3 MB free on the journal's disk, the floor is storage.min_free_mb = 64"
    agent.uplink.forwarder.denied = "Not authorized (0x87)"
    agent.journal.seal_problem = "the journal key file changed under 1 queued records sealed by the old scheme"
    # one connection failure at a time (the latest attempt's); code_vs_schema checks them all
    agent.uplink.link_failure = failures.from_connack(agent.cfg.mqtt, "Bad user name or password", 0x86)


def _with_device_faults(agent: Agent) -> None:
    snaps = agent.supervisor.snapshots()
    snaps["printer"] = dataclasses.replace(
        snaps["printer"], state=DeviceState.USER_ERROR, detail={"paper": "out"},
        last_error="ProtocolError: short reply",
        faults=(Fault("paper_out", Action.REPLENISH, Severity.ERROR, "receipt paper out"),
                Fault("cover_open", Action.CLEAR, Severity.ERROR, "printer cover open")))
    agent.health.snapshots = lambda: snaps


def test_a_health_document_with_every_part_validates_and_uses_every_declared_key(agent: Agent) -> None:
    _with_every_terminal_fault(agent)
    _with_device_faults(agent)
    doc = agent.health.document()
    assert contract.validate("health", doc) == []
    schema, resolver = root("health")
    assert present(doc, schema, resolver) == declared(schema, resolver)
    others = failures.FAULT_CODES - {"broker_auth_failed"}
    assert {f["code"] for f in doc["faults"]} == set(_common_defs()["terminalFaultCode"]["enum"]) - others
    assert doc["devices"]["spare_printer"]["faults"] == ["disabled"]
    assert doc["devices"]["teleporter"]["faults"] == ["config_invalid"]
    assert doc["state"] == "out_of_service"


def _common_defs() -> dict[str, Any]:
    defs: dict[str, Any] = contract.load_schema_file("common.schema.json")["$defs"]
    return defs


def _published(journal: Journal) -> list[tuple[str, dict[str, Any]]]:
    """Every queued record as the uplink would publish it: (topic leaf, payload)."""
    return [(LEAF_OF_KIND[r.kind], wire_document(r, journal.sealer)) for r in journal.lease(0, 1000)]


def test_journal_records_published_from_every_path_validate(agent: Agent, tmp_path: Path) -> None:
    agent.transactions.submit(validate_txn({"kind": "payment", "amount": 1250, "method": "unionpay", "ref": "order-7",
                                   "data": {"id_number": "11010519491231002X", "items": [1, 2]}}))
    agent.selftests.run(None, SelftestLevel.INTERNAL, remote=False)
    agent.inspections.run("Li Na", ["exterior", "screen protector replaced"])
    agent.journal.close()
    inspect_direct(agent.cfg, "", ["print_head_cleaned"])  # the daemon stopped, no --engineer given
    journal = Journal(agent.cfg.storage.path, agent.key, terminal_id=agent.cfg.terminal.id,
                      site=agent.cfg.terminal.site, boot_id="0123456789abcdef")
    agent.journal = journal  # closed by the fixture
    records = _published(journal)
    problems = [(leaf, doc.get("type"), p) for leaf, doc in records for p in contract.validate(leaf, doc)]
    assert problems == []
    kinds = sorted((leaf, doc.get("type") or doc.get("kind")) for leaf, doc in records)
    assert kinds == [("events", "journal_recovered"), ("selftest", "inspection"), ("selftest", "inspection"),
                     ("selftest", "selftest"), ("selftest", "selftest"), ("txn", "payment")]
    sealed = next(doc for leaf, doc in records if leaf == "txn")
    assert _open_as_documented(sealed, fleet_keypair()[0].read_bytes()) == {
        "id_number": "11010519491231002X", "items": [1, 2]}


def _open_as_documented(txn: dict[str, Any], fleet_private_pem: bytes) -> Any:
    """Open ``data_enc`` by the recipe in contract/README.md, nothing from agent/."""
    env = txn["data_enc"]
    assert env["alg"] == "HPKE-v1-X25519-SHA256-A256GCM"
    private = serialization.load_pem_private_key(fleet_private_pem, None)
    assert isinstance(private, X25519PrivateKey)
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert env["kid"] == hashlib.sha256(raw).hexdigest()[:16]
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    plain = suite.decrypt(base64.b64decode(env["ct"]), private, info=b"kiosk-agent/v1 data:" + txn["txn_id"].encode())
    return json.loads(plain)
