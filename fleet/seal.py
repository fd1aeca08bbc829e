"""Opening a transaction's sealed ``data`` (``kiosk-fleet open``), for authorised tooling only.

The contract's current scheme (contract/README.md, "Sealed transaction data"): AES-256-GCM under
``SHA-256(b"kiosk-agent:seal:" || K)`` where ``K`` is the terminal's 32-byte key; ``kid`` names ``K``
(``SHA-256(b"kiosk-agent key id:" || K)``, first 16 hex digits); the associated data is the
``txn_id``; ``blob`` = base64(nonce 12 || ciphertext || tag 16). The fleet keeps the terminal keys it
provisioned in ``[seal] terminal_keys_dir`` (one ``*.key`` file of 32 raw bytes per terminal, 0600),
found by ``kid``. HPKE sealing to the fleet's key (``private_key_file``) is not in the contract yet.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class SealError(Exception):
    pass


def kid_of(key: bytes) -> str:
    return hashlib.sha256(b"kiosk-agent key id:" + key).hexdigest()[:16]


def load_keys(folder: str | Path) -> dict[str, bytes]:
    """kid -> key for every ``*.key`` file; a key readable by others is refused, as the agent refuses it."""
    keys: dict[str, bytes] = {}
    for path in sorted(Path(folder).glob("*.key")):
        mode = os.stat(path).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SealError(f"{path}: must be readable by its owner only (chmod 600)")
        key = path.read_bytes()
        if len(key) != 32:
            raise SealError(f"{path}: expected 32 raw bytes, got {len(key)}")
        keys[kid_of(key)] = key
    return keys


def open_data(envelope: dict[str, Any], txn_id: str, keys: dict[str, bytes]) -> Any:
    if envelope.get("alg") != "AES-256-GCM":
        raise SealError(f"unsupported seal algorithm {envelope.get('alg')!r}")
    key = keys.get(str(envelope.get("kid")))
    if key is None:
        raise SealError(f"no terminal key with kid {envelope.get('kid')!r}")
    blob = base64.b64decode(envelope["blob"])
    aead = AESGCM(hashlib.sha256(b"kiosk-agent:seal:" + key).digest())
    try:
        clear = aead.decrypt(blob[:12], blob[12:], txn_id.encode())
    except InvalidTag:
        raise SealError("the sealed data does not open: wrong key, or moved from another record") from None
    return json.loads(clear)
