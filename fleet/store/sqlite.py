"""The embedded default: one SQLite file in WAL mode (one process; one writer at a time)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fleet.store.base import Store


class SqliteStore(Store):
    ph = "?"
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit off by hand: transactions are explicit (BEGIN IMMEDIATE), one per batch
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")  # a committed batch survives a power cut before we ack
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied TEXT)")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.conn.in_transaction:  # nested: the outer one commits
            yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def applied_versions(self) -> set[int]:
        return {r[0] for r in self.conn.execute("SELECT version FROM schema_migrations")}

    def _apply_script(self, version: int, script: str) -> None:
        # executescript commits first; the script and its version row go in one transaction
        self.conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nINSERT INTO schema_migrations VALUES "
                                f"({int(version)}, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));\nCOMMIT;")
