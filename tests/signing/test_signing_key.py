"""The signing key's place and safety, and the reasons verify() gives."""

from __future__ import annotations

import copy
import os
import stat
from pathlib import Path

import pytest

from agent.config import AgentConfig, StorageConfig, TerminalConfig
from agent.runtime.crypto import KeyFileError
from agent.runtime.signing import Signer, signing_key_path, verify


def _cfg(tmp_path: Path, key_file: str | None = None) -> AgentConfig:
    storage = StorageConfig(path=str(tmp_path / "journal.db"), signing_key_file=key_file)
    return AgentConfig(terminal=TerminalConfig("T-1"), storage=storage)


def test_made_once_0600_beside_the_journal_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    cfg = _cfg(tmp_path)
    with pytest.raises(KeyFileError):
        Signer.load(cfg, create=False)  # kiosk-agent inspect without the daemon never makes one
    first = Signer.load(cfg)
    assert signing_key_path(cfg) == tmp_path / "signing.key"
    assert stat.S_IMODE((tmp_path / "signing.key").stat().st_mode) == 0o600
    assert Signer.load(cfg, create=False).identity == first.identity


def test_configured_path_and_systemd_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "creds"
    creds.mkdir(mode=0o700)
    (creds / "signing.key").write_bytes(os.urandom(32))
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert signing_key_path(_cfg(tmp_path)) == creds / "signing.key"
    assert signing_key_path(_cfg(tmp_path, str(tmp_path / "k"))) == tmp_path / "k"


def test_a_symlinked_or_loose_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    real = tmp_path / "real.key"
    real.write_bytes(os.urandom(32))
    real.chmod(0o600)
    (tmp_path / "signing.key").symlink_to(real)
    with pytest.raises(KeyFileError, match="symlink"):
        Signer.load(_cfg(tmp_path))
    real.chmod(0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        Signer.load(_cfg(tmp_path, str(real)))


def test_verify_says_why() -> None:
    signer = Signer(bytes(range(32)))
    report = signer.sign({"ok": True, "terminal_id": "T-1", "level": "internal", "results": [], "x": 0.5})
    assert verify(report) is None and verify(report, fingerprint_expected=signer.identity["fingerprint"]) is None
    assert "no signature" in str(verify({"ok": True}))
    assert "not a JSON object" in str(verify([1]))
    changed = copy.deepcopy(report)
    changed["x"] = 0.25
    assert "changed after signing" in str(verify(changed))
    other = Signer(bytes(32)).sign(report)
    assert verify(other) is None and "not by the expected" in str(
        verify(other, fingerprint_expected=signer.identity["fingerprint"]))
    lying = copy.deepcopy(report)
    lying["signature"]["fingerprint"] = "0" * 64
    assert "fingerprint does not match" in str(verify(lying))
    bad_alg = copy.deepcopy(report)
    bad_alg["signature"]["alg"] = "RS256"
    assert "unknown signature algorithm" in str(verify(bad_alg))
    re_signed = signer.sign(report)  # signing a signed report replaces the signature, never nests it
    assert verify(re_signed) is None and re_signed == report
