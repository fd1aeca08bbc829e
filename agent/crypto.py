"""The terminal key: loading, creating, and AES-GCM sealing of sensitive payload fields.

The key file holds 32 random bytes, raw. It must be 0600 (or stricter), a regular file (never
reached through a symlink) and owned by the daemon's user or root, in a directory others cannot
write; the daemon refuses to start otherwise (agent/durable.py does the checks). Under systemd the
key arrives through ``LoadCredential=journal.key:...`` in ``$CREDENTIALS_DIRECTORY``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agent.durable import UnsafeFile, check_journal_path, check_private_dir, create_exclusive, read_secret

KEY_BYTES = 32
ALG = "AES-256-GCM"


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


class Sealer:
    """AES-256-GCM with a random 96-bit nonce; the record id is the associated data."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(derive(key, "seal"))
        self.kid = key_id(key)

    def seal(self, plaintext: bytes, aad: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, aad.encode())

    def open(self, blob: bytes, aad: str) -> bytes:
        return self._aead.decrypt(blob[:12], blob[12:], aad.encode())

    def envelope(self, blob: bytes) -> dict[str, Any]:
        """The JSON form of a sealed blob, as published (the fleet holds the terminal key)."""
        return {"alg": ALG, "kid": self.kid, "blob": base64.b64encode(blob).decode("ascii")}
