"""Opening the journal: file mode, pragmas on every open, integrity check, migrations.

Durability rests on WAL + ``synchronous=FULL`` (every commit fsyncs the WAL) on storage that
honours flush; see docs/durability.md.
"""

from __future__ import annotations

import os
import sqlite3
from importlib import resources
from pathlib import Path

import sqlite_utils
import structlog

from agent.runtime.durable import fsync_dir

log = structlog.get_logger(__name__)

PRAGMAS = (
    "synchronous=FULL",
    "foreign_keys=ON",
    "secure_delete=ON",          # pruned rows are overwritten, not left in free pages
    "journal_size_limit=8388608",
    "busy_timeout=5000",
)


class JournalError(Exception):
    """The journal cannot be used."""


class JournalCorrupt(JournalError):
    """``quick_check`` failed (or the file is not a database)."""


class StorageFull(JournalError):
    """No room for a new record (disk below the floor, SQLITE_FULL, or max_pending)."""


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
