"""Finding 5: the journal key and the journal's place, attacked by "another local user".

The tests run as root; ``nobody`` plays the other user (os.chown). Before the fix a 0600 key owned
by another user was accepted, a symlinked key was followed, the temporary key name was the PID
(opened without O_EXCL|O_NOFOLLOW, so a planted file or symlink received the new key), and the
journal path was opened and chmod'ed through a symlink.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

import pytest

from agent.runtime.crypto import KeyFileError, load_or_create_key
from agent.runtime.durable import create_exclusive

NOBODY = pwd.getpwnam("nobody").pw_uid


def _refused(agent, *needles: str) -> str:
    agent.start(wait=False)
    assert agent.proc is not None
    code = agent.proc.wait(30)
    text = agent.log_text()
    assert code == 2, f"the daemon started (exit {code}):\n{text[-2000:]}"
    for n in needles:
        assert n in text, text[-2000:]
    return text


@pytest.fixture(autouse=True)
def _root_only() -> None:
    if os.geteuid() != 0:
        pytest.skip("simulating another user needs root (os.chown)")


def test_key_owned_by_another_user_is_refused(daemon) -> None:
    agent = daemon(start=False)
    key = agent.workdir / "journal.key"
    key.write_bytes(os.urandom(32))
    os.chmod(key, 0o600)
    os.chown(key, NOBODY, -1)
    _refused(agent, "owned by nobody", str(key))


def test_key_through_a_symlink_is_refused(daemon) -> None:
    agent = daemon(start=False)
    real = agent.workdir / "elsewhere.key"
    real.write_bytes(os.urandom(32))
    os.chmod(real, 0o600)
    (agent.workdir / "journal.key").symlink_to(real)
    _refused(agent, "symlink")


def test_key_readable_by_group_is_refused(daemon) -> None:
    agent = daemon(start=False)
    key = agent.workdir / "journal.key"
    key.write_bytes(os.urandom(32))
    os.chmod(key, 0o640)
    _refused(agent, "readable by others", "chmod 0600")


def test_journal_directory_writable_by_others_is_refused(daemon) -> None:
    agent = daemon(start=False)
    os.chmod(agent.workdir, 0o777)
    _refused(agent, "writable by others")
    assert not (agent.workdir / "journal.key").exists(), "a key was made in a directory anyone can write"


def test_journal_path_symlink_is_neither_opened_nor_chmodded(daemon) -> None:
    agent = daemon(start=False)
    target = agent.workdir / "someone-elses-file"
    target.write_bytes(b"precious")
    os.chmod(target, 0o644)
    (agent.workdir / "journal.db").symlink_to(target)
    _refused(agent, "symlink")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 and target.read_bytes() == b"precious"


def test_temporary_key_name_cannot_be_planted(tmp_path: Path) -> None:
    """The old temporary name was ``.journal.key.<pid>.tmp``: plant it (as the PID of the process
    that makes the key) as a symlink to a file the attacker reads, then make the key."""
    stolen = tmp_path / "attacker-reads-this"
    stolen.write_bytes(b"")
    os.chown(stolen, NOBODY, -1)
    planted = tmp_path / f".journal.key.{os.getpid()}.tmp"
    planted.symlink_to(stolen)
    key = load_or_create_key(tmp_path / "journal.key")
    assert len(key) == 32
    assert stolen.read_bytes() == b"", "the new key was written through the planted symlink"
    assert planted.is_symlink(), "someone else's file was removed"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == [planted.name]


def test_create_exclusive_keeps_an_existing_file(tmp_path: Path) -> None:
    p = tmp_path / "k"
    assert create_exclusive(p, b"first") and not create_exclusive(p, b"second")
    assert p.read_bytes() == b"first" and stat.S_IMODE(p.stat().st_mode) == 0o600


def test_unreadable_key_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        load_or_create_key(tmp_path / "none.key", create=False)
    short = tmp_path / "short.key"
    short.write_bytes(b"x")
    os.chmod(short, 0o600)
    with pytest.raises(KeyFileError, match="exactly 32 raw bytes"):
        load_or_create_key(short)
