"""Verifying a fleet-signed document against the fleet's Ed25519 public keys.

A fleet command carries the same ``signature`` member as a signed report (agent/runtime/signing.py:
``{"alg": "Ed25519-JCS", "public_key", "fingerprint", "sig"}`` over the RFC 8785 canonical JSON of
the document without that member); :func:`signing.verify` checks the signature itself, and this
module adds the one thing a report's reader does not need: that the key is one the terminal was
told to trust (``[commands] fleet_public_key``), matched by the fingerprint of its raw 32 bytes.
The keys are PEM SubjectPublicKeyInfo files (``openssl pkey -pubout`` of an Ed25519 key, RFC 8410).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from agent.runtime import signing


class TrustKeyError(ValueError):
    """A configured fleet key cannot be used: the message names the file and why."""


def load_trusted_key(path: str | Path) -> str:
    """The fingerprint (hex SHA-256 of the raw key) of the Ed25519 PEM public key in ``path``."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TrustKeyError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        key = load_pem_public_key(data)
    except ValueError as exc:
        raise TrustKeyError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise TrustKeyError(f"{path}: not an Ed25519 public key (a {type(key).__name__.lstrip('_')})")
    return signing.fingerprint(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def load_trusted_keys(paths: Iterable[str | Path]) -> frozenset[str]:
    """The fingerprints of every key in ``paths``. Raises TrustKeyError on the first unusable one."""
    return frozenset(load_trusted_key(p) for p in paths)


def verify_trusted(doc: Any, trusted: frozenset[str]) -> str | None:
    """None when ``doc`` is signed (signing.verify) by one of the ``trusted`` fingerprints;
    otherwise why not, in words."""
    problem = signing.verify(doc)
    if problem is not None:
        return problem
    fp = str(doc[signing.SIGNATURE_KEY]["fingerprint"]).lower()
    if fp not in trusted:
        return f"signed by key {fp}, which is not a configured fleet key"
    return None
