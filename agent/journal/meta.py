"""The ``meta`` table: small named values the journal keeps between runs (the journal clock's
last reading, the last heartbeat, the legacy seal kid, a recovery alarm)."""

from __future__ import annotations

from collections.abc import Iterable

from agent.journal.db import JournalDb

_UPSERT = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"


def get(db: JournalDb, key: str) -> str | None:
    with db.lock:
        row = db.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def put(db: JournalDb, items: Iterable[tuple[str, str]]) -> None:
    """Set these keys in one relaxed commit (meta values are redone if a power cut loses them)."""
    with db.relaxed(), db.atomic():
        db.conn.executemany(_UPSERT, list(items))


def delete(db: JournalDb, key: str) -> bool:
    """Forget one key; whether it was there."""
    with db.atomic():
        cur = db.conn.execute("DELETE FROM meta WHERE key = ?", (key,))
    return cur.rowcount > 0
