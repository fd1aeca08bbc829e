"""The journal: the agent's single source of truth, in SQLite.

Everything outside this package uses the names below; nothing outside it writes SQL or touches
the connection or the lock."""

from agent.journal.db import JournalCorrupt, JournalError, StorageFull
from agent.journal.salvage import salvage
from agent.journal.store import Journal, OutboxRecord, SubmitOutcome, iso

__all__ = ["Journal", "JournalCorrupt", "JournalError", "OutboxRecord", "StorageFull", "SubmitOutcome", "iso",
           "salvage"]
