"""The journal: the agent's single source of truth, in SQLite."""

from agent.journal.db import JournalCorrupt, JournalError, StorageFull
from agent.journal.store import Journal, OutboxRecord, SubmitOutcome

__all__ = ["Journal", "JournalCorrupt", "JournalError", "OutboxRecord", "StorageFull", "SubmitOutcome"]
