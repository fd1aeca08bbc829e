"""The journal's database: opening it (file mode, pragmas on every open, integrity check,
migrations) and :class:`JournalDb`, the one connection with its lock and commit modes that every
part of the journal shares.

Durability rests on WAL + ``synchronous=FULL`` (every commit fsyncs the WAL) on storage that
honours flush; see docs/durability.md. Everything goes through one connection guarded by one
lock: SQLite has a single writer anyway, and a single connection keeps ``synchronous=FULL``
commits strictly ordered. New records are group-committed (agent/journal/group.py); WAL
checkpoints run on a background connection (agent/journal/checkpoint.py), never inside a
writer's commit.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import sqlite_utils
import structlog

from agent.journal.checkpoint import BACKSTOP_PAGES, Checkpointer
from agent.journal.errors import JournalCorrupt, JournalError
from agent.journal.group import GroupCommitter
from agent.runtime.durable import fsync_dir

log = structlog.get_logger(__name__)

PRAGMAS = (
    "synchronous=FULL",
    "foreign_keys=ON",
    "secure_delete=ON",          # pruned rows are overwritten, not left in free pages
    "journal_size_limit=8388608",
    "busy_timeout=5000",
)


def _migrations() -> list[tuple[int, str]]:
    out = []
    for entry in resources.files("agent.journal").joinpath("migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            out.append((int(name[:4]), entry.read_text("utf-8")))
    return sorted(out)


def open_db(path: str | Path, *, check: bool = True) -> sqlite_utils.Database:
    """Open (creating 0600 if absent), set pragmas, check integrity, migrate.

    Raises:
        JournalCorrupt: the file fails ``quick_check`` or is not a database.
        JournalError: it cannot be opened at all.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if not p.exists():
        # create the file ourselves so it is 0600 from its first byte, whatever the umask
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
        fsync_dir(p.parent)
    os.chmod(p, 0o600)
    try:
        conn = sqlite3.connect(str(p), timeout=5.0, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open journal {p}: {exc}") from exc
    try:
        db = sqlite_utils.Database(conn)
        if db.journal_mode != "wal":
            db.enable_wal()
        for pragma in PRAGMAS:
            conn.execute(f"PRAGMA {pragma}")
        if check:
            result = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
            if result != ["ok"]:
                raise JournalCorrupt(f"quick_check failed for {p}: {'; '.join(result[:5])}")
        _migrate(db)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise JournalCorrupt(f"journal {p} is not a usable database: {exc}") from exc
    except JournalError:
        conn.close()
        raise
    for suffix in ("-wal", "-shm"):
        side = p.with_name(p.name + suffix)
        if side.exists():
            os.chmod(side, 0o600)
    return db


def _migrate(db: sqlite_utils.Database) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, sql in _migrations():
        if number <= version:
            continue
        with db.atomic():
            for statement in _split(sql):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        log.info("journal_migrated", version=number)


def _split(sql: str) -> list[str]:
    """Statements of a migration file; a trigger's body keeps its inner semicolons."""
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    out, buf = [], ""
    for piece in "\n".join(lines).split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n;"):
                out.append(buf.strip())
            buf = ""
    rest = "\n".join(ln.split("--", 1)[0] for ln in buf.splitlines())
    if rest.strip(" \n;"):
        raise ValueError(f"incomplete statement at the end of a migration: {buf.strip()[:80]}")
    return out


class JournalDb:
    """The open journal: one connection, the lock that guards it, the group committer and the
    checkpoint thread. Package-private: the journal's parts share it; nothing outside
    agent/journal/ sees it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock = threading.RLock()
        self.sdb = open_db(self.path)
        self.conn = self.sdb.conn
        self.checkpointer = Checkpointer(self.path)
        self.conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")  # the thread checkpoints
        #: every durable record goes through it: concurrent writers share one commit (one fsync)
        self.committer = GroupCommitter(self.conn, self.lock, on_commit=self.checkpointer.committed)
        self.closed = False

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One transaction (a savepoint inside an open one) under the lock."""
        with self.lock, self.sdb.atomic():
            yield

    @contextmanager
    def relaxed(self) -> Iterator[None]:
        """Commits inside skip the fsync (``synchronous=NORMAL``; the WAL stays consistent).

        Only for writes that are safe to lose in a power cut because they are redone:
        delivery state (a lost "settled" means one redelivery, deduplicated by id), attempt
        counts, heartbeats, health samples. Creating a record is always ``FULL``, and the next
        FULL commit makes everything before it durable too.
        """
        with self.lock:
            self.conn.execute("PRAGMA synchronous=NORMAL")
            try:
                yield
            finally:
                self.conn.execute("PRAGMA synchronous=FULL")
                self.checkpointer.committed()

    def responsive(self, timeout_s: float) -> bool:
        """Whether the lock can be taken within ``timeout_s``."""
        if not self.lock.acquire(timeout=timeout_s):
            return False
        self.lock.release()
        return True

    def close(self) -> None:
        """Stop the checkpoint thread, checkpoint the WAL away and close (idempotent)."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.checkpointer.stop()
            try:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self.conn.close()

    def abandon(self) -> None:
        """Drop the connection as a kill -9 leaves it: the checkpoint thread stops, nothing more is
        written or checkpointed by the journal (SQLite's close of the last connection may still
        fold the WAL in, as the kernel closing a killed process's file would not; what matters to
        crash tests is that nothing of a clean stop is saved)."""
        with self.lock:
            if not self.closed:
                self.closed = True
                self.checkpointer.stop()
                self.conn.close()
