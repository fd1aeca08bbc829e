"""Sealed data taken off the wire from the running daemon opens with the fleet's private key by the
documented format (contract/README.md, "Sealed transaction data") using only pyca/cryptography's
HPKE, and with nothing found on the terminal's disk. No project code opens it here."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.support.agent_proc import AgentProcess, base_config, write_config
from tests.support.fleetkey import fleet_keypair

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
DATA = {"customer": "Zhang San", "id_number": "11010519491231002X", "items": [1, 2]}


def _opens(ct: bytes, key: X25519PrivateKey, txn_id: str) -> bytes | None:
    try:
        return SUITE.decrypt(ct, key, info=b"kiosk-agent/v1 data:" + txn_id.encode())
    except (InvalidTag, ValueError):
        return None


def _candidate_keys(blob: bytes) -> list[X25519PrivateKey]:
    """Every way a file's bytes could be an X25519 private key: PEM/DER, or raw 32 bytes at any
    offset of a small file (key files; the journal holds no key material, its bytes are checked
    for the clear data instead)."""
    windows = range(0, len(blob) - 31) if 32 <= len(blob) <= 4096 else ()
    keys = [X25519PrivateKey.from_private_bytes(blob[i:i + 32]) for i in windows]
    for loader in (serialization.load_pem_private_key, serialization.load_der_private_key):
        try:
            k = loader(blob, None)
        except (ValueError, TypeError):
            continue
        if isinstance(k, X25519PrivateKey):
            keys.append(k)
    return keys


def test_a_record_off_the_wire_opens_with_the_fleet_key_only(tmp_path: Path, broker, recorder) -> None:
    workdir = tmp_path / "terminal"
    workdir.mkdir()
    agent = AgentProcess(write_config(workdir / "agent.toml", base_config(workdir, broker.port, "T-SEAL-1")),
                         workdir).start()
    rec = recorder("kiosk/#", port=broker.port)
    try:
        status, out = agent.client().post("/v1/transactions", {"kind": "payment", "amount": 10, "method": "cash",
                                                               "txn_id": "seal-1", "data": DATA})
        assert status == 201, out
        doc = rec.wait_for(lambda m: m.topic.endswith("/up/txn") and m.json().get("txn_id") == "seal-1", 30).json()
    finally:
        assert agent.terminate() == 0
    assert "data" not in doc and "Zhang San" not in json.dumps(doc)
    env = doc["data_enc"]
    assert env["alg"] == "HPKE-v1-X25519-SHA256-A256GCM" and set(env) == {"alg", "kid", "ct"}

    # the fleet side, from the documented format alone
    private = serialization.load_pem_private_key(fleet_keypair()[0].read_bytes(), None)
    assert isinstance(private, X25519PrivateKey)
    raw_pub = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert env["kid"] == hashlib.sha256(raw_pub).hexdigest()[:16]
    ct = base64.b64decode(env["ct"], validate=True)
    clear = _opens(ct, private, "seal-1")
    assert clear is not None and json.loads(clear) == DATA
    assert _opens(ct, private, "seal-2") is None, "info binds the record's txn_id"

    # nothing on the terminal's disk opens it: no file in the state dir is (or holds) a key that does,
    # nor does the journal key under the legacy recipe; the clear data is in no file either
    files = [p for p in workdir.rglob("*") if p.is_file()]
    assert any(p.name == "journal.key" for p in files) and any(p.name == "journal.db" for p in files)
    needle = b"Zhang San"
    for path in files:
        blob = path.read_bytes()
        assert needle not in blob, path
        for key in _candidate_keys(blob):
            assert _opens(ct, key, "seal-1") is None, f"{path} opens the sealed data"
    jkey = (workdir / "journal.key").read_bytes()
    aead = AESGCM(hashlib.sha256(b"kiosk-agent:seal:" + jkey).digest())
    with pytest.raises(InvalidTag):
        aead.decrypt(ct[:12], ct[12:], b"seal-1")
