"""A throwaway certificate authority for mutual-TLS tests, built with ``cryptography``.

``make_pki(dir)`` writes::

    ca.crt  ca.key                  self-signed CA (basicConstraints CA:TRUE, keyCertSign)
    server.crt  server.key          serverAuth; SAN = every server name (DNS names and IP addresses)
    <client>.crt  <client>.key      clientAuth; subject CN = the terminal id (mosquitto's
                                    use_identity_as_username turns it into the MQTT username)

Keys are ECDSA P-256 (fast to generate, supported by mosquitto/OpenSSL), unencrypted PEM, mode
0600; certificates are 0644. ``Pki.issue_client`` adds more, including expired ones
(``issue_server`` likewise); a second ``make_pki`` in another directory is a foreign CA for wrong-CA tests.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


@dataclass
class Pki:
    """Paths of a generated PKI; the CA key stays available to issue more certificates."""

    dir: Path
    ca_cert: Path
    ca_key: Path
    server: CertPair
    clients: dict[str, CertPair] = field(default_factory=dict)

    def _signer(
        self, expired: bool
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, tuple[dt.datetime, dt.datetime]]:
        """The CA key and certificate, and a validity window (ended yesterday if ``expired``)."""
        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        ca_cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        now = dt.datetime.now(dt.UTC)
        validity = (now - 30 * _ONE_DAY, now - _ONE_DAY) if expired else (now - _ONE_DAY, now + 30 * _ONE_DAY)
        return ca_key, ca_cert, validity

    def issue_client(self, common_name: str, *, expired: bool = False, file_stem: str | None = None) -> CertPair:
        """Issue a client certificate signed by this CA (``expired``: validity ended yesterday)."""
        ca_key, ca_cert, validity = self._signer(expired)
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            _base(_name(common_name), ca_cert.subject, key, validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        stem = file_stem or common_name
        pair = CertPair(self.dir / f"{stem}.crt", self.dir / f"{stem}.key")
        _write_cert(pair.cert, builder.sign(ca_key, hashes.SHA256()))
        _write_key(pair.key, key)
        self.clients[stem] = pair
        return pair

    def issue_server(self, names: Sequence[str], *, expired: bool = False, file_stem: str = "server-extra") -> CertPair:
        """Another server certificate from this CA for ``names`` (SAN), e.g. for a name the client does
        not dial, or ``expired`` (validity ended yesterday)."""
        ca_key, ca_cert, validity = self._signer(expired)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            _base(_name(names[0]), ca_cert.subject, key, validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_san(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(_key_usage(ca=False), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        pair = CertPair(self.dir / f"{file_stem}.crt", self.dir / f"{file_stem}.key")
        _write_cert(pair.cert, cert)
        _write_key(pair.key, key)
        return pair


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kiosk-agent tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not ca,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _base(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    validity: tuple[dt.datetime, dt.datetime],
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # also when the file existed with wider permissions
        os.write(fd, pem)
    finally:
        os.close(fd)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o644)


def _san(names: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def make_pki(
    dirpath: Path | str,
    server_names: Sequence[str] = ("localhost", "127.0.0.1"),
    clients: Sequence[str] = ("T-0001", "T-0002"),
) -> Pki:
    """Create a CA, a server certificate for ``server_names`` and one client cert per terminal id."""
    if not server_names:
        raise ValueError("server_names must not be empty")
    root = Path(dirpath)
    root.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    validity = (now - _ONE_DAY, now + 30 * _ONE_DAY)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("kiosk-agent test CA")
    ca_cert = (
        _base(ca_name, ca_name, ca_key, validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(
        dir=root,
        ca_cert=root / "ca.crt",
        ca_key=root / "ca.key",
        server=CertPair(root / "server.crt", root / "server.key"),
    )
    _write_cert(pki.ca_cert, ca_cert)
    _write_key(pki.ca_key, ca_key)

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        _base(_name(server_names[0]), ca_name, server_key, validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_san(server_names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_cert(pki.server.cert, server_cert)
    _write_key(pki.server.key, server_key)

    for terminal_id in clients:
        pki.issue_client(terminal_id)
    return pki
