"""The fleet's stores: SQLite (default, embedded) and PostgreSQL (scale-out), one interface."""

from __future__ import annotations

from fleet.store.base import BatchResult, Store


def open_store(url: str) -> Store:
    if url.startswith("sqlite:///"):
        from fleet.store.sqlite import SqliteStore
        return SqliteStore(url.removeprefix("sqlite://"))
    if url.startswith(("postgresql://", "postgres://")):
        from fleet.store.postgres import PostgresStore
        return PostgresStore(url)
    raise ValueError(f"unsupported store url {url!r}: sqlite:///PATH or postgresql://...")


__all__ = ["BatchResult", "Store", "open_store"]
