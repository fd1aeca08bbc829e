"""A fleet X25519 key pair for the tests: the public half goes into every generated agent config
(``[seal] fleet_public_key``), the private half stays in its own directory, off the terminal's."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey


def write_keypair(folder: Path, name: str = "fleet") -> tuple[Path, Path]:
    """(private PEM 0600, public PEM) of a new X25519 key in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    key = X25519PrivateKey.generate()
    priv, pub = folder / f"{name}.key.pem", folder / f"{name}.pub.pem"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    priv.chmod(0o600)
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


@functools.cache
def fleet_keypair() -> tuple[Path, Path]:
    """One pair per test process, in a directory of its own (never a terminal's state dir)."""
    return write_keypair(Path(tempfile.mkdtemp(prefix="kiosk-fleet-key-")))


def fleet_sealing() -> Any:
    """The journal's ``sealing`` argument for tests that build a Journal directly and submit data."""
    from agent.runtime.crypto import sealing_from
    return sealing_from((str(fleet_keypair()[1]),), allow_clear=False)
