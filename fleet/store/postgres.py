"""PostgreSQL for scale: psycopg 3, multi-row INSERT .. ON CONFLICT DO NOTHING, monthly partitions.

Several ingest processes write concurrently; each batch is one transaction. Month partitions of
``transactions`` and ``events`` are created on demand before a batch (under an advisory lock, so two
consumers meeting a new month do not race on the catalog).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
import structlog

from fleet import timeutil
from fleet.records import Event, Parsed, Txn
from fleet.store.base import Store

log = structlog.get_logger(__name__)
PARTITIONED = {"transactions": Txn, "events": Event}
_LOCK_KEY = 0x6B696F736B  # "kiosk": serialises DDL between consumers


class PostgresStore(Store):
    ph = "%s"
    dialect = "postgres"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.conn = psycopg.connect(url, autocommit=True)
        self._months: set[tuple[str, str]] = set()
        self.conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                          "applied TIMESTAMPTZ NOT NULL DEFAULT now())")

    def reconnect(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass
        try:
            self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            log.warning("store_reconnect_failed", error=str(exc))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield

    def applied_versions(self) -> set[int]:
        return {r[0] for r in self.conn.execute("SELECT version FROM schema_migrations")}

    def _apply_script(self, version: int, script: str) -> None:
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            if version in self.applied_versions():  # another process got there first
                return
            self.conn.execute(script.encode())
            self.conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))

    def ensure_month(self, table: str, month: str) -> None:
        if (table, month) in self._months:
            return
        start, end = timeutil.month_bounds(month)
        name = f"{table}_y{start:%Y}m{start:%m}"
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
                              f"FOR VALUES FROM ('{timeutil.iso(start)}') TO ('{timeutil.iso(end)}')")
        self._months.add((table, month))

    def prepare_batch(self, items: Sequence[Parsed]) -> None:
        for it in items:
            for table, kind in PARTITIONED.items():
                if isinstance(it, kind):
                    self.ensure_month(table, timeutil.month_of(it.ts))

    def partitions(self) -> list[str]:
        rows = self.conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                 "ORDER BY 1").fetchall()
        return [r[0] for r in rows]


__all__ = ["PostgresStore"]
