"""Opening a transaction's sealed ``data`` (``kiosk-fleet open``), for authorised tooling only.

Two forms (contract/README.md, "Sealed transaction data"; contract/schemas/common.schema.json):

* ``HPKE-v1-X25519-SHA256-A256GCM`` (every record from a terminal with ``[seal] fleet_public_key``):
  RFC 9180 base mode, single shot, suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM,
  ``ct`` = base64(enc 32 bytes || ciphertext), ``info`` = ``"kiosk-agent/v1 data:" + txn_id``, empty
  aad; ``kid`` = first 16 hex digits of SHA-256 of the raw 32-byte public key. Opened with the
  fleet's private key(s) from ``[seal] private_key_file``. The hybrid post-quantum form
  ``HPKE-v1-MLKEM768X25519-SHA256-A256GCM`` (KEM ML-KEM-768 + X25519) is the same with a key file
  holding both private keys (two PEM blocks); its kid hashes ML-KEM-768 raw || X25519 raw.
* ``AES-256-GCM`` (legacy, records sealed before the upgrade): AES-256-GCM under
  ``SHA-256(b"kiosk-agent:seal:" || K)`` where ``K`` is the terminal's 32-byte journal key; ``kid``
  = first 16 hex digits of ``SHA-256(b"kiosk-agent key id:" || K)`` (null when the terminal could
  not establish it: every key is tried); aad = ``txn_id``; ``blob`` = base64(nonce 12 || ct || tag
  16). Opened with the terminal keys in ``[seal] terminal_keys_dir`` (``*.key``, 32 raw bytes, 0600).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HPKE_ALG = "HPKE-v1-X25519-SHA256-A256GCM"
HYBRID_ALG = "HPKE-v1-MLKEM768X25519-SHA256-A256GCM"
LEGACY_ALG = "AES-256-GCM"
_SUITES = {
    HPKE_ALG: hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
    HYBRID_ALG: hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
}
_PEM_BLOCK = re.compile(rb"-----BEGIN PRIVATE KEY-----.+?-----END PRIVATE KEY-----", re.S)
_INFO = b"kiosk-agent/v1 data:"


class SealError(Exception):
    pass


@dataclass
class Keyring:
    fleet: dict[str, tuple[str, Any]] = field(default_factory=dict)  # kid -> (alg, private key)
    terminal: dict[str, bytes] = field(default_factory=dict)  # legacy kid -> journal key


def kid_of(key: bytes) -> str:
    return hashlib.sha256(b"kiosk-agent key id:" + key).hexdigest()[:16]


def _raw_pub(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _private(path: Path) -> bytes:
    if os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SealError(f"{path}: must be readable by its owner only (chmod 600)")
    return path.read_bytes()


def load_keys(folder: str | Path) -> dict[str, bytes]:
    """kid -> key for every ``*.key`` file; a key readable by others is refused, as the agent refuses it."""
    keys: dict[str, bytes] = {}
    for path in sorted(Path(folder).glob("*.key")):
        key = _private(path)
        if len(key) != 32:
            raise SealError(f"{path}: expected 32 raw bytes, got {len(key)}")
        keys[kid_of(key)] = key
    return keys


def load_fleet_keys(paths: str | list[str]) -> dict[str, tuple[str, Any]]:
    """kid -> (alg, key): a file with one X25519 private key, or an ML-KEM-768 and an X25519 one."""
    out: dict[str, tuple[str, Any]] = {}
    for p in [paths] if isinstance(paths, str) else paths:
        pem = _private(Path(p))
        try:
            keys = [serialization.load_pem_private_key(b, None) for b in _PEM_BLOCK.findall(pem) or [pem]]
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise SealError(f"{p}: not a readable unencrypted PEM private key ({exc})") from None
        x25519 = [k for k in keys if isinstance(k, X25519PrivateKey)]
        pq = [k for k in keys if isinstance(k, mlkem.MLKEM768PrivateKey)]
        if len(keys) == 1 and x25519:
            out[hashlib.sha256(_raw_pub(x25519[0])).hexdigest()[:16]] = (HPKE_ALG, x25519[0])
        elif len(keys) == 2 and x25519 and pq:
            raw = pq[0].public_key().public_bytes_raw() + _raw_pub(x25519[0])
            out[hashlib.sha256(raw).hexdigest()[:16]] = (HYBRID_ALG, hpke.MLKEM768X25519PrivateKey(pq[0], x25519[0]))
        else:
            raise SealError(f"{p}: expected an X25519 private key, or an ML-KEM-768 and an X25519 one")
    return out


def keyring(private_key_file: str | list[str] | None, terminal_keys_dir: str | None) -> Keyring:
    return Keyring(load_fleet_keys(private_key_file) if private_key_file else {},
                   load_keys(terminal_keys_dir) if terminal_keys_dir else {})


def _b64(text: Any) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise SealError("the sealed data is not valid base64") from None


def open_data(envelope: dict[str, Any], txn_id: str, keys: Keyring) -> Any:
    alg, kid = envelope.get("alg"), envelope.get("kid")
    if alg in _SUITES:
        found = keys.fleet.get(str(kid))
        if found is None or found[0] != alg:
            raise SealError(f"no fleet private key with kid {kid!r} for {alg} ([seal] private_key_file)")
        fkey = found[1]
        try:
            clear = _SUITES[alg].decrypt(_b64(envelope.get("ct")), fkey, info=_INFO + txn_id.encode())
        except (InvalidTag, ValueError):
            raise SealError("the sealed data does not open: wrong key, or moved from another record") from None
        return json.loads(clear)
    if alg != LEGACY_ALG:
        raise SealError(f"unsupported seal algorithm {alg!r}")
    candidates = list(keys.terminal.values()) if kid is None else [keys.terminal.get(str(kid))]
    if not candidates or candidates[0] is None:
        raise SealError(f"no terminal key with kid {kid!r} ([seal] terminal_keys_dir)")
    blob = _b64(envelope.get("blob"))
    for key in candidates:
        aead = AESGCM(hashlib.sha256(b"kiosk-agent:seal:" + key).digest())
        try:
            return json.loads(aead.decrypt(blob[:12], blob[12:], txn_id.encode()))
        except (InvalidTag, ValueError):
            continue
    raise SealError("the sealed data does not open: wrong key, or moved from another record")
