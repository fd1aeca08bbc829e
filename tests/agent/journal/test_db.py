"""agent/journal/db.py: opening the database (file mode, pragmas, integrity check, migrations) and
JournalDb, the connection with its lock and commit modes."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from contextlib import closing
from pathlib import Path

import pytest

from agent.journal import JournalCorrupt
from agent.journal.db import PRAGMAS, JournalDb, _migrations, _split, open_db

LATEST = max(n for n, _ in _migrations())


def _ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def test_a_new_journal_is_0600_from_its_first_byte_in_wal_with_every_pragma(tmp_path: Path) -> None:
    old = os.umask(0)  # the most permissive umask: the mode must not come from it
    try:
        db = open_db(tmp_path / "sub" / "j.db")
    finally:
        os.umask(old)
    path = tmp_path / "sub" / "j.db"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    conn = db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert conn.execute("PRAGMA journal_size_limit").fetchone()[0] == 8388608
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert len(PRAGMAS) == 5  # each one checked above
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
    conn.close()


def test_migrations_run_once_and_a_reopen_keeps_the_data(tmp_path: Path) -> None:
    db = open_db(tmp_path / "j.db")
    db.conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    db.conn.close()
    again = open_db(tmp_path / "j.db")
    assert again.conn.execute("SELECT value FROM meta WHERE key = 'k'").fetchone()[0] == "v"
    assert again.conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
    again.conn.close()


def test_a_file_that_is_not_a_database_is_corrupt_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    junk = b"this is not SQLite" * 500
    path.write_bytes(junk)
    with pytest.raises(JournalCorrupt):
        open_db(path)
    assert path.read_bytes() == junk


def test_a_damaged_page_fails_the_quick_check(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    db = open_db(path)
    db.conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [(f"k{i}", "x" * 500) for i in range(200)])
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    raw = bytearray(path.read_bytes())
    page = int.from_bytes(raw[16:18], "big")
    for p in range(2, len(raw) // page):  # scribble over every b-tree page header but the first
        raw[p * page:p * page + 8] = b"\xff" * 8
    path.write_bytes(bytes(raw))
    with pytest.raises(JournalCorrupt):
        open_db(path)


def test_split_keeps_a_triggers_inner_semicolons_and_drops_comments() -> None:
    sql = ("-- a comment; with a semicolon\nCREATE TABLE a (x);\n"
           "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE a SET x = 1;\n  UPDATE a SET x = 2;\nEND;\n")
    trigger = "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE a SET x = 1;\n  UPDATE a SET x = 2;\nEND;"
    assert _split(sql) == ["CREATE TABLE a (x);", trigger]
    with pytest.raises(ValueError, match="incomplete statement"):
        _split("CREATE TABLE a (x);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = 1;")


def test_relaxed_commits_go_back_to_full_even_when_the_block_raises(tmp_path: Path) -> None:
    jdb = JournalDb(tmp_path / "j.db")
    with jdb.relaxed():
        assert jdb.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert jdb.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    with pytest.raises(RuntimeError), jdb.relaxed():
        raise RuntimeError("boom")
    assert jdb.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    jdb.close()


def test_atomic_is_all_or_nothing(tmp_path: Path) -> None:
    jdb = JournalDb(tmp_path / "j.db")
    with pytest.raises(RuntimeError), jdb.atomic():
        jdb.conn.execute("INSERT INTO meta (key, value) VALUES ('a', '1')")
        raise RuntimeError("half-way")
    with jdb.atomic():
        jdb.conn.execute("INSERT INTO meta (key, value) VALUES ('b', '2')")
    with closing(_ro(tmp_path / "j.db")) as ro:
        assert ro.execute("SELECT key FROM meta").fetchall() == [("b",)]
    jdb.close()


def test_responsive_is_false_while_another_thread_holds_the_lock(tmp_path: Path) -> None:
    jdb = JournalDb(tmp_path / "j.db")
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with jdb.lock:
            held.set()
            release.wait(10)
    t = threading.Thread(target=holder)
    t.start()
    assert held.wait(10)
    assert jdb.responsive(0.01) is False
    release.set()
    t.join(10)
    assert jdb.responsive(0.01) is True
    jdb.close()


def test_close_checkpoints_the_wal_away_and_abandon_keeps_what_was_committed(tmp_path: Path) -> None:
    closed = JournalDb(tmp_path / "c.db")
    with closed.atomic():
        closed.conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    closed.close()
    closed.close()  # idempotent
    wal = tmp_path / "c.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0

    killed = JournalDb(tmp_path / "k.db")
    with killed.atomic():
        killed.conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    killed.abandon()
    killed.abandon()  # idempotent
    assert not killed.checkpointer._thread or not killed.checkpointer._thread.is_alive()
    with pytest.raises(sqlite3.ProgrammingError):
        killed.conn.execute("SELECT 1")
    again = JournalDb(tmp_path / "k.db")
    assert again.conn.execute("SELECT value FROM meta WHERE key = 'k'").fetchone()[0] == "v"
    again.close()
