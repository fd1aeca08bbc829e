"""The journal's exceptions (what callers outside the package catch)."""

from __future__ import annotations


class JournalError(Exception):
    """The journal cannot be used."""


class JournalCorrupt(JournalError):
    """``quick_check`` failed (or the file is not a database)."""


class StorageFull(JournalError):
    """No room for a new record (disk below the floor, SQLITE_FULL, or max_pending)."""
