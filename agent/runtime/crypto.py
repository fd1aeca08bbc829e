"""The terminal key, and sealing a transaction's ``data`` to the fleet (contract/README.md).

New records are sealed with RFC 9180 HPKE (base mode, single shot) to the fleet's X25519 public key
(``[seal] fleet_public_key``): the terminal holds no key that opens them. The journal key below only
still opens records sealed by the old symmetric scheme (``LegacySealer``, alg ``AES-256-GCM``),
which stay deliverable under the ``kid`` of the key that sealed them.

The key file holds 32 random bytes, raw. It must be 0600 (or stricter), a regular file (never
reached through a symlink) and owned by the daemon's user or root, in a directory others cannot
write; the daemon refuses to start otherwise (agent/runtime/durable.py does the checks). Under systemd the
key arrives through ``LoadCredential=journal.key:...`` in ``$CREDENTIALS_DIRECTORY``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agent.runtime.durable import UnsafeFile, check_journal_path, check_private_dir, create_exclusive, read_secret

KEY_BYTES = 32
ALG = "AES-256-GCM"  # the legacy symmetric scheme
HPKE_ALG = "HPKE-v1-X25519-SHA256-A256GCM"
#: RFC 9180 section 7: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM
HPKE_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
INFO_PREFIX = b"kiosk-agent/v1 data:"


class KeyFileError(Exception):
    """The key file (or the journal's place) is missing, unreadable, malformed or unsafe."""


def check_storage(journal_path: str | Path) -> None:
    """Refuse a journal path that is a symlink, not ours, or in a directory others can write."""
    try:
        check_journal_path(journal_path)
    except UnsafeFile as exc:
        raise KeyFileError(str(exc)) from None


def default_key_path(journal_path: str) -> Path:
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / "journal.key").exists():
        return Path(creds) / "journal.key"
    return Path(journal_path).with_name("journal.key")


def load_or_create_key(path: str | Path, *, create: bool = True) -> bytes:
    """Read the key, creating it 0600 when absent (and ``create``). Raises KeyFileError."""
    p = Path(path)
    in_credentials = str(p).startswith(os.environ.get("CREDENTIALS_DIRECTORY", "\0"))
    try:
        check_private_dir(p.parent)
        key = read_secret(p, what="key file", check_mode=not in_credentials)
    except FileNotFoundError:
        if not create:
            raise KeyFileError(f"key file {p} does not exist") from None
        p.parent.mkdir(parents=True, exist_ok=True)
        # whole or not at all, and the name durable too: a key lost to a power cut would leave
        # every sealed record unreadable and the terminal silently making a new key
        try:
            if not create_exclusive(p, os.urandom(KEY_BYTES), 0o600):
                return load_or_create_key(p, create=False)
        except UnsafeFile as exc:
            raise KeyFileError(str(exc)) from None
        return load_or_create_key(p, create=False)
    except UnsafeFile as exc:
        raise KeyFileError(str(exc)) from None
    if len(key) != KEY_BYTES:
        raise KeyFileError(f"key file {p} must hold exactly {KEY_BYTES} raw bytes, has {len(key)}")
    return key


def key_id(key: bytes) -> str:
    """A non-secret identifier of the key (so a fleet server knows which key sealed a payload)."""
    return hashlib.sha256(b"kiosk-agent key id:" + key).hexdigest()[:16]


def derive(key: bytes, purpose: str) -> bytes:
    """A sub-key per purpose, so the token key and the sealing key are never the same bytes."""
    return hashlib.sha256(b"kiosk-agent:" + purpose.encode() + b":" + key).digest()


class LegacySealer:
    """The old scheme, kept to open and deliver records queued before the upgrade: AES-256-GCM
    with a random 96-bit nonce; the record id is the associated data."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(derive(key, "seal"))
        self.kid = key_id(key)

    def seal(self, plaintext: bytes, aad: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, aad.encode())

    def open(self, blob: bytes, aad: str) -> bytes:
        return self._aead.decrypt(blob[:12], blob[12:], aad.encode())

    def opens(self, blob: bytes, aad: str) -> bool:
        try:
            self.open(blob, aad)
        except (InvalidTag, ValueError):
            return False
        return True


class SealKeyError(KeyFileError):
    """A configured fleet public key is missing, unreadable or not of the configured KEM."""


#: ``[seal] kem`` -> (alg on the wire, HPKE suite). The hybrid post-quantum KEM (X-Wing style
#: ML-KEM-768 + X25519, pyca/cryptography ``KEM.MLKEM768_X25519``) is for data kept for years.
KEMS = {
    "x25519": (HPKE_ALG, HPKE_SUITE),
    "mlkem768-x25519": ("HPKE-v1-MLKEM768X25519-SHA256-A256GCM",
                        hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)),
}
_PEM_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.S)


def fleet_kid(raw_public: bytes) -> str:
    """First 16 hex digits of SHA-256 of the raw public key (hybrid: ML-KEM-768 raw || X25519 raw)."""
    return hashlib.sha256(raw_public).hexdigest()[:16]


def load_fleet_key(path: str | Path, kem: str = "x25519") -> tuple[Any, bytes]:
    """(the HPKE recipient key, its raw bytes). x25519: one X25519 PEM public key; mlkem768-x25519:
    a PEM file holding an ML-KEM-768 and an X25519 public key (two blocks, either order)."""
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise SealKeyError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        keys = [serialization.load_pem_public_key(b) for b in _PEM_BLOCK.findall(pem) or [pem]]
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SealKeyError(f"{path}: not a PEM public key ({exc})") from None
    x25519 = [k for k in keys if isinstance(k, X25519PublicKey)]
    if kem == "x25519":
        if len(keys) != 1 or not x25519:
            raise SealKeyError(f"{path}: not an X25519 public key ({', '.join(type(k).__name__ for k in keys)})")
        return x25519[0], x25519[0].public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pq = [k for k in keys if isinstance(k, mlkem.MLKEM768PublicKey)]
    if len(keys) != 2 or not x25519 or not pq:
        raise SealKeyError(f"{path}: kem = \"mlkem768-x25519\" needs an ML-KEM-768 and an X25519 public key")
    raw = pq[0].public_bytes_raw() + x25519[0].public_bytes(serialization.Encoding.Raw,
                                                            serialization.PublicFormat.Raw)
    return hpke.MLKEM768X25519PublicKey(pq[0], x25519[0]), raw


class FleetSealer:
    """HPKE to the fleet's key: ``ct`` = enc || ciphertext, info = prefix + txn_id, no aad."""

    def __init__(self, key: Any, raw: bytes, kem: str = "x25519") -> None:
        self._key = key
        self.alg, self._suite = KEMS[kem]
        self.kid = fleet_kid(raw)

    @classmethod
    def from_file(cls, path: str | Path, kem: str = "x25519") -> FleetSealer:
        return cls(*load_fleet_key(path, kem), kem=kem)

    def seal(self, plaintext: bytes, txn_id: str) -> bytes:
        return self._suite.encrypt(plaintext, self._key, info=INFO_PREFIX + txn_id.encode())

    def header(self) -> dict[str, str]:
        return {"alg": self.alg, "kid": self.kid}


class Sealing:
    """What the journal seals new records with, and how it publishes every sealed record.

    ``fleet`` seals new ``data`` (None: refused, or stored clear when ``allow_clear``). A legacy
    record (no ``data_enc`` header in its payload) is published with ``legacy_kid``, the kid of
    the journal key that sealed it, never the kid of whatever key is installed now; None when it
    could not be established (the fleet then tries each terminal key it holds).
    """

    def __init__(self, fleet: FleetSealer | None = None, *, allow_clear: bool = False) -> None:
        self.fleet, self.allow_clear = fleet, allow_clear
        self.legacy_kid: str | None = None

    def envelope(self, payload: dict[str, Any], blob: bytes) -> dict[str, Any]:
        header = payload.get("data_enc")
        ct = base64.b64encode(blob).decode("ascii")
        if isinstance(header, dict):
            return {**header, "ct": ct}
        return {"alg": ALG, "kid": self.legacy_kid, "blob": ct}


def sealing_from(fleet_public_keys: tuple[str, ...], allow_clear: bool, kem: str = "x25519") -> Sealing:
    """The first configured fleet key seals new records (raises SealKeyError for any bad one)."""
    keys = [FleetSealer.from_file(p, kem) for p in fleet_public_keys]
    return Sealing(keys[0] if keys else None, allow_clear=allow_clear)


def demo_fleet_key(folder: Path) -> Path:
    """A fleet X25519 key pair for ``kiosk-agent demo`` (private half 0600 in ``folder``, never on a
    real terminal): returns the public key's path, for ``[seal] fleet_public_key``."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    priv = folder / "fleet.key.pem"
    key = X25519PrivateKey.generate()
    if not create_exclusive(priv, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600):
        key = serialization.load_pem_private_key(priv.read_bytes(), None)  # a demo run before: its key
        if not isinstance(key, X25519PrivateKey):
            raise KeyFileError(f"{priv}: not an X25519 private key")
    pub = folder / "fleet.pub.pem"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return pub
