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


def test_a_different_earlier_key_beside_the_journal_is_kept_and_reported(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The credential (the installers' key) wins; an earlier key left beside the journal is never
    deleted or replaced, and a warning says that reports are now signed by another identity."""
    from structlog.testing import capture_logs

    creds = tmp_path / "creds"
    creds.mkdir(mode=0o700)
    (creds / "signing.key").write_bytes(bytes(range(32)))
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    earlier = tmp_path / "signing.key"
    earlier.write_bytes(bytes(32))
    earlier.chmod(0o600)
    with capture_logs() as logs:
        signer = Signer.load(_cfg(tmp_path))
    assert signer.identity == Signer(bytes(range(32))).identity and earlier.read_bytes() == bytes(32)
    [warning] = [e for e in logs if e["event"] == "signing_key_differs"]
    assert warning["left"] == str(earlier) and warning["fingerprint"] == signer.identity["fingerprint"]
    earlier.write_bytes(bytes(range(32)))  # the installer adopted it: the same key, nothing to say
    with capture_logs() as logs:
        Signer.load(_cfg(tmp_path))
    assert not [e for e in logs if e["event"] == "signing_key_differs"]


def test_a_command_finds_the_installers_key_beside_the_configuration(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from agent.runtime.signing import command_key_path

    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    etc, state = tmp_path / "etc", tmp_path / "state"
    etc.mkdir()
    cfg = dataclasses.replace(_cfg(state), source=str(etc / "agent.toml"))
    assert command_key_path(cfg) == state / "signing.key"  # nothing anywhere: the daemon's place
    (etc / "signing.key").write_bytes(os.urandom(32))
    assert command_key_path(cfg) == etc / "signing.key"
    assert signing_key_path(cfg) == state / "signing.key"  # the daemon's own resolution is unchanged
    state.mkdir()
    (state / "signing.key").write_bytes(os.urandom(32))
    assert command_key_path(cfg) == state / "signing.key"  # the daemon's key, when there, wins
    storage = dataclasses.replace(cfg.storage, signing_key_file=str(tmp_path / "k"))
    configured = dataclasses.replace(cfg, storage=storage)
    assert command_key_path(configured) == tmp_path / "k"
