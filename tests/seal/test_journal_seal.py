"""Sealing in the journal: rotation (records name their kid), clear data only when allowed, and
records sealed by the old symmetric scheme before the upgrade: still delivered and opened under the
kid of the key that sealed them, and a journal key that changed under them reported, never relabelled."""

from __future__ import annotations

import json
import os
import sqlite3
import zlib
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from agent.journal import ClearDataRefused, Journal
from agent.runtime.crypto import FleetSealer, LegacySealer, Sealing, key_id, sealing_from
from agent.uplink.payloads import wire_document
from contract import validate
from fleet.seal import SealError, keyring, load_fleet_keys, open_data
from tests.support.fleetkey import write_keypair

KEY = b"j" * 32


def _txn(txn_id: str, data: dict | None) -> dict:
    return {"txn_id": txn_id, "kind": "payment", "amount": 5, "currency": "CNY", "method": "cash",
            "ref": None, "data": data}


def _open(path: Path, key: bytes = KEY, sealing: Sealing | None = None) -> Journal:
    return Journal(path, key, terminal_id="T-S", site="S", boot_id="5eb1000000000b00", min_free_mb=0, sealing=sealing)


def _published(j: Journal) -> dict[str, dict]:
    docs = {r.record_id: wire_document(r, j.sealer) for r in j.lease(0, 100) if r.kind == "txn"}
    for doc in docs.values():
        assert validate("txn", doc) == [], doc
    return docs


def _as_legacy(path: Path, txn_id: str, key: bytes, data: dict) -> None:
    """Rewrite a record the way the agent before the upgrade stored it: no data_enc header in the
    payload, the AES-256-GCM blob in the secret column, crc over both, and no seal.* meta keys."""
    with sqlite3.connect(path) as db:
        payload = json.loads(db.execute("SELECT payload FROM outbox WHERE record_id = ?", (txn_id,)).fetchone()[0])
        payload.pop("data_enc", None)
        raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        blob = LegacySealer(key).seal(json.dumps(data).encode(), aad=txn_id)
        db.execute("UPDATE outbox SET payload = ?, secret = ?, crc = ? WHERE record_id = ?",
                   (raw, blob, zlib.crc32(raw.encode() + blob), txn_id))
        db.execute("DELETE FROM meta WHERE key LIKE 'seal.%'")


def _terminal_keys(folder: Path, *keys: bytes) -> str:
    folder.mkdir(mode=0o700)
    for i, k in enumerate(keys):
        (folder / f"t{i}.key").write_bytes(k)
        os.chmod(folder / f"t{i}.key", 0o600)
    return str(folder)


def test_rotation_records_name_the_key_they_were_sealed_to(tmp_path: Path) -> None:
    old_priv, old_pub = write_keypair(tmp_path / "old")
    new_priv, new_pub = write_keypair(tmp_path / "new")
    old, new = FleetSealer.from_file(old_pub), FleetSealer.from_file(new_pub)
    j = _open(tmp_path / "j.db", sealing=Sealing(old))
    j.submit_txn(_txn("before", {"n": 1}), offline=True)
    j.close()
    # the operator rotated: fleet_public_key = [new, old], the first seals new records
    rotated = sealing_from((str(new_pub), str(old_pub)), allow_clear=False)
    assert rotated.fleet is not None and rotated.fleet.kid == new.kid
    j = _open(tmp_path / "j.db", sealing=rotated)
    try:
        j.submit_txn(_txn("after", {"n": 2}), offline=True)
        docs = _published(j)
    finally:
        j.close()
    assert docs["before"]["data_enc"]["kid"] == old.kid != docs["after"]["data_enc"]["kid"] == new.kid
    both = keyring([str(old_priv), str(new_priv)], None)
    assert open_data(docs["before"]["data_enc"], "before", both) == {"n": 1}
    assert open_data(docs["after"]["data_enc"], "after", both) == {"n": 2}
    only_new = keyring(str(new_priv), None)
    with pytest.raises(SealError, match="no fleet private key"):
        open_data(docs["before"]["data_enc"], "before", only_new)
    with pytest.raises(SealError, match="does not open"):  # moved onto another record
        open_data(docs["after"]["data_enc"], "before", only_new)
    assert set(load_fleet_keys([str(old_priv), str(new_priv)])) == {old.kid, new.kid}


def test_data_without_a_fleet_key_is_refused_or_clear_when_allowed(tmp_path: Path) -> None:
    j = _open(tmp_path / "j.db")
    try:
        with pytest.raises(ClearDataRefused, match=r"\[seal\] fleet_public_key"):
            j.submit_txn(_txn("refused", {"secret": 1}), offline=False)
        assert j.submit_txn(_txn("plain", None), offline=False).status == "created"
        assert [r.record_id for r in j.lease(0, 10)] == ["plain"]  # nothing of the refused one
    finally:
        j.close()
    j = _open(tmp_path / "c.db", sealing=Sealing(allow_clear=True))
    try:
        j.submit_txn(_txn("clear", {"note": "x"}), offline=False)
        doc = _published(j)["clear"]
    finally:
        j.close()
    assert doc["data"] == {"note": "x"} and "data_enc" not in doc


def test_legacy_records_stay_deliverable_and_open_after_the_upgrade(tmp_path: Path) -> None:
    _, pub = write_keypair(tmp_path / "fleet")
    j = _open(tmp_path / "j.db", sealing=Sealing(FleetSealer.from_file(pub)))
    j.submit_txn(_txn("old-1", {"a": 1}), offline=True)
    j.close()
    _as_legacy(tmp_path / "j.db", "old-1", KEY, {"a": 1})
    j = _open(tmp_path / "j.db", sealing=Sealing(FleetSealer.from_file(pub)))  # the upgraded agent
    try:
        assert j.seal_problem is None
        j.submit_txn(_txn("new-1", {"b": 2}), offline=True)
        docs = _published(j)
    finally:
        j.close()
    env = docs["old-1"]["data_enc"]
    assert env["alg"] == "AES-256-GCM" and env["kid"] == key_id(KEY)
    assert docs["new-1"]["data_enc"]["alg"] == "HPKE-v1-X25519-SHA256-A256GCM"
    assert open_data(env, "old-1", keyring(None, _terminal_keys(tmp_path / "tk", KEY))) == {"a": 1}


def test_a_key_file_changed_under_legacy_records_is_reported_never_relabelled(tmp_path: Path) -> None:
    _, pub = write_keypair(tmp_path / "fleet")
    sealing = Sealing(FleetSealer.from_file(pub))
    for name in ("known", "unknown"):
        j = _open(tmp_path / f"{name}.db", sealing=sealing)
        j.submit_txn(_txn("old-1", {"a": 1}), offline=True)
        j.close()
        _as_legacy(tmp_path / f"{name}.db", "old-1", KEY, {"a": 1})
    # "known": the upgraded agent started once with the right key, which recorded its kid
    _open(tmp_path / "known.db", sealing=Sealing(FleetSealer.from_file(pub))).close()
    replaced = b"r" * 32
    for name, kid in (("known", key_id(KEY)), ("unknown", None)):
        with capture_logs() as logs:
            j = _open(tmp_path / f"{name}.db", key=replaced, sealing=Sealing(FleetSealer.from_file(pub)))
        try:
            assert j.seal_problem and "changed under 1 queued records" in j.seal_problem
            env = _published(j)["old-1"]["data_enc"]
        finally:
            j.close()
        assert [e for e in logs if e["event"] == "journal_key_changed" and e["log_level"] == "error"]
        assert env["kid"] == kid != key_id(replaced), "relabelled with the new key's id"
        # the fleet, holding both terminal keys, still opens it (with kid null it tries each)
        folder = _terminal_keys(tmp_path / f"tk-{name}", replaced, KEY)
        assert open_data(env, "old-1", keyring(None, folder)) == {"a": 1}


def _hybrid_keypair(folder: Path) -> tuple[Path, Path]:
    """Two PEM blocks per file (ML-KEM-768 and X25519), as [seal] kem = "mlkem768-x25519" expects."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import mlkem
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    folder.mkdir()
    pq, x = mlkem.MLKEM768PrivateKey.generate(), X25519PrivateKey.generate()
    priv, pub = folder / "hybrid.key.pem", folder / "hybrid.pub.pem"
    priv.write_bytes(b"".join(k.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
                              for k in (pq, x)))
    priv.chmod(0o600)
    pub.write_bytes(b"".join(k.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
                             for k in (x, pq)))
    return priv, pub


def test_the_hybrid_post_quantum_kem_seals_and_opens(tmp_path: Path) -> None:
    priv, pub = _hybrid_keypair(tmp_path / "h")
    sealer = FleetSealer.from_file(pub, "mlkem768-x25519")
    j = _open(tmp_path / "j.db", sealing=Sealing(sealer))
    try:
        j.submit_txn(_txn("pq-1", {"kept": "for years"}), offline=False)
        env = _published(j)["pq-1"]["data_enc"]
    finally:
        j.close()
    assert env["alg"] == "HPKE-v1-MLKEM768X25519-SHA256-A256GCM" and env["kid"] == sealer.kid
    assert open_data(env, "pq-1", keyring(str(priv), None)) == {"kept": "for years"}
    with pytest.raises(SealError, match="does not open"):
        open_data(env, "pq-2", keyring(str(priv), None))
    with pytest.raises(Exception, match="ML-KEM-768 and an X25519"):
        FleetSealer.from_file(write_keypair(tmp_path / "x")[1], "mlkem768-x25519")
