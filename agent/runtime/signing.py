"""The terminal's report-signing key (Ed25519) and signed reports.

A self-test or inspection report carries ``"signature": {"alg": "Ed25519-JCS", "public_key": <base64
of the 32-byte raw key>, "fingerprint": <hex SHA-256 of the raw key>, "sig": <base64 of the 64-byte
signature>}``; the signature covers the RFC 8785 canonical UTF-8 JSON (contract/jcs.py) of the report
with its ``signature`` member removed, by RFC 8032 Ed25519 (pure, no context). A verifier needs only
that rule and an Ed25519 library (docs/mqtt.md, "Signed reports").

The private key is 32 random bytes (the RFC 8032 seed), raw -- exactly what ``head -c 32 /dev/urandom``
gives, so the installers make it as they make the journal key (scripts/install.sh and the .deb's
postinst: ``/etc/kiosk-agent/signing.key``, root:root 0600, created once, never overwritten). Where the
daemon reads it, first found wins: ``storage.signing_key_file``; ``$CREDENTIALS_DIRECTORY/signing.key``
(the unit's ``LoadCredential=signing.key:/etc/kiosk-agent/signing.key``); ``signing.key`` beside the
journal, made on first start when absent exactly as the journal key is
(agent.runtime.crypto.load_or_create_key: 0600, never through a symlink, whole or not at all) -- the
place of a run without systemd, and where versions before the installers made it lived (the installers
adopt that key as the credential, so a terminal keeps its identity across the upgrade; docs/install.md).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent.runtime.crypto import KeyFileError, load_or_create_key
from contract.jcs import CanonicalizationError, canonicalize

log = structlog.get_logger(__name__)

ALG = "Ed25519-JCS"
SIGNATURE_KEY = "signature"


class Configured(Protocol):
    """An agent config (agent/config/model.py ``AgentConfig``): its ``[storage]`` names the key files. A
    protocol, so the runtime layer does not import the config layer above it."""

    @property
    def storage(self) -> Any: ...


def signing_key_path(cfg: Configured) -> Path:
    if cfg.storage.signing_key_file:
        return Path(cfg.storage.signing_key_file)
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / "signing.key").exists():
        return Path(creds) / "signing.key"
    return Path(cfg.storage.path).with_name("signing.key")


def command_key_path(cfg: Configured) -> Path:
    """Where a command run without the daemon (``kiosk-agent selftest``, ``inspect``) reads the key: the
    daemon's place (:func:`signing_key_path`) when the key is there; otherwise, with no
    ``storage.signing_key_file`` set, the installers' place -- ``signing.key`` beside the configuration
    file (``/etc/kiosk-agent/signing.key``, the unit's ``LoadCredential=`` source), which systemd copies
    for the daemon but a shell does not."""
    path = signing_key_path(cfg)
    source = getattr(cfg, "source", "")
    if cfg.storage.signing_key_file or not source or os.path.lexists(path):
        return path
    installed = Path(source).parent / "signing.key"
    return installed if os.path.lexists(installed) else path


def fingerprint(raw_public_key: bytes) -> str:
    """Hex SHA-256 of the raw 32-byte public key: what an auditor compares with the printed page."""
    return hashlib.sha256(raw_public_key).hexdigest()


class Signer:
    def __init__(self, seed: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.identity = {"alg": ALG, "public_key": base64.b64encode(self.public_raw).decode(),
                         "fingerprint": fingerprint(self.public_raw)}

    @classmethod
    def load(cls, cfg: Configured, *, create: bool = True) -> Signer:
        """The terminal's signer, its key made on first use when ``create`` (the daemon); a command
        (``create`` False) never makes one and also finds the installers' key. Raises KeyFileError."""
        path = signing_key_path(cfg) if create else command_key_path(cfg)
        signer = cls(load_or_create_key(path, create=create))
        _warn_if_beside_journal_differs(cfg, path, signer)
        return signer

    def sign(self, report: Mapping[str, Any]) -> dict[str, Any]:
        """``report`` with a ``signature`` member over the JCS form of the rest."""
        body = {k: v for k, v in report.items() if k != SIGNATURE_KEY}
        sig = self._key.sign(canonicalize(body))
        return {**body, SIGNATURE_KEY: {**self.identity, "sig": base64.b64encode(sig).decode()}}


def _warn_if_beside_journal_differs(cfg: Configured, used: Path, signer: Signer) -> None:
    """A key left beside the journal by an earlier version that is not the one in use: the terminal's
    reports are now signed by another identity. Never deleted or replaced here; said, once per load."""
    old = Path(cfg.storage.path).with_name("signing.key")
    if old == used or not old.is_file() or old.is_symlink():
        return
    try:
        same = Signer(load_or_create_key(old, create=False)).public_raw == signer.public_raw
    except KeyFileError:  # unreadable or malformed: it is not the key in use either
        same = False
    if not same:
        log.warning("signing_key_differs", used=str(used), left=str(old), fingerprint=signer.identity["fingerprint"],
                    detail=f"{old} (an earlier signing key) is not the key in use ({used}); reports are signed by "
                           f"{signer.identity['fingerprint']}. To keep the old identity copy it over {used} "
                           f"(docs/install.md, 'The signing key')")


def verify(report: Any, *, fingerprint_expected: str | None = None) -> str | None:
    """None when ``report`` carries a valid signature (by the key of ``fingerprint_expected``, if
    given); otherwise why not, in words."""
    if not isinstance(report, dict):
        return "the report is not a JSON object"
    sig = report.get(SIGNATURE_KEY)
    if not isinstance(sig, dict):
        return "the report has no signature"
    if sig.get("alg") != ALG:
        return f"unknown signature algorithm {sig.get('alg')!r} (expected {ALG})"
    try:
        raw = base64.b64decode(str(sig.get("public_key", "")), validate=True)
        signature = base64.b64decode(str(sig.get("sig", "")), validate=True)
    except (binascii.Error, ValueError):
        return "the signature's public_key or sig is not base64"
    if len(raw) != 32 or len(signature) != 64:
        return "the public key must be 32 bytes and the signature 64"
    if sig.get("fingerprint") != fingerprint(raw):
        return "the fingerprint does not match the public key"
    if fingerprint_expected is not None and fingerprint(raw) != fingerprint_expected.lower():
        return f"signed by key {fingerprint(raw)}, not by the expected {fingerprint_expected}"
    body = copy.copy(report)
    del body[SIGNATURE_KEY]
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, canonicalize(body))
    except CanonicalizationError as exc:
        return f"the report cannot be canonicalised: {exc}"
    except InvalidSignature:
        return "the signature does not match the report: it was changed after signing, or signed by another key"
    return None
