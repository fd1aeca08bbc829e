"""``kiosk-agent selftest`` without the daemon signs its report with the terminal's key (read-only,
never made by the command), and the report verifies with ``kiosk-agent inspect --verify``; a key
this user cannot read leaves the report explicitly unsigned, said in the output."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cli.selftest import run_selftest
from agent.config import AgentConfig, load_config
from tests.cli.test_unit_runs import signing_fingerprint
from tests.support.agent_proc import REPO

NOBODY = 65534


def _config(folder: Path, journal_dir: Path) -> AgentConfig:
    path = folder / "agent.toml"
    path.write_text(f'[terminal]\nid = "T-SELF-1"\nsite = "S"\n\n[storage]\npath = "{journal_dir / "journal.db"}"\n\n'
                    f'[api]\nsocket = "{folder / "api.sock"}"\n\n[seal]\nallow_clear = true\n')
    return load_config(path)


def _key(path: Path) -> Path:
    path.write_bytes(os.urandom(32))
    path.chmod(0o600)
    return path


def _args(out: Path | None, *, as_json: bool = False) -> argparse.Namespace:
    return argparse.Namespace(devices=[], level="internal", step_timeout=60.0, json=as_json,
                              out=str(out) if out else None)


def _cli(*args: str, user: int | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user is not None else []
    return subprocess.run([*prefix, sys.executable, "-m", "agent", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "HOME": "/", "CREDENTIALS_DIRECTORY": ""})


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    tmp_path.chmod(0o700)
    return tmp_path


def test_the_direct_report_is_signed_by_the_daemons_key_and_verifies(folder: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    key = _key(folder / "signing.key")  # where the daemon made it: beside the journal
    cfg = _config(folder, folder)
    out = folder / "selftest.json"
    assert run_selftest(cfg, _args(out)) == 0
    shown = capsys.readouterr().out
    fp = signing_fingerprint(key)
    assert "ports opened directly" in shown and f"signed by the terminal key {fp[:4]} {fp[4:8]}" in shown
    report = json.loads(out.read_text())
    assert report["signature"]["fingerprint"] == fp and "via" not in report
    r = _cli("inspect", "--verify", str(out), "--fingerprint", fp)
    assert r.returncode == 0 and "valid signature" in r.stdout, r.stdout + r.stderr
    out.write_text(out.read_text().replace('"ok": true', '"ok": false', 1))
    r = _cli("inspect", "--verify", str(out))
    assert r.returncode == 1 and "changed after signing" in r.stderr
    assert key.read_bytes() and sorted(p.name for p in folder.glob("*.key")) == ["signing.key"]


def test_the_installers_key_beside_the_configuration_is_used(folder: Path) -> None:
    """A shell has no $CREDENTIALS_DIRECTORY: the key install.sh / postinst made in /etc/kiosk-agent
    (beside agent.toml, the LoadCredential= source) signs it; no key is made beside the journal."""
    etc, state = folder / "etc", folder / "state"
    etc.mkdir(mode=0o750)
    state.mkdir(mode=0o700)
    key = _key(etc / "signing.key")
    out = folder / "r.json"
    assert run_selftest(_config(etc, state), _args(out)) == 0
    assert json.loads(out.read_text())["signature"]["fingerprint"] == signing_fingerprint(key)
    assert not (state / "signing.key").exists()


def test_no_key_at_all_is_said_and_never_made(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(folder, folder)
    out = folder / "r.json"
    assert run_selftest(cfg, _args(out, as_json=True)) == 0
    captured = capsys.readouterr()
    assert set(json.loads(captured.out)) == {"ok", "terminal_id", "level", "results"}  # the documented schema
    assert "report UNSIGNED: cannot read the signing key" in captured.err
    report = json.loads(out.read_text())
    assert report["signature"] is None and "does not exist" in report["unsigned"]
    assert not (folder / "signing.key").exists()
    r = _cli("inspect", "--verify", str(out))
    assert r.returncode == 1 and "no signature" in r.stderr


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is root's own, 0700)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the command as another user")
    folder = Path(tempfile.mkdtemp(prefix="kiosk-selftest-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def test_a_key_this_user_cannot_read_leaves_the_report_unsigned_and_says_so(shared_folder: Path) -> None:
    etc, state = shared_folder / "etc", shared_folder / "state"
    etc.mkdir(mode=0o755)  # the config readable by the engineer's user, the key root's own (0600)
    state.mkdir(mode=0o777)
    _key(etc / "signing.key")
    _config(etc, state)
    r = _cli("-c", str(etc / "agent.toml"), "selftest", user=NOBODY)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "report UNSIGNED: cannot read the signing key" in r.stdout and "Permission denied" in r.stdout
    assert "ALL PASS" in r.stdout
    assert not (state / "signing.key").exists()


def test_selftest_out_as_the_engineer_types_it(folder: Path) -> None:
    """``kiosk-agent selftest --out FILE`` (the parser knows ``--out``), then ``inspect --verify FILE``."""
    key = _key(folder / "signing.key")
    cfg = _config(folder, folder)
    out = folder / "typed.json"
    r = _cli("-c", str(cfg.source), "selftest", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    r = _cli("inspect", "--verify", str(out), "--fingerprint", signing_fingerprint(key))
    assert r.returncode == 0 and "valid signature" in r.stdout, r.stdout + r.stderr
